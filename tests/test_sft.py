"""sft.py: the masked loss (prompt tokens never count), accumulation = big batch, a tiny end-to-end run."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

import sft
from model import GPT, GPTConfig, load_model, pad_batch
from tokenizer import render_conversation


def _batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, requires_grad=True)
    targets = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]])
    return logits, targets, mask


def test_loss_equals_hand_computation_over_assistant_tokens():
    logits, targets, mask = _batch()
    expected = torch.stack([F.cross_entropy(logits[b, t], targets[b, t]) for b in range(2) for t in range(5)
                            if mask[b, t]]).mean()  # every assistant token of the batch weighs the same
    assert torch.allclose(sft.sft_loss(logits, targets, mask), expected)


def test_prompt_tokens_never_change_the_loss_but_assistant_tokens_do():
    logits, targets, mask = _batch()
    base = sft.sft_loss(logits, targets, mask)
    t2, l2 = targets.clone(), logits.detach().clone()
    t2[mask == 0] = (t2[mask == 0] + 1) % 7  # other prompt targets ...
    l2[mask == 0] = torch.randn_like(l2[mask == 0])  # ... and other logits at prompt positions
    assert torch.equal(sft.sft_loss(l2, t2, mask), base.detach())
    t3 = targets.clone()
    t3[0, 3] = (t3[0, 3] + 1) % 7  # one assistant token changed
    assert not torch.allclose(sft.sft_loss(logits, t3, mask), base)
    base.backward()
    assert (logits.grad[mask == 0] == 0).all() and (logits.grad[mask == 1] != 0).any()


def test_no_assistant_token_gives_zero_not_nan():
    logits, targets, _ = _batch()
    loss = sft.sft_loss(logits, targets, torch.zeros_like(targets))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


def test_gradient_accumulation_equals_one_big_batch(tiny_enc):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=2, n_embd=16))
    convs = [[{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5."}],
             [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help you today?"}],
             [{"role": "user", "content": "Tell me a story about Mia."},
              {"role": "assistant", "content": "Once upon a time, Mia went to the lake with her cat. The end."}]]
    rendered = [render_conversation(tiny_enc, c) for c in convs]

    def tensors(examples):
        ids, attn = pad_batch([e[0] for e in examples])
        mask, _ = pad_batch([e[1] for e in examples])
        return ids[:, :-1], ids[:, 1:], mask[:, 1:], attn[:, :-1]

    def grads(micro_batches):
        model.zero_grad()
        n = sum(int(tensors(mb)[2].sum()) for mb in micro_batches)
        for mb in micro_batches:
            x, y, m, attn = tensors(mb)
            sft.sft_loss(model(x, attention_mask=attn), y, m, normalizer=n).backward()
        return [p.grad.clone() for p in model.parameters()]

    big = grads([rendered])
    small = grads([rendered[:1], rendered[1:]])  # micro-batches with different numbers of assistant tokens
    for a, b in zip(big, small):
        assert torch.allclose(a, b, atol=1e-6)
    # a micro-batch without any assistant token (a user turn alone) adds nothing, and no NaN
    user_only = render_conversation(tiny_enc, [{"role": "user", "content": "Hello there, how are you?"}])
    assert sum(user_only[1]) == 0
    with_empty = grads([rendered[:2], [user_only], rendered[2:]])
    for a, b in zip(big, with_empty):
        assert torch.allclose(a, b, atol=1e-6)
    # per-sequence means would differ here (the three replies have different lengths): the test can fail
    model.zero_grad()
    per_seq = 0.0
    for r in rendered:
        x, y, m, attn = tensors([r])
        per_seq = per_seq + sft.sft_loss(model(x, attention_mask=attn), y, m)
    (per_seq / 3).backward()
    assert not all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(big, model.parameters()))


def test_sft_batch_shifts_targets_and_mask(tiny_enc):
    convs = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
             [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5."}]]
    rendered = [render_conversation(tiny_enc, c) for c in convs]
    x, y, m, n = sft.sft_batch(rendered, "cpu")
    assert x.shape == y.shape == m.shape == (2, max(len(ids) for ids, _ in rendered) - 1)
    assert n == sum(len(ids) - 1 for ids, _ in rendered)  # real input tokens, padding not counted
    for i, (ids, mask) in enumerate(rendered):
        k = len(ids) - 1
        assert x[i, :k].tolist() == ids[:-1] and y[i, :k].tolist() == ids[1:]  # y[t] is the token after x[t]
        assert m[i, :k].tolist() == mask[1:] and (m[i, k:] == 0).all()  # the mask of the targets; none on padding


def test_validation_loss_weighs_every_assistant_token_the_same(tiny_enc):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=2, n_embd=16)).train()
    convs = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How are you today?"}],
             [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5."}],
             [{"role": "user", "content": "Tell me a story."}, {"role": "assistant", "content": "Mia ran. The end."}]]
    rendered = [render_conversation(tiny_enc, c) for c in convs]
    ce, n = 0.0, 0  # brute force: every assistant token of every conversation, one conversation at a time
    for ids, mask in rendered:
        logp = torch.log_softmax(model.eval()(torch.tensor([ids[:-1]]))[0], -1)
        ce -= sum(logp[t, ids[t + 1]].item() for t in range(len(ids) - 1) if mask[t + 1])
        n += sum(mask[1:])
    model.train()
    for batch_size in (1, 2, 3):  # batches of different sizes and padding give the same number
        assert sft.validation_loss(model, rendered, batch_size, "cpu") == pytest.approx(ce / n, rel=1e-5)
    assert model.training  # evaluated without dropout, then back to training mode


def test_tiny_end_to_end_run(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
    metrics = sft.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "pretrain"), "--out_dir",
                        str(tmp_path), "--max_iters", "4", "--batch_size", "4", "--eval_interval", "2",
                        "--log_interval", "1", "--n_eval_prompts", "6", "--max_new_tokens", "8"])
    model, ckpt = load_model(tmp_path, expected_stage="sft")
    assert ckpt["step"] == 4 and ckpt["tokenizer"] == tiny_enc.name and ckpt["train_config"]["max_iters"] == 4
    assert math.isfinite(metrics["val_loss"]) and math.isfinite(metrics["base_val_loss"])
    assert metrics["val_loss"] == ckpt["extra"]["val_loss"]
    assert metrics["base"]["n"] == 6 and json.loads((tmp_path / "metrics.json").read_text())["sft"]["n"] == 6
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and {"prompt", "task", "base", "sft", "base_gold", "sft_gold"} <= set(samples[0])
    for name in ("base", "sft"):  # the summaries are those of the replies in samples.jsonl
        assert metrics[name]["format_compliance"] == sum(s[f"{name}_stop"] == "end" for s in samples) / 6
        assert metrics[name]["gold_mean"] == pytest.approx(sum(s[f"{name}_gold"] for s in samples) / 6)
    assert (tmp_path / "loss.png").exists()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 0 and log[0]["val_loss"] == metrics["base_val_loss"]  # the base model, before training
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]


def test_own_conversations_file_and_too_long_ones_dropped(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
    convs = [[{"role": "user", "content": f"What is {a} plus {b}?"}, {"role": "assistant", "content": f"{a + b}."}]
             for a in range(3) for b in range(3)]
    convs.append([{"role": "user", "content": "Tell me a long story."},
                  {"role": "assistant", "content": "Once upon a time, Mia walked to the lake. " * 40}])  # > 128 tokens
    train = tmp_path / "mine.jsonl"
    train.write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs))
    assert len(render_conversation(tiny_enc, convs[-1])[0]) > 129
    metrics = sft.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "pretrain"), "--out_dir",
                        str(tmp_path / "out"), "--train_file", str(train), "--eval_file", str(train),
                        "--max_iters", "2", "--batch_size", "4", "--n_eval_prompts", "0"])
    assert metrics["n_train"] == 9 and metrics["n_dropped"] == 1
    assert load_model(tmp_path / "out", expected_stage="sft")[1]["step"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": convs[0]}) + "\n" + '{"messages": [{"role": "robot", "content": "x"}]}\n')
    with pytest.raises(ValueError, match="bad.jsonl"):
        sft.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "pretrain"), "--out_dir",
                  str(tmp_path / "out2"), "--train_file", str(bad), "--max_iters", "1", "--n_eval_prompts", "0"])


def test_wrong_stage_is_a_clear_error(tiny_world, tiny_ckpts, tmp_path):
    from checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="'rm' checkpoint"):
        sft.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path)])
