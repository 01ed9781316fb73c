"""pretrain.py: the loss, a tiny run, DDP under torchrun, exact resume, overfitting, NaN handling."""
import math
import os
import subprocess
import sys

import pytest
import torch

import pretrain
from common import read_log
from model import GPT, GPTConfig, load_checkpoint, load_model

TINY_ARGS = ["--n_layer", "2", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--batch_size", "4",
             "--eval_iters", "2", "--log_interval", "1", "--sample_tokens", "8", "--warmup", "2"]


def _args(world, out, *extra):
    return ["--data_dir", str(world), "--out_dir", str(out)] + TINY_ARGS + list(extra)


def test_causal_lm_loss_hand_case_and_ignore_index():
    logits = torch.zeros(1, 2, 4)
    logits[0, 0, 1] = math.log(3.0)  # position 0: p(token 1) = 3/6
    targets = torch.tensor([[1, -1]])  # position 1 ignored
    assert pretrain.causal_lm_loss(logits, targets).item() == pytest.approx(-math.log(0.5))
    targets = torch.tensor([[1, 2]])  # position 1: uniform, p = 1/4
    expected = (-math.log(0.5) - math.log(0.25)) / 2
    assert pretrain.causal_lm_loss(logits, targets).item() == pytest.approx(expected)


def test_loss_at_init_is_close_to_ln_vocab():
    torch.manual_seed(0)
    V = 500
    m = GPT(GPTConfig(block_size=32, vocab_size=V, n_layer=2, n_head=2, n_embd=32))
    x = torch.randint(0, V, (8, 32))
    y = torch.randint(0, V, (8, 32))
    assert abs(pretrain.causal_lm_loss(m(x), y).item() - math.log(V)) < 0.1


def test_overfitting_one_batch_drives_the_loss_to_zero():
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32))
    x = torch.randint(0, 50, (4, 17))
    opt = m.configure_optimizer(0.0, 3e-3)
    for _ in range(200):
        loss = pretrain.causal_lm_loss(m(x[:, :-1]), x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_tiny_run_writes_a_loadable_checkpoint(tiny_world, tmp_path):
    metrics = pretrain.main(_args(tiny_world, tmp_path, "--max_iters", "6", "--eval_interval", "3"))
    model, ckpt = load_model(tmp_path, expected_stage="pretrain")
    assert ckpt["step"] == 6 and isinstance(model, GPT) and ckpt["train_config"]["max_iters"] == 6
    assert math.isfinite(metrics["val_loss"]) and (tmp_path / "loss.png").exists()
    assert [r["step"] for r in read_log(tmp_path / "log.jsonl") if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_resume_reproduces_the_uninterrupted_run(tiny_world, tmp_path):
    straight = tmp_path / "straight"
    split = tmp_path / "split"
    pretrain.main(_args(tiny_world, straight, "--max_iters", "8", "--eval_interval", "4"))
    pretrain.main(_args(tiny_world, split, "--max_iters", "8", "--eval_interval", "4", "--stop_at", "4"))
    assert load_checkpoint(split)["step"] == 4
    pretrain.main(_args(tiny_world, split, "--max_iters", "8", "--eval_interval", "4", "--resume"))
    a = [r["loss"] for r in read_log(straight / "log.jsonl") if "loss" in r]
    b = [r["loss"] for r in read_log(split / "log.jsonl") if "loss" in r]
    assert len(a) == len(b) == 8
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-6
    sa, sb = load_checkpoint(straight)["model"], load_checkpoint(split)["model"]
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_world, tmp_path, monkeypatch):
    pretrain.main(_args(tiny_world, tmp_path, "--max_iters", "2", "--eval_interval", "2"))
    good = (tmp_path / "ckpt.pt").read_bytes()
    real_loss = pretrain.causal_lm_loss
    monkeypatch.setattr(pretrain, "causal_lm_loss", lambda logits, targets: real_loss(logits, targets) * float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan at step 1.*last good checkpoint"):
        pretrain.main(_args(tiny_world, tmp_path, "--max_iters", "4", "--eval_interval", "2"))
    assert (tmp_path / "ckpt.pt").read_bytes() == good


def test_torchrun_two_processes_with_gloo(tiny_world, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "pretrain.py",
           *_args(tiny_world, tmp_path, "--max_iters", "3", "--eval_interval", "3", "--device", "cpu")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 process(es)" in res.stdout
    model, ckpt = load_model(tmp_path, expected_stage="pretrain")
    assert ckpt["step"] == 3
