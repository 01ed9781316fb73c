"""Tests of the shared helpers: config.py (the command line), training.py (the schedule), logger.py (logs and plots)."""
import copy
import json
import math
from dataclasses import dataclass
from typing import Optional

import pytest
import torch

import device
from config import opt, parse_config
from logger import MetricsLogger, plot_log, read_log
from training import clip_gradients, draw_batch, frozen, lr_at, save_run


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
    MetricsLogger(tmp_path, "test", resume_from=1)  # a resumed run forgets what came after its checkpoint
    assert [r["step"] for r in read_log(tmp_path / "log.jsonl")] == [0, 1]
    MetricsLogger(tmp_path, "test")  # a fresh run starts a fresh log
    assert read_log(tmp_path / "log.jsonl") == []


def test_draw_batch_is_a_function_of_its_seed():
    items = list(range(100))
    a, b, c = draw_batch(items, 50, seed=7), draw_batch(items, 50, seed=7), draw_batch(items, 50, seed=8)
    assert a == b and a != c and set(a) <= set(items)
    assert len(set(draw_batch(items[:3], 30, seed=0))) <= 3  # with replacement: more draws than items


def test_clip_gradients_zero_means_off():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])  # norm 5
    assert clip_gradients([p], 0).item() == pytest.approx(5.0) and p.grad.norm().item() == pytest.approx(5.0)
    assert clip_gradients([p], 1.0).item() == pytest.approx(5.0) and p.grad.norm().item() == pytest.approx(1.0)


def test_a_frozen_model_is_not_changed_by_training():
    torch.manual_seed(0)
    policy = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
    reference = frozen(copy.deepcopy(policy))
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    optimizer = torch.optim.SGD(list(policy.parameters()) + list(reference.parameters()), lr=1.0)
    x = torch.randn(8, 4)
    (policy(x) - reference(x)).pow(2).mean().add(policy(x).mean()).backward()
    optimizer.step()
    assert all(torch.equal(v, before[k]) for k, v in reference.state_dict().items())
    assert all(p.grad is None for p in reference.parameters()) and not reference.training
    assert torch.equal(reference(x), reference(x))  # eval mode: no dropout


def test_save_run_writes_checkpoint_metrics_and_plots(tmp_path, capsys):
    from checkpoint import load_checkpoint
    from model import GPT, GPTConfig
    log = MetricsLogger(tmp_path, "test", quiet=True)
    for step in range(3):
        log.log(step, loss=1.0 / (step + 1))
    model = GPT(GPTConfig(block_size=8, vocab_size=10, n_layer=1, n_head=1, n_embd=8))
    save_run(tmp_path, {"val_loss": 1.5}, [("loss.png", ["loss"], "t")], model=model, stage="sft", step=3)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"val_loss": 1.5}
    assert load_checkpoint(tmp_path, expected_stage="sft")["step"] == 3 and (tmp_path / "loss.png").exists()
    (tmp_path / "ckpt.pt").unlink()
    save_run(tmp_path, {"val_loss": 1.0})  # no model: metrics only
    assert not (tmp_path / "ckpt.pt").exists() and "metrics.json" in capsys.readouterr().out


def test_stop_request_turns_signals_into_a_request_and_restores_the_handlers():
    import os
    import signal

    from training import StopRequest
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
    assert device.peak_flops("cuda") == peak
    assert device.peak_flops("cpu") is None and device.peak_flops("mps") is None


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # this machine has no GPU: the context stays unused
@pytest.mark.parametrize("native_bf16", [True, False])
def test_autocast_uses_bf16_only_on_gpus_that_compute_in_it(monkeypatch, native_bf16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native_bf16)
    ctx = device.autocast("cuda:0")
    assert isinstance(ctx, torch.autocast) == native_bf16
    if native_bf16:
        assert ctx.fast_dtype == torch.bfloat16
    assert not isinstance(device.autocast("cpu"), torch.autocast)
    assert not isinstance(device.autocast("mps"), torch.autocast)
