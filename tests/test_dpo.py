"""dpo.py: the loss (ln 2 at the start, hand values, gradient direction), reply-only log-probs, a frozen reference,
pairs sampled from the SFT model and then from the policy, ordered by the labeller."""
import json
import math
import types

import pytest
import torch
import torch.nn.functional as F

import dpo
from checkpoint import load_checkpoint
from model import GPT, GPTConfig, load_model, pad_batch


def test_loss_is_ln2_when_policy_equals_reference():
    lp_c, lp_r = torch.tensor([-5.0, -12.0]), torch.tensor([-7.0, -3.0])
    for eps in (0.0, 0.2):
        loss, rc, rr = dpo.dpo_loss(lp_c, lp_r, lp_c.clone(), lp_r.clone(), beta=0.1, label_smoothing=eps)
        assert loss.item() == pytest.approx(math.log(2), abs=1e-7)
        assert (rc == 0).all() and (rr == 0).all()


def test_loss_matches_hand_computed_values():
    pc, pr, rc, rr = torch.tensor([-1.0]), torch.tensor([-4.0]), torch.tensor([-2.0]), torch.tensor([-3.0])
    h = (-1.0 + 2.0) - (-4.0 + 3.0)  # = 2
    beta = 0.5
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    loss, c, r = dpo.dpo_loss(pc, pr, rc, rr, beta)
    assert loss.item() == pytest.approx(-math.log(sig(beta * h)))
    assert c.item() == pytest.approx(beta * 1.0) and r.item() == pytest.approx(beta * -1.0)
    loss, _, _ = dpo.dpo_loss(pc, pr, rc, rr, beta, label_smoothing=0.1)
    assert loss.item() == pytest.approx(-0.9 * math.log(sig(beta * h)) - 0.1 * math.log(sig(-beta * h)))
    loss, _, _ = dpo.dpo_loss(pc, pr, rc, rr, beta, loss_type="ipo")
    assert loss.item() == pytest.approx((h - 1 / (2 * beta)) ** 2)


def test_gradient_pushes_chosen_up_and_rejected_down():
    pc = torch.tensor([-3.0], requires_grad=True)
    pr = torch.tensor([-3.0], requires_grad=True)
    loss, _, _ = dpo.dpo_loss(pc, pr, torch.tensor([-3.0]), torch.tensor([-3.0]), beta=0.1)
    loss.backward()
    assert pc.grad.item() < 0 < pr.grad.item()


@pytest.fixture
def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=64, vocab_size=50, n_layer=2, n_head=2, n_embd=32)).eval()


def test_sequence_logps_count_reply_tokens_only(tiny_gpt):
    seqs = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]]
    masks = [[0, 0, 0, 1, 1, 1], [0, 0, 1, 1]]  # reply = the last 3 / last 2 tokens
    ids, attn = pad_batch(seqs, side="right")
    mask, _ = pad_batch(masks, side="right")
    got = dpo.sequence_logps(tiny_gpt, ids, attn, mask)
    for i, (s, m) in enumerate(zip(seqs, masks)):  # brute force: one token at a time, from its own prefix
        expected = sum(F.log_softmax(tiny_gpt(torch.tensor([s[:t]]))[0, -1], -1)[s[t]].item()
                       for t in range(1, len(s)) if m[t])
        assert got[i].item() == pytest.approx(expected, abs=1e-5)
    ids2 = ids.clone()
    ids2[0, 1] = 33  # a different prompt token changes the context, not which tokens are counted ...
    ids2[1, 4:] = 44  # ... and other padding changes nothing at all
    again = dpo.sequence_logps(tiny_gpt, ids2, attn, mask)
    assert again[1].item() == pytest.approx(got[1].item(), abs=1e-6)
    avg = dpo.sequence_logps(tiny_gpt, ids, attn, mask, average=True)
    assert avg[0].item() == pytest.approx(got[0].item() / 3, abs=1e-6)


def test_sequence_logps_mask_is_the_shifted_reply_mask():
    """A stub model returns chosen per-position log-probs: values at prompt or padding positions must not count."""
    T = 7
    loss_mask = torch.tensor([[0, 0, 0, 1, 1, 1, 0],   # reply = tokens 3..5, token 6 is padding
                              [0, 0, 1, 1, 1, 1, 1]])  # reply = tokens 2..6
    attn = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]])
    values = torch.randn(2, T - 1)  # values[:, t] = log p(token t+1 | ...)
    stub = types.SimpleNamespace(token_logprobs=lambda ids, mask: values.clone())
    ids = torch.zeros(2, T, dtype=torch.long)
    got = dpo.sequence_logps(stub, ids, attn, loss_mask)
    expected = torch.stack([values[0, 2:5].sum(), values[1, 1:6].sum()])  # targets 3..5 and 2..6
    assert torch.allclose(got, expected)
    values[0, :2] = 100.0  # targets in the prompt ...
    values[0, 5] = -100.0  # ... and the padding target change nothing
    values[1, 0] = 100.0
    assert torch.allclose(dpo.sequence_logps(stub, ids, attn, loss_mask), expected)


def test_sequence_logps_unchanged_by_extra_padding(tiny_gpt):
    seqs, masks = [[1, 2, 3, 4, 5], [6, 7, 8]], [[0, 0, 1, 1, 1], [0, 1, 1]]
    ids, attn = pad_batch(seqs, side="right")
    mask, _ = pad_batch(masks, side="right")
    extra = torch.full((2, 4), 17)  # four more columns of (non-zero) padding
    ids2, attn2 = torch.cat([ids, extra], 1), torch.cat([attn, torch.zeros_like(extra)], 1)
    mask2 = torch.cat([mask, torch.zeros_like(extra)], 1)
    assert torch.allclose(dpo.sequence_logps(tiny_gpt, ids, attn, mask), dpo.sequence_logps(tiny_gpt, ids2, attn2, mask2),
                          atol=1e-5)


def test_tiny_end_to_end_run_and_frozen_reference(tiny_world, tiny_ckpts, tmp_path, monkeypatch):
    seen = {}
    real_deepcopy = dpo.copy.deepcopy

    def spy(obj):  # keep a handle on the reference dpo.py makes
        seen["ref"] = real_deepcopy(obj)
        return seen["ref"]

    monkeypatch.setattr(dpo, "copy", types.SimpleNamespace(deepcopy=spy))  # only dpo.py's copies are watched
    metrics = dpo.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path),
                        "--pairs", "prefs", "--max_iters", "4", "--batch_size", "4", "--log_interval", "1", "--eval_interval", "2",
                        "--n_eval_prompts", "6", "--max_new_tokens", "8", "--lr", "1e-2"])
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]
    ref = seen["ref"]
    assert not ref.training and all(not p.requires_grad and p.grad is None for p in ref.parameters())
    assert all(torch.equal(v, sft_state[k]) for k, v in ref.state_dict().items())  # unchanged by training
    policy, ckpt = load_model(tmp_path, expected_stage="dpo")
    assert any(not torch.equal(v, sft_state[k]) for k, v in policy.state_dict().items())  # the policy moved
    assert 0.0 <= metrics["win_rate_vs_sft"] <= 1.0 and math.isfinite(metrics["kl_to_sft"])
    assert json.loads((tmp_path / "metrics.json").read_text())["kl_to_sft"] == pytest.approx(metrics["kl_to_sft"])
    log = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    first = log[0]  # step 1 is scored before any update: policy = reference
    assert {"loss", "reward_accuracy", "reward_chosen", "reward_rejected", "margin", "logp_chosen",
            "logp_rejected"} <= set(first)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5) and first["margin"] == pytest.approx(0, abs=1e-6)


def test_sampled_pairs_are_the_sampled_tokens_ordered_by_the_labeller(tiny_enc, tiny_ckpts):
    from replies import generate_replies
    from tokenizer import render_prompt
    model, _ = load_model(tiny_ckpts / "sft", expected_stage="sft")
    model.eval()
    prompts = ["What is 2 plus 3?", "Hello, how are you?", "What does a cow eat?", "Tell me a story about Mia."] * 2
    calls = []

    def shorter_is_better(prompt, a, b, rng):  # a stand-in labeller that also records what it was asked
        calls.append((prompt, a, b))
        return len(a) <= len(b)

    pairs = dpo.sample_pairs(model, tiny_enc, prompts, shorter_is_better, seed=5, max_new_tokens=12)
    first = generate_replies(model, tiny_enc, prompts, max_new_tokens=12, temperature=1.0, seed=6)
    second = generate_replies(model, tiny_enc, prompts, max_new_tokens=12, temperature=1.0, seed=7)
    expected = [(p, a, b) for p, a, b in zip(prompts, first, second) if a.reply_ids != b.reply_ids]
    assert len(pairs) == len(calls) == len(expected) > 0
    for (chosen, rejected), (prompt, a, b) in zip(pairs, expected):
        prompt_ids = render_prompt(tiny_enc, prompt)
        for ids, mask in (chosen, rejected):
            assert ids[: len(prompt_ids)] == prompt_ids  # the prompt, as generation saw it
            assert mask == [0] * len(prompt_ids) + [1] * (len(ids) - len(prompt_ids))  # 1 exactly on the reply
        replies = {tuple(chosen[0][len(prompt_ids):]), tuple(rejected[0][len(prompt_ids):])}
        assert replies == {tuple(a.reply_ids), tuple(b.reply_ids)}  # the exact sampled tokens
        chosen_row = a if tuple(a.reply_ids) == tuple(chosen[0][len(prompt_ids):]) else b
        assert chosen_row is (a if len(a.text) <= len(b.text) else b)  # the labeller's choice


def test_end_to_end_on_pairs_sampled_from_sft_then_from_the_policy(tiny_world, tiny_ckpts, tmp_path, monkeypatch):
    calls = []
    real_sample_pairs = dpo.sample_pairs
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]

    def spy(model, enc, prompts, prefers_a, **kw):  # which model answers which prompts, in each round
        moved = any(not torch.equal(v, sft_state[k]) for k, v in model.state_dict().items())
        calls.append((model, list(prompts), moved, model.training))
        return real_sample_pairs(model, enc, prompts, prefers_a, **kw)

    monkeypatch.setattr(dpo, "sample_pairs", spy)
    metrics = dpo.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path),
                        "--n_sampled_pairs", "12", "--rounds", "2", "--max_iters", "4", "--batch_size", "4",
                        "--lr", "1e-2", "--n_eval_prompts", "4", "--max_new_tokens", "8"])
    assert 0.0 <= metrics["win_rate_vs_sft"] <= 1.0
    assert len(calls) == 2  # one sampling per round
    (ref, prompts1, moved1, training1), (policy, prompts2, moved2, training2) = calls
    assert not moved1 and moved2 and ref is not policy  # round 1 from SFT, round 2 from the trained policy
    assert not training1 and not training2  # dropout off while sampling
    assert len(prompts1) == len(prompts2) == 6 and not set(prompts1) & set(prompts2)
    common = ["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path)]
    with pytest.raises(ValueError, match="--pairs"):
        dpo.main(common + ["--pairs", "sft"])
    with pytest.raises(ValueError, match="--train_file"):  # a file that would be silently ignored
        dpo.main(common + ["--train_file", str(tiny_world / "prefs_train.jsonl")])
    with pytest.raises(ValueError, match="--rounds"):
        dpo.main(common + ["--rounds", "5", "--max_iters", "4"])


def test_sampled_pairs_need_the_tinyworld_labeller(tiny_world, tiny_ckpts, tmp_path):
    import shutil
    other = tmp_path / "my_data"
    shutil.copytree(tiny_world, other)
    meta = json.loads((other / "meta.json").read_text())
    del meta["labeller_agreement"]  # any data directory that is not a tinyworld has no labeller
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not a tinyworld"):
        dpo.main(["--data_dir", str(other), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path / "o")])
