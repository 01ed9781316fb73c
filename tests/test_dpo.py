"""dpo.py: the loss (ln 2 at the start, hand values, gradient direction), reply-only log-probs, the RPO term, a
reference that stays the SFT model, pairs sampled from the SFT model and then from the policy, ordered by the
labeller."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

import dpo
from checkpoint import load_checkpoint
from evaluate import win_rate
from model import GPT, GPTConfig, load_model


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


def test_reply_logprob_sums_the_shifted_reply_mask():
    """Token t's log-prob sits at column t-1: values at prompt or padding columns must not count."""
    reply_mask = torch.tensor([[0, 0, 0, 1, 1, 1, 0],   # reply = tokens 3..5, token 6 is padding
                               [0, 0, 1, 1, 1, 1, 1]])  # reply = tokens 2..6
    values = torch.randn(2, 6)  # values[:, t] = log p(token t+1 | ...)
    expected = torch.stack([values[0, 2:5].sum(), values[1, 1:6].sum()])  # targets 3..5 and 2..6
    assert torch.allclose(dpo.reply_logprob(values, reply_mask), expected)
    assert torch.allclose(dpo.reply_logprob(values, reply_mask, average=True), expected / torch.tensor([3.0, 5.0]))
    values[0, :2], values[0, 5], values[1, 0] = 100.0, -100.0, 100.0  # prompt and padding targets change nothing
    assert torch.allclose(dpo.reply_logprob(values, reply_mask), expected)


def _pair(prompt, chosen, rejected):
    return {"chosen_ids": prompt + chosen, "chosen_mask": [0] * len(prompt) + [1] * len(chosen),
            "rejected_ids": prompt + rejected, "rejected_mask": [0] * len(prompt) + [1] * len(rejected)}


def test_pair_logprobs_are_the_replies_log_probabilities(tiny_gpt):
    pairs = [_pair([1, 2, 3], [4, 5, 6], [7]), _pair([8], [9, 10], [11, 12, 13, 14, 15])]
    lp_c, lp_r = dpo.pair_logprobs(tiny_gpt, pairs, "cpu")

    def brute_force(prompt_and_reply, n_prompt):  # one token at a time, from its own prefix
        return sum(F.log_softmax(tiny_gpt(torch.tensor([prompt_and_reply[:t]]))[0, -1], -1)[prompt_and_reply[t]].item()
                   for t in range(n_prompt, len(prompt_and_reply)))

    for i, p in enumerate(pairs):
        n_prompt = p["chosen_mask"].index(1)
        assert lp_c[i].item() == pytest.approx(brute_force(p["chosen_ids"], n_prompt), abs=1e-4)
        assert lp_r[i].item() == pytest.approx(brute_force(p["rejected_ids"], n_prompt), abs=1e-4)
    avg_c, _ = dpo.pair_logprobs(tiny_gpt, pairs, "cpu", average=True)
    assert avg_c[1].item() == pytest.approx(lp_c[1].item() / 2, abs=1e-5)


def test_rpo_nll_hand_values():
    logps, lengths = torch.tensor([-6.0, -2.0]), torch.tensor([3.0, 1.0])
    assert dpo.rpo_nll(logps, lengths).item() == pytest.approx((2.0 + 2.0) / 2)  # per token, then over pairs
    assert dpo.rpo_nll(logps, lengths, averaged=True).item() == pytest.approx(4.0)  # IPO's are already averages


def test_rounds_cut_the_steps_into_equal_shares():
    assert [dpo.round_of(s, 3, 9) for s in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert {dpo.round_of(s, 1, 7) for s in range(7)} == {0}


def test_reward_accuracy_counts_pairs_whose_implicit_reward_orders_them(tiny_gpt):
    pairs = [_pair([1, 2], [3, 4], [5]), _pair([6], [7, 8, 9], [10, 11]), _pair([12, 13], [14], [15, 16])]
    assert dpo.reward_accuracy(tiny_gpt, tiny_gpt, pairs, "cpu") == 0.0  # policy = reference: every margin is 0
    other = GPT(tiny_gpt.config).eval()  # another random model as the policy
    pc, pr = dpo.pair_logprobs(other, pairs, "cpu")
    rc, rr = dpo.pair_logprobs(tiny_gpt, pairs, "cpu")
    expected = ((pc - rc) > (pr - rr)).float().mean().item()
    assert dpo.reward_accuracy(other.train(), tiny_gpt, pairs, "cpu", batch_size=2) == pytest.approx(expected)
    assert other.training


def _sft_replies(tiny_ckpts, enc, prompts, seed, max_new_tokens):
    from replies import generate_replies
    sft_model, _ = load_model(tiny_ckpts / "sft")
    return [r.text for r in generate_replies(sft_model, enc, prompts, max_new_tokens=max_new_tokens, seed=seed)]


def test_tiny_end_to_end_run_on_the_preference_file(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
    metrics = dpo.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path),
                        "--pairs", "prefs", "--max_iters", "4", "--batch_size", "4", "--log_interval", "1",
                        "--eval_interval", "2", "--n_eval_prompts", "6", "--max_new_tokens", "8", "--lr", "1e-2"])
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]
    policy, ckpt = load_model(tmp_path, expected_stage="dpo")
    assert any(not torch.equal(v, sft_state[k]) for k, v in policy.state_dict().items())  # the policy moved
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    # the reference is still the SFT model after training: its replies are those of the SFT checkpoint
    prompts = [s["prompt"] for s in samples]
    assert [s["sft"] for s in samples] == _sft_replies(tiny_ckpts, tiny_enc, prompts, seed=1337, max_new_tokens=8)
    assert metrics["win_rate_vs_sft"] == win_rate([s["dpo_gold"] for s in samples], [s["sft_gold"] for s in samples])
    assert json.loads((tmp_path / "metrics.json").read_text())["kl_to_sft"] == pytest.approx(metrics["kl_to_sft"])
    log = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    first = log[0]  # step 1 is scored before any update: policy = reference
    assert {"loss", "reward_accuracy", "reward_chosen", "reward_rejected", "margin", "logp_chosen",
            "logp_rejected", "nll_chosen"} <= set(first)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5) and first["margin"] == pytest.approx(0, abs=1e-6)


def test_sampled_pairs_are_the_sampled_tokens_ordered_by_the_labeller(tiny_enc, tiny_ckpts):
    from replies import generate_replies
    from tokenizer import render_prompt
    model, _ = load_model(tiny_ckpts / "sft", expected_stage="sft")
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
    for pair, (prompt, a, b) in zip(pairs, expected):
        prompt_ids = render_prompt(tiny_enc, prompt)
        for side in ("chosen", "rejected"):
            ids, mask = pair[f"{side}_ids"], pair[f"{side}_mask"]
            assert ids[: len(prompt_ids)] == prompt_ids  # the prompt, as generation saw it
            assert mask == [0] * len(prompt_ids) + [1] * (len(ids) - len(prompt_ids))  # 1 exactly on the reply
        replies = {tuple(pair["chosen_ids"][len(prompt_ids):]), tuple(pair["rejected_ids"][len(prompt_ids):])}
        assert replies == {tuple(a.reply_ids), tuple(b.reply_ids)}  # the exact sampled tokens
        chosen_row = a if tuple(a.reply_ids) == tuple(pair["chosen_ids"][len(prompt_ids):]) else b
        assert chosen_row is (a if len(a.text) <= len(b.text) else b)  # the labeller's choice
        assert pair["prompt"] == prompt and pair["chosen"] == chosen_row.text


def test_end_to_end_on_pairs_sampled_from_sft_then_from_the_policy(tiny_world, tiny_ckpts, tmp_path, monkeypatch):
    calls = []
    real_sample_pairs = dpo.sample_pairs
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]

    def spy(model, enc, prompts, prefers_a, **kw):  # which model answers which prompts, in each round
        moved = any(not torch.equal(v, sft_state[k]) for k, v in model.state_dict().items())
        calls.append((list(prompts), moved))
        return real_sample_pairs(model, enc, prompts, prefers_a, **kw)

    monkeypatch.setattr(dpo, "sample_pairs", spy)
    dpo.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path),
              "--n_sampled_pairs", "12", "--rounds", "2", "--max_iters", "4", "--batch_size", "4",
              "--lr", "1e-2", "--n_eval_prompts", "4", "--max_new_tokens", "8"])
    assert len(calls) == 2  # one sampling per round
    (prompts1, moved1), (prompts2, moved2) = calls
    assert not moved1 and moved2  # round 1 from the SFT model, round 2 from the trained policy
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
