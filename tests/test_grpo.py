"""grpo.py: group advantages against hand values, zero-variance groups, the ratio on the first minibatch, k3, the
loss's aggregations against brute force; the verifier's reward and pass@k; tiny runs of grpo.py and of ppo.py
with the verifier."""
import itertools
import json
import math
import re

import pytest
import torch

import grpo
import ppo
from checkpoint import load_checkpoint
from evaluate import lucky_share, pass_at_k, solved
from model import GPT, GPTConfig, load_model
from replies import Reply
from rl import kl_estimators, reply_logprobs, rollout_batch
from tokenizer import END, special_id

PROBLEM = "Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?"  # 5


# ----------------------------------------------------------------------------------------------------------
# group advantages


def test_group_advantages_against_hand_values():
    rewards = torch.tensor([1.0, 0, 0, 0, 1, 1, 0, 0])  # two groups of G = 4: one right of four, two of four
    # group 1: mean 1/4, sample std sqrt((3/4)^2 + 3 (1/4)^2) / 3) = 1/2; group 2: mean 1/2, std sqrt(1/3)
    s = math.sqrt(1 / 3)
    expected = {"grpo": [1.5, -0.5, -0.5, -0.5, 0.5 / s, 0.5 / s, -0.5 / s, -0.5 / s],
                "dr_grpo": [0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5],
                "rloo": [1.0, -1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3]}  # r_i - mean of the others
    for estimator, values in expected.items():
        got = grpo.group_advantages(rewards, 4, estimator, eps=0.0)
        assert torch.allclose(got, torch.tensor(values), atol=1e-6), estimator


def test_rloo_is_the_leave_one_out_baseline_by_brute_force():
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(12, generator=g)
    got = grpo.group_advantages(rewards, 6, "rloo")
    for i in range(12):
        group = range(6 * (i // 6), 6 * (i // 6) + 6)
        others = [rewards[j].item() for j in group if j != i]
        assert got[i].item() == pytest.approx(rewards[i].item() - sum(others) / len(others), abs=1e-6)


@pytest.mark.parametrize("estimator", grpo.ESTIMATORS)
def test_a_group_of_equal_rewards_has_zero_advantage_and_no_nan(estimator):
    rewards = torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0])  # all right, all wrong, mixed
    adv = grpo.group_advantages(rewards, 4, estimator)
    assert torch.isfinite(adv).all()
    assert (adv[:8] == 0).all() and (adv[8:] != 0).all()


def test_group_advantages_refuse_bad_options():
    with pytest.raises(ValueError, match="group_size"):
        grpo.group_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="estimator"):
        grpo.group_advantages(torch.zeros(4), 4, "ppo")


# ----------------------------------------------------------------------------------------------------------
# process credit: each step's advantage on its tokens


def test_token_advantages_against_hand_values():
    """Two groups of G = 2 replies of T = 7 tokens. Step s of a reply holds the tokens after the previous step's
    end, up to its own end; tokens after the last step (the answer) get the outcome's advantage alone."""
    outcome = torch.tensor([1.0, -1.0, 0.0, 0.0])
    rewards = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])  # reply 2 stated one step, wrong
    ends = torch.tensor([[1, 4], [2, 3], [3, -1], [0, 5]])
    # dr_grpo (r - group mean): step 0: [0, 0 | -0.5, 0.5], step 1: [0.5, -0.5 | 0, 0]
    got = grpo.token_advantages(outcome, rewards, ends, 2, 7, "dr_grpo", step_credit=2.0)
    expected = torch.tensor([[1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0],  # step 0 on tokens 0-1, step 1 on 2-4
                             [-1.0, -1.0, -1.0, -2.0, -1.0, -1.0, -1.0],  # step 0 on 0-2, step 1 on 3
                             [-1.0, -1.0, -1.0, -1.0, 0.0, 0.0, 0.0],  # its one step on 0-3
                             [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])  # step 0 on token 0, step 1 (0) on 1-5
    assert torch.allclose(got, expected)
    # no step credit, or no steps at all: every token has its reply's outcome advantage
    for args in ((rewards, ends, 2, 7, "dr_grpo", 0.0), (torch.zeros(4, 0), torch.zeros(4, 0, dtype=torch.long), 2, 7)):
        assert torch.equal(grpo.token_advantages(outcome, *args), outcome[:, None].expand(4, 7))


def test_a_step_every_reply_of_its_group_got_right_or_wrong_adds_nothing():
    # step 0: all right in group 1 (rows 0-1), all wrong in group 2 (rows 2-3); step 1: mixed in both
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    ends = torch.tensor([[1, 3], [1, 3], [1, 3], [1, 3]])
    got = grpo.token_advantages(torch.zeros(4), rewards, ends, 2, 5)
    assert torch.isfinite(got).all() and (got[:, :2] == 0).all() and (got[:, 4:] == 0).all()
    assert (got[[1, 2], 2:4] > 0).all() and (got[[0, 3], 2:4] < 0).all()


def test_step_rewards_find_each_steps_last_token(tiny_enc):
    texts = ["Sure! 3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.", "3 plus 4 is 8. 8 minus 2 is 6.",
             "Mia has 5 kites."]
    replies = []
    for text in texts:
        ids = tiny_enc.encode(text) + [special_id(tiny_enc, END)]
        replies.append(Reply(prompt=PROBLEM, prompt_ids=[], reply_ids=ids, logprobs=[0.0] * len(ids),
                             mask=[1] * len(ids), stop="end", text=text))
    rewards, ends = grpo.step_rewards(replies, tiny_enc)
    assert rewards.tolist() == [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]] and ends[2].tolist() == [-1, -1]
    for r, row in zip(replies[:2], ends):
        for end in row.tolist():  # the step's sentence is complete at that token and not one token earlier
            assert tiny_enc.decode(r.reply_ids[:end + 1]).endswith(".")
            assert re.search(r"\d is \d+\.$", tiny_enc.decode(r.reply_ids[:end + 1]))
            assert not re.search(r"\d is \d+\.$", tiny_enc.decode(r.reply_ids[:end]))


def test_per_token_advantages_that_repeat_the_replys_give_the_same_loss():
    logp, old, ref, adv, mask, _ = _batch()
    for aggregation in grpo.AGGREGATIONS:
        assert grpo.grpo_loss(logp, old, ref, adv[:, None].expand(-1, 6), mask, 0.2, 0.1, aggregation).item() == \
            pytest.approx(grpo.grpo_loss(logp, old, ref, adv, mask, 0.2, 0.1, aggregation).item(), abs=1e-7)


# ----------------------------------------------------------------------------------------------------------
# the loss


def _batch(B=4, T=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [6, 2, 4, 1][:B]
    mask = torch.zeros(B, T)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    logp = -torch.rand(B, T, generator=g) * 3
    old = logp + 0.3 * torch.randn(B, T, generator=g)
    ref = logp + 0.5 * torch.randn(B, T, generator=g)
    adv = torch.randn(B, generator=g)
    return logp, old, ref, adv, mask, lengths


def _term(lp, old, ref, a, clip_eps, kl_coef):
    """One token's term, written out with math."""
    ratio = math.exp(lp - old)
    surrogate = min(ratio * a, max(1 - clip_eps, min(1 + clip_eps, ratio)) * a)
    q = math.exp(ref - lp)  # pi_ref / pi
    return -surrogate + kl_coef * (q - 1 - math.log(q))


@pytest.mark.parametrize("aggregation", grpo.AGGREGATIONS)
def test_the_loss_and_its_aggregations_against_brute_force(aggregation):
    logp, old, ref, adv, mask, lengths = _batch()
    clip_eps, kl_coef, max_tokens = 0.2, 0.1, 10
    terms = [[_term(logp[b, t].item(), old[b, t].item(), ref[b, t].item(), adv[b].item(), clip_eps, kl_coef)
              for t in range(n)] for b, n in enumerate(lengths)]
    expected = {"token": sum(map(sum, terms)) / sum(lengths),
                "sequence": sum(sum(ts) / len(ts) for ts in terms) / len(terms),
                "constant": sum(map(sum, terms)) / (len(terms) * max_tokens)}[aggregation]
    got = grpo.grpo_loss(logp, old, ref, adv, mask, clip_eps, kl_coef, aggregation, max_tokens=max_tokens)
    assert got.item() == pytest.approx(expected, abs=1e-5)
    # what lies off the mask (padding) never counts
    noisy = [x.masked_fill(mask == 0, 123.0) for x in (logp, old, ref)]
    assert grpo.grpo_loss(*noisy, adv, mask, clip_eps, kl_coef, aggregation, max_tokens).item() == pytest.approx(
        expected, abs=1e-5)


def test_sequence_aggregation_weighs_a_short_replys_tokens_more():
    """The length bias of the per-reply mean: the same per-token term, in a reply of 1 token or of 6."""
    mask = torch.tensor([[1.0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    logp = torch.zeros(2, 6, requires_grad=True)
    grpo.grpo_loss(logp, logp.detach(), logp.detach(), torch.tensor([1.0, 1.0]), mask, 0.2, 0.0, "sequence").backward()
    assert logp.grad[0, 0].item() == pytest.approx(6 * logp.grad[1, 0].item())
    logp.grad = None
    grpo.grpo_loss(logp, logp.detach(), logp.detach(), torch.tensor([1.0, 1.0]), mask, 0.2, 0.0, "token").backward()
    assert logp.grad[0, 0].item() == pytest.approx(logp.grad[1, 0].item())


def test_ratio_is_one_on_the_first_minibatch_and_clipping_is_inactive():
    logp, _, ref, adv, mask, _ = _batch()
    loss = grpo.grpo_loss(logp, logp.clone(), ref, adv, mask, 0.2, 0.0)
    assert loss.item() == pytest.approx(-(adv[:, None] * mask).sum().item() / mask.sum().item(), abs=1e-6)
    assert loss.item() == pytest.approx(grpo.grpo_loss(logp, logp.clone(), ref, adv, mask, 1e9, 0.0).item(), abs=1e-7)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_the_first_minibatch_rescores_exactly_what_was_sampled(tiny_enc, temperature):
    """On a real model: the rollout's log-probs are those of the distribution the replies were sampled from (the
    same temperature), and the log-probs the update recomputes for a minibatch are the rollout's, so the ratio
    starts at 1."""
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=96, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=2, n_embd=16)
    policy, reference = GPT(cfg).eval(), GPT(cfg).eval()
    ro = rollout_batch(policy, reference, tiny_enc, [PROBLEM] * 4 + ["What is 2 plus 3?"] * 4, max_new_tokens=8,
                       temperature=temperature, generator=torch.Generator().manual_seed(1), device="cpu")
    sampled = torch.zeros_like(ro["logprobs"])  # each token's log-prob as sampling drew it, right-padded with 0
    for row, reply in enumerate(ro["replies"]):
        sampled[row, :len(reply.logprobs)] = torch.tensor(reply.logprobs)
    assert torch.allclose(ro["logprobs"], sampled, atol=1e-5)
    mb = torch.tensor([5, 0, 2])
    new = reply_logprobs(policy.token_logprobs(ro["ids"][mb], ro["attention_mask"][mb], temperature),
                         ro["P"]) * ro["mask"][mb]
    ratio = torch.exp(new - ro["logprobs"][mb])
    assert torch.allclose(ratio, torch.ones_like(ratio), atol=1e-5)


def test_k3_is_never_negative_and_zero_exactly_at_the_reference():
    g = torch.Generator().manual_seed(0)
    logp, ref = -torch.rand(500, generator=g) * 5, -torch.rand(500, generator=g) * 5
    k1, k3 = kl_estimators(logp, ref)
    assert (k3 >= 0).all() and (k1 < 0).any()  # k1 is negative on some tokens, k3 never
    assert (kl_estimators(logp, logp)[1] == 0).all()
    mask = torch.ones(1, 500)
    zero_adv = torch.zeros(1)
    assert grpo.grpo_loss(logp[None], logp[None], logp[None], zero_adv, mask, 0.2, 1.0).item() == 0.0
    assert grpo.grpo_loss(logp[None], logp[None], ref[None], zero_adv, mask, 0.2, 1.0).item() > 0


def test_one_update_moves_probability_towards_the_rewarded_replies(tiny_enc):
    """One step of grpo_loss on a real model, rewards set by hand (no KL term): the rewarded replies gain
    log-probability relative to the others of their group, sum_i A_i * (change of log pi(reply_i)) > 0."""
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=96, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=2, n_embd=32)
    policy = GPT(cfg).eval()
    ro = rollout_batch(policy, policy, tiny_enc, [PROBLEM] * 4 + ["What is 2 plus 3?"] * 4, max_new_tokens=5,
                       temperature=1.0, generator=torch.Generator().manual_seed(2), device="cpu")
    advantages = grpo.group_advantages(torch.tensor([1.0, 0, 0, 0, 0, 1, 0, 0]), 4)

    def logprobs():
        return reply_logprobs(policy.token_logprobs(ro["ids"], ro["attention_mask"]), ro["P"]) * ro["mask"]

    before = logprobs().sum(1).detach()
    grpo.grpo_loss(logprobs(), ro["logprobs"], ro["ref_logprobs"], advantages, ro["mask"], 0.2, 0.0).backward()
    torch.optim.SGD(policy.parameters(), lr=0.01).step()
    change = logprobs().sum(1).detach() - before
    assert (advantages * change).sum() > 0
    assert change[[0, 5]].mean() > change[[1, 2, 3, 4, 6, 7]].mean()


# ----------------------------------------------------------------------------------------------------------
# the verifier's reward and pass@k


def _reply(text, stop="end"):
    return Reply(prompt=PROBLEM, prompt_ids=[], reply_ids=[], logprobs=[], mask=[], stop=stop, text=text)


def test_the_verifier_rewards_a_right_final_answer_in_a_finished_reply():
    assert solved(_reply("3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites."))  # digits
    assert solved(_reply("Mia has five kites."))  # words
    assert not solved(_reply("Mia has 5 kites. No, 6."))  # a wrong number after the right one
    assert not solved(_reply("Mia has some kites."))  # no number
    assert not solved(_reply("3 plus 4 is 7. 7 minus 2 is 5.", stop="length"))  # never ended
    assert not solved(_reply("Mia has 5 kites.", stop="user"))  # wrote the user's turn
    assert not solved(_reply("Mia has 7 kites."))


def test_lucky_share_counts_right_replies_reached_through_a_false_sum():
    worked = _reply("3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.")
    guessed = _reply("3 plus 4 is 8. 8 minus 3 is 5. Mia has 5 kites.")  # right number, false steps
    wrong = _reply("3 plus 4 is 8. 8 minus 2 is 6. Mia has 6 kites.")  # false steps, wrong number: not counted
    assert lucky_share([worked, guessed, wrong]) == 0.5
    assert lucky_share([worked]) == 0.0 and lucky_share([wrong]) == 0.0 and lucky_share([]) == 0.0
    assert lucky_share([guessed, _reply(guessed.text, stop="length")]) == 1.0  # an unfinished reply is not right


def test_pass_at_k_against_brute_force():
    for n, c, k in itertools.product(range(1, 9), range(0, 9), range(1, 9)):
        if c > n or k > n:
            continue
        subsets = list(itertools.combinations([1] * c + [0] * (n - c), k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError):
        pass_at_k(8, 9, 1)


# ----------------------------------------------------------------------------------------------------------
# tiny runs


def test_tiny_grpo_run(tiny_world, tiny_ckpts, tmp_path):
    metrics = grpo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--out_dir",
                         str(tmp_path), "--iters", "2", "--prompts_per_iter", "2", "--group_size", "4",
                         "--minibatch_size", "4", "--max_new_tokens", "6", "--n_samples", "2",
                         "--n_test_problems", "3", "--n_eval_prompts", "4", "--lr", "1e-3"])
    load_model(tmp_path, expected_stage="grpo")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for when in ("before", "after"):
        assert 0 <= saved[when]["pass@1"] <= saved[when]["pass@2"] <= 1 and saved[when]["problems"] == 3
        assert "gold_ordinary" in saved[when]
    assert saved["sampled_replies"] == 2 * 2 * 4 and metrics["after"] == saved["after"]
    assert saved["step_credit"] == grpo.Config.step_credit > 0 and saved["signal"].endswith("final answers and steps)")
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert all(k in log[0] for k in ("reward", "mixed", "step_by_step", "length", "kl", "k3", "clipfrac"))
    assert (tmp_path / "grpo.png").exists()


def test_grpo_refuses_bad_options(tiny_world, tiny_ckpts, tmp_path):
    common = ["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path)]
    with pytest.raises(ValueError, match="--advantage ppo: must be one of grpo, dr_grpo, rloo"):
        grpo.main(common + ["--advantage", "ppo"])
    with pytest.raises(ValueError, match="loss_agg"):
        grpo.main(common + ["--loss_agg", "mean"])
    ordinary = tmp_path / "ordinary.jsonl"
    ordinary.write_text('{"prompt": "What is 2 plus 3?"}\n{"prompt": "Hello!"}\n')
    with pytest.raises(ValueError, match="ordinary.jsonl: no word problem .*--prompts"):
        grpo.main(common + ["--prompts", str(ordinary)])
    with pytest.raises(ValueError, match="ordinary.jsonl: no word problem .*--reward verifier"):
        ppo.main(common + ["--reward", "verifier", "--prompts", str(ordinary)])


def test_tiny_ppo_run_with_the_verifier(tiny_world, tiny_ckpts, tmp_path):
    metrics = ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward", "verifier",
                        "--reward_model", str(tmp_path / "no_rm"), "--out_dir", str(tmp_path), "--iters", "2",
                        "--batch_size", "4", "--minibatch_size", "2", "--ppo_epochs", "1", "--max_new_tokens", "6",
                        "--n_eval_prompts", "0", "--lr", "1e-3"])
    assert metrics["signal"].startswith("verifier") and metrics["labels"] == 0  # and no reward model was read
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all(0 <= r["reward"] <= 1 and "rm_score" not in r for r in log)
    with pytest.raises(ValueError, match="--reward"):
        ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward", "gold"])
