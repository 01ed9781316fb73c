"""Tests of the shared helpers in common.py."""
import json
import math
from dataclasses import dataclass
from typing import Optional

import pytest
import torch

import common
from common import MetricsLogger, lr_at, opt, pad_batch, parse_config, plot_log, read_log


@dataclass
class _Cfg:
    """a test config"""
    lr: float = opt(1e-3, "learning rate")
    steps: int = opt(10, "number of steps")
    name: str = opt("x", "a name")
    compile: bool = opt(False, "use torch.compile")
    init: Optional[str] = opt(None, "a checkpoint")


def test_parse_config_types_and_defaults():
    cfg = parse_config(_Cfg, [])
    assert cfg == _Cfg()
    cfg = parse_config(_Cfg, ["--lr", "0.5", "--steps", "3", "--compile", "--init", "out/sft"])
    assert cfg.lr == 0.5 and cfg.steps == 3 and cfg.compile is True and cfg.init == "out/sft"
    assert parse_config(_Cfg, ["--no-compile"]).compile is False


def test_parse_config_rejects_typos(capsys):
    with pytest.raises(SystemExit):
        parse_config(_Cfg, ["--stpes", "3"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_parse_config_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        parse_config(_Cfg, ["--help"])
    out = capsys.readouterr().out
    for text in ["--lr", "learning rate", "--steps", "--compile", "--no-compile", "a checkpoint"]:
        assert text in out


def test_lr_schedule_shape():
    lrs = [lr_at(s, max_steps=100, lr=1.0, warmup=10, min_lr=0.1) for s in range(101)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))      # rises during warm-up
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))        # then only falls
    assert lrs[100] == pytest.approx(0.1)
    mid = 10 + 45  # half-way through the cosine: half-way between lr and min_lr
    assert lrs[mid] == pytest.approx(0.1 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 0.9)


@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_batch(side):
    seqs = [[5, 6, 7], [8], [9, 10]]
    ids, mask = pad_batch(seqs, pad_id=0, side=side)
    assert ids.shape == mask.shape == (3, 3)
    for row, s in zip(range(3), seqs):
        real = ids[row][mask[row].bool()].tolist()
        assert real == s
        assert (ids[row][~mask[row].bool()] == 0).all()
        if side == "left":
            assert mask[row, -1] == 1
        else:
            assert mask[row, 0] == 1
    with pytest.raises(ValueError):
        pad_batch(seqs, side="middle")


def test_metrics_logger_and_plot(tmp_path, capsys):
    log = MetricsLogger(tmp_path, "test")
    for step in range(3):
        log.log(step, loss=torch.tensor(1.0 / (step + 1)), lr=1e-3, ms=12.5)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.split(" | ")[:3] == ["test", "step 2", "loss 0.3333"]
    records = read_log(tmp_path / "log.jsonl")
    assert [r["step"] for r in records] == [0, 1, 2]
    assert records[1]["loss"] == pytest.approx(0.5)
    json.dumps(records)  # plain JSON types only
    plot_log(tmp_path / "log.jsonl", tmp_path / "curves.png", ["loss", ["lr", "ms"]])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    MetricsLogger(tmp_path, "test")  # a fresh run starts a fresh log
    assert not (tmp_path / "log.jsonl").exists()


def test_stop_request_turns_signals_into_a_request_and_restores_the_handlers():
    import os
    import signal

    from common import StopRequest
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert stop.requested is None
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to this (main) thread before kill returns
        assert stop.requested == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):  # a second signal: the user does not want to wait
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    with StopRequest(escalate=False) as stop:  # under torchrun: every signal stays a request
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested == "SIGINT"


@pytest.mark.parametrize("name,peak", [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA A100-SXM4-40GB", 312e12), ("NVIDIA GeForce RTX 4090", 165e12),
    ("NVIDIA GeForce RTX 4090 Laptop GPU", None), ("NVIDIA GeForce RTX 3080 Ti Laptop GPU", None),
    ("NVIDIA GeForce GTX 1650 with Max-Q Design", None), ("Some Future GPU", None),
])
def test_peak_flops_only_for_known_desktop_and_datacenter_gpus(monkeypatch, name, peak):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert common.peak_flops("cuda") == peak
    assert common.peak_flops("cpu") is None and common.peak_flops("mps") is None


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # this machine has no GPU: the context stays unused
@pytest.mark.parametrize("native_bf16", [True, False])
def test_autocast_uses_bf16_only_on_gpus_that_compute_in_it(monkeypatch, native_bf16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native_bf16)
    ctx = common.autocast("cuda:0")
    assert isinstance(ctx, torch.autocast) == native_bf16
    if native_bf16:
        assert ctx.fast_dtype == torch.bfloat16
    assert not isinstance(common.autocast("cpu"), torch.autocast)
    assert not isinstance(common.autocast("mps"), torch.autocast)
