"""pretrain.py: the loss, bits per byte, a tiny run, your own text (prepare + pretrain), presets, DDP under
torchrun, exact resume, overfitting, NaN, GPT-2 init."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tiktoken
import torch

import pretrain
from checkpoint import load_checkpoint, save_checkpoint
from logger import read_log
from model import GPT, GPTConfig, load_model
from tokenizer import GPT2_PATTERN, get_tokenizer, token_byte_lengths

TINY_ARGS = ["--n_layer", "2", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--batch_size", "4",
             "--eval_iters", "2", "--log_interval", "1", "--sample_tokens", "8", "--warmup", "2"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy CPU two threads wait on each other
    (measured here: 100 tiny steps took 0.6 s on one thread, 13 s on two while other jobs ran)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _args(world, out, *extra):
    return ["--data_dir", str(world), "--out_dir", str(out)] + TINY_ARGS + list(extra)


def test_causal_lm_loss_hand_case_and_ignore_index():
    logits = torch.zeros(1, 2, 4)
    logits[0, 0, 1] = math.log(3.0)  # position 0: p(token 1) = 3 / (3 + 1 + 1 + 1) = 1/2
    targets = torch.tensor([[1, -1]])  # position 1 ignored
    assert pretrain.causal_lm_loss(logits, targets).item() == pytest.approx(-math.log(0.5))
    targets = torch.tensor([[1, 2]])  # position 1: uniform, p = 1/4
    expected = (-math.log(0.5) - math.log(0.25)) / 2
    assert pretrain.causal_lm_loss(logits, targets).item() == pytest.approx(expected)


def test_causal_lm_loss_is_the_mean_over_unignored_positions_of_a_brute_force_loop():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7)
    targets = torch.randint(0, 7, (3, 5))
    targets[0, 2] = targets[2, 4] = -1
    terms = [-torch.log(torch.exp(logits[b, t, targets[b, t]]) / torch.exp(logits[b, t]).sum())
             for b in range(3) for t in range(5) if targets[b, t] != -1]
    assert len(terms) == 13
    assert pretrain.causal_lm_loss(logits, targets).item() == pytest.approx(sum(terms).item() / 13, abs=1e-6)
    logits2 = logits.clone()
    logits2[0, 2] += 100 * torch.randn(7)  # what the model says at an ignored position does not matter
    loss, loss2 = pretrain.causal_lm_loss(logits, targets), pretrain.causal_lm_loss(logits2, targets)
    assert loss2.item() == pytest.approx(loss.item())


def test_bits_per_byte_of_a_uniform_model_over_bytes_is_log2_of_the_vocabulary():
    # a byte-level vocabulary with no merges: every ordinary token is one byte. A uniform model pays ln V nats
    # per prediction, so log2(V) bits per byte, if and only if the <|endoftext|> targets are left out
    enc = tiktoken.Encoding("bytes", pat_str=GPT2_PATTERN, mergeable_ranks={bytes([b]): b for b in range(256)},
                            special_tokens={"<|endoftext|>": 256})
    V = enc.n_vocab
    ids = torch.tensor([enc.encode("<|endoftext|>naïve 東京<|endoftext|>ok", allowed_special="all")])  # (1, T+1)
    y = ids[:, 1:]
    assert (y == 256).sum() == 1  # one special target, which must not count
    losses = pretrain.causal_lm_loss(torch.zeros(1, y.shape[1], V), y, reduction="none")  # (1, T), ln V each
    assert losses.shape == y.shape and torch.allclose(losses, torch.full_like(losses, math.log(V)))
    table = torch.tensor(token_byte_lengths(enc))
    assert pretrain.bits_per_byte(losses, y, table) == pytest.approx(math.log2(V))


def test_bits_per_byte_hand_case_with_multi_byte_tokens_a_special_token_and_an_ignored_target():
    table = torch.tensor([1, 2, 3, 0])  # bytes of tokens 0..3; token 3 is a special token
    targets = torch.tensor([[0, 1, 3], [2, -1, 1]])
    losses = torch.tensor([[0.7, 1.4, 5.0], [2.1, 9.0, 0.0]])
    # counted: 0.7 nats for 1 byte, 1.4 for 2, 2.1 for 3, 0.0 for 2; the special token's 5.0 and the -1's 9.0 are not
    expected = (0.7 + 1.4 + 2.1 + 0.0) / (math.log(2) * (1 + 2 + 3 + 2))
    assert pretrain.bits_per_byte(losses, targets, table) == pytest.approx(expected)
    # the mean loss ignores the -1 target as bits per byte does
    logits = torch.randn(2, 3, 4)
    per_token = pretrain.causal_lm_loss(logits, targets, reduction="none")
    assert per_token[1, 1] == 0
    assert per_token.sum() / 5 == pytest.approx(pretrain.causal_lm_loss(logits, targets).item())


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


def test_batches_are_windows_of_the_token_file_with_targets_shifted_by_one():
    import numpy as np
    tokens = np.arange(1000, dtype=np.uint16) * 7 % 997  # every window is recognisable by its first token
    x, y = pretrain.get_batch(tokens, 16, 5, torch.Generator().manual_seed(0), "cpu")
    assert x.shape == y.shape == (5, 16) and x.dtype == torch.long
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        start = next(i for i in range(len(tokens) - 16) if tokens[i: i + 16].tolist() == row_x)
        assert row_y == tokens[start + 1: start + 17].tolist()  # y[t] is the token after x[t]
    again, _ = pretrain.get_batch(tokens, 16, 5, torch.Generator().manual_seed(0), "cpu")
    assert torch.equal(x, again)  # the generator's seed decides the windows


def test_step_seeds_differ_for_every_step_micro_batch_and_rank():
    seeds = {pretrain.step_seed(1337, step, micro, grad_accum=2, world_size=3, rank=rank)
             for step in range(10) for micro in range(2) for rank in range(3)}
    assert len(seeds) == 10 * 2 * 3


def test_tokens_of_another_tokenizer_are_refused(tiny_world, tiny_enc):
    from tokenizer import get_tokenizer
    assert set(pretrain.load_tokens(tiny_world, tiny_enc, 32)) == {"train", "val"}
    with pytest.raises(ValueError, match="tokenizer"):
        pretrain.load_tokens(tiny_world, get_tokenizer("gpt2"), 32)
    with pytest.raises(ValueError, match="fewer than block_size"):
        pretrain.load_tokens(tiny_world, tiny_enc, 10 ** 9)


def test_tiny_run_writes_a_loadable_checkpoint(tiny_world, tiny_enc, tmp_path):
    metrics = pretrain.main(_args(tiny_world, tmp_path, "--max_iters", "6", "--eval_interval", "3"))
    model, ckpt = load_model(tmp_path, expected_stage="pretrain")
    assert ckpt["step"] == 6 and isinstance(model, GPT) and ckpt["train_config"]["max_iters"] == 6
    assert ckpt["tokenizer"] == tiny_enc.name and ckpt["optimizer"] is not None
    assert math.isfinite(metrics["val_loss"]) and math.isfinite(metrics["val_bpb"]) and (tmp_path / "loss.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["val_loss"] == metrics["val_loss"]
    log = read_log(tmp_path / "log.jsonl")
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]
    step0 = next(r for r in log if r["step"] == 0)  # the real model on real text, before any update
    assert abs(step0["val_loss"] - math.log(tiny_enc.n_vocab)) < 0.2


def own_text(n_docs=40):
    """A few KB of text with documents (blank lines between them), Unicode included."""
    lines = ["To be, or not to be: that is the question.", "Naïve café owners sing in Zürich.",
             "東京 is far, 🎉 is a party.", "Whether 'tis nobler in the mind to suffer", "The slings and arrows."]
    return "\n\n".join("\n".join(lines[(i + k) % len(lines)] for k in range(3)) for i in range(n_docs)) + "\n"


def test_own_text_prepare_with_a_trained_bpe_then_pretrain_reports_bits_per_byte(tmp_path):
    from data.prepare import main as prepare_main
    from tokenizer import SPECIAL_TOKENS
    (tmp_path / "own.txt").write_text(own_text(), encoding="utf-8")
    data = tmp_path / "data"
    meta = prepare_main(["--input", str(tmp_path / "own.txt"), "--tokenizer", "bpe:300", "--out", str(data),
                         "--val-frac", "0.2"])
    assert (data / "tokenizer.bpe").exists() and meta["vocab_size"] == 300 + len(SPECIAL_TOKENS)
    metrics = pretrain.main(["--data_dir", str(data), "--out_dir", str(tmp_path / "out")] + TINY_ARGS
                            + ["--max_iters", "4", "--eval_interval", "4"])
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert math.isfinite(saved["val_bpb"]) and saved["val_bpb"] > 0 and math.isfinite(saved["train_bpb"])
    assert saved["val_bpb"] == metrics["val_bpb"] and saved["tokenizer"] == meta["tokenizer"]
    # before training every prediction costs about ln V nats: bits per byte is then about that over ln 2, spread
    # over the bytes of an average ordinary token of the validation text
    enc = get_tokenizer(str(data / "tokenizer.bpe"))
    val = [t for t in np.fromfile(data / "val.bin", dtype=np.uint16).tolist() if t < 300]
    bytes_per_token = len(enc.decode_bytes(val)) / len(val)
    step0 = next(r for r in read_log(tmp_path / "out" / "log.jsonl") if r["step"] == 0)
    expected = step0["val_loss"] / math.log(2) / bytes_per_token
    assert abs(step0["val_bpb"] - expected) < 0.25 * expected


def test_presets_put_their_options_before_the_users(tmp_path):
    cfg, ckpt = pretrain.resolve_config(["--preset", "gpu", "--n_layer", "2"])
    assert ckpt is None and cfg.n_layer == 2 and cfg.n_embd == 384 and cfg.block_size == 256
    with pytest.raises(ValueError, match="--preset 'nope'"):
        pretrain.resolve_config(["--preset", "nope"])


def test_init_from_a_checkpoint_of_another_tokenizer_is_refused(tiny_world, tiny_enc, tmp_path):
    other = GPT(GPTConfig(block_size=32, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=1, n_embd=16))
    save_checkpoint(tmp_path / "other", other, stage="pretrain", tokenizer="bpe-000000000000")
    with pytest.raises(ValueError, match="bpe-000000000000"):
        pretrain.main(_args(tiny_world, tmp_path / "out", "--init", str(tmp_path / "other"), "--max_iters", "1"))


def test_resume_reproduces_the_uninterrupted_run(tiny_world, tmp_path):
    straight = tmp_path / "straight"
    split = tmp_path / "split"
    extra = ["--max_iters", "8", "--eval_interval", "4", "--dropout", "0.1", "--grad_accum", "2"]
    pretrain.main(_args(tiny_world, straight, *extra))
    pretrain.main(_args(tiny_world, split, *extra, "--stop_at", "4"))
    assert load_checkpoint(split)["step"] == 4
    with open(split / "log.jsonl", "a") as f:  # as if killed after logging step 5 but before its checkpoint
        f.write(json.dumps({"step": 5, "loss": 123.0}) + "\n")
    pretrain.main(["--out_dir", str(split), "--resume"])  # everything else comes from the checkpoint
    a = [r["loss"] for r in read_log(straight / "log.jsonl") if "loss" in r]
    b = [r["loss"] for r in read_log(split / "log.jsonl") if "loss" in r]
    assert len(a) == len(b) == 8
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-6
    sa, sb = load_checkpoint(straight)["model"], load_checkpoint(split)["model"]
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_world, tmp_path, monkeypatch):
    pretrain.main(_args(tiny_world, tmp_path, "--max_iters", "4", "--eval_interval", "2", "--stop_at", "2"))
    good = (tmp_path / "ckpt.pt").read_bytes()
    real_loss = pretrain.causal_lm_loss
    monkeypatch.setattr(pretrain, "causal_lm_loss",
                        lambda logits, targets, **kw: real_loss(logits, targets, **kw) * float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan at step 3.*last good checkpoint .*ckpt.pt"):
        pretrain.main(["--out_dir", str(tmp_path), "--resume", "--stop_at", "4"])
    assert (tmp_path / "ckpt.pt").read_bytes() == good


def _torchrun(world, out, *extra):
    """pretrain.py under torchrun, two CPU processes with the gloo backend, as a subprocess (not yet waited for)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "pretrain.py",
           *_args(world, out, "--device", "cpu", *extra)]
    return subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _logged_steps(out):
    path = out / "log.jsonl"
    return [r["step"] for r in read_log(path) if "loss" in r] if path.exists() else []


def test_torchrun_two_processes_with_gloo_leave_together(tiny_world, tmp_path):
    # Rank 0 alone evaluates, samples and saves at the end while rank 1 has nothing left to do. A rank that tears
    # the gloo group down while the other still works can abort the other ("terminate called without an active
    # exception"), rarely and depending on timing, so the job runs several times, and in the last runs rank 0's
    # final evaluation is made long (many eval batches, long samples) so that rank 1 reaches the end well first.
    runs = [("--eval_iters", "2"), ("--eval_iters", "2"), ("--eval_iters", "60", "--sample_tokens", "30")]
    for i, extra in enumerate(runs):
        out = tmp_path / f"run{i}"
        proc = _torchrun(tiny_world, out, "--max_iters", "3", "--eval_interval", "3", "--grad_accum", "2", *extra)
        stdout, stderr = proc.communicate(timeout=300)  # 2 micro-batches: the first skips the all-reduce (no_sync)
        assert proc.returncode == 0, stderr[-3000:]
        assert "terminate called" not in stderr and "2 process(es)" in stdout
        model, ckpt = load_model(out, expected_stage="pretrain")
        assert ckpt["step"] == 3 and ckpt["train_config"]["grad_accum"] == 2
        assert _logged_steps(out) == [1, 2, 3]  # rank 0 logs alone


def _interrupt_when_logged(proc, out, n_steps, sig=signal.SIGINT, timeout=120):
    """Wait until the run has logged n_steps training steps, then send it `sig`; -> (stdout, stderr)."""
    deadline = time.time() + timeout
    while len(_logged_steps(out)) < n_steps:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "the run logged too few steps"
        time.sleep(0.05)
    proc.send_signal(sig)
    return proc.communicate(timeout=120)


def test_torchrun_interrupted_every_rank_stops_at_one_step_and_the_checkpoint_resumes(tiny_world, tmp_path):
    out = tmp_path / "run"
    proc = _torchrun(tiny_world, out, "--max_iters", "100000", "--eval_interval", "100000", "--warmup", "1")
    stdout, stderr = _interrupt_when_logged(proc, out, 4)  # Ctrl-C to torchrun, which passes it to both ranks
    assert proc.returncode != 0  # torchrun reports the signal
    assert "terminate called" not in stderr and "Traceback" not in stdout
    assert "interrupted (SIGINT)" in stdout
    step = load_checkpoint(out)["step"]
    assert step == _logged_steps(out)[-1] >= 4  # saved after the last complete (logged) step
    pretrain.main(["--out_dir", str(out), "--resume", "--stop_at", str(step + 2)])
    assert load_checkpoint(out)["step"] == step + 2


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_a_checkpoint_that_resumes_exactly(tiny_world, tmp_path, sig):
    extra = ["--max_iters", "30", "--eval_interval", "10", "--dropout", "0.1"]
    pretrain.main(_args(tiny_world, tmp_path / "straight", *extra))
    out = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "pretrain.py", *_args(tiny_world, out, *extra)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stdout, stderr = _interrupt_when_logged(proc, out, 3, sig)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert f"interrupted ({sig.name}) after step" in stdout
    step = load_checkpoint(out)["step"]
    assert step == _logged_steps(out)[-1] and step < 30
    pretrain.main(["--out_dir", str(out), "--resume"])
    a, b = load_checkpoint(tmp_path / "straight")["model"], load_checkpoint(out)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_local_gpt2_weights_on_text_prepared_with_gpt2(tmp_path):
    transformers = pytest.importorskip("transformers")
    from data.prepare import prepare_text
    from tokenizer import get_tokenizer
    enc = get_tokenizer("gpt2")
    text = "\n\n".join(f"Paragraph {i}: the quick brown fox jumps over the lazy dog {i} times." for i in range(60))
    prepare_text(text, enc, tmp_path / "data", val_frac=0.2)
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=16,
                                                              n_layer=1, n_head=2))
    hf.save_pretrained(tmp_path / "hf")
    pretrain.main(["--data_dir", str(tmp_path / "data"), "--out_dir", str(tmp_path / "out"), "--init",
                   f"gpt2:{tmp_path / 'hf'}", "--block_size", "16", "--batch_size", "2", "--max_iters", "2",
                   "--lr", "0", "--min_lr", "0", "--eval_iters", "1", "--sample_tokens", "4"])
    ckpt = load_checkpoint(tmp_path / "out", expected_stage="pretrain")
    assert ckpt["tokenizer"] == "gpt2" and ckpt["config"]["vocab_size"] == enc.n_vocab  # grown for chat tokens
    wte = hf.transformer.wte.weight.detach()
    assert torch.equal(ckpt["model"]["transformer.wte.weight"][:50257], wte)  # lr 0: still GPT-2's weights
