"""ppo.py: GAE vs brute force, ratio = 1 on the first minibatch, where the reward lands, score whitening, which
position belongs to which reply token, the rollout against its samples, a reference that stays SFT, a tiny run."""
import json

import pytest
import torch

import ppo
from checkpoint import load_checkpoint
from evaluate import win_rate
from model import GPT, GPTConfig, load_model


def _ragged(B=4, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [7, 3, 5, 1][:B]
    mask = torch.zeros(B, T)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    rewards = torch.randn(B, T, generator=g) * mask
    values = torch.randn(B, T, generator=g) * mask
    return rewards, values, mask, lengths


def _gae_brute_force(rewards, values, lengths, gamma, lam):
    B, T = rewards.shape
    adv = torch.zeros(B, T)
    for b in range(B):
        n = lengths[b]
        for t in range(n):  # A_t = sum_k (gamma*lam)^k delta_{t+k}, with V after the last token = 0
            total = 0.0
            for k in range(t, n):
                v_next = values[b, k + 1].item() if k + 1 < n else 0.0
                delta = rewards[b, k].item() + gamma * v_next - values[b, k].item()
                total += (gamma * lam) ** (k - t) * delta
            adv[b, t] = total
    return adv


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0)])
def test_gae_equals_brute_force(gamma, lam):
    rewards, values, mask, lengths = _ragged()
    adv, ret = ppo.gae(rewards, values, mask, gamma, lam)
    expected = _gae_brute_force(rewards, values, lengths, gamma, lam)
    assert torch.allclose(adv, expected, atol=1e-5)
    assert torch.allclose(ret, (expected + values) * mask, atol=1e-5)
    assert (adv[mask == 0] == 0).all() and (ret[mask == 0] == 0).all()


def test_reward_lands_on_the_last_real_reply_token():
    _, _, mask, lengths = _ragged()
    scores = torch.tensor([1.0, 2.0, 3.0, 4.0])
    logp, ref = torch.zeros(4, 7), torch.zeros(4, 7)
    rewards, kl = ppo.per_token_rewards(logp, ref, scores, mask, kl_coef=0.1)
    for b, n in enumerate(lengths):
        assert rewards[b, n - 1] == scores[b]
        assert (rewards[b, torch.arange(7) != n - 1] == 0).all()
    # with a KL term: -kl_coef * (logp - ref) on every reply token, zero on padding
    logp = torch.full((4, 7), -1.0)
    ref = torch.full((4, 7), -1.5)
    rewards, kl = ppo.per_token_rewards(logp, ref, scores, mask, kl_coef=0.1)
    assert torch.allclose(kl, 0.5 * mask)
    assert torch.allclose(rewards, -0.05 * mask + torch.zeros(4, 7).index_put_(
        (torch.arange(4), torch.tensor(lengths) - 1), scores))


def test_first_minibatch_ratio_is_one_and_clipping_is_inactive():
    g = torch.Generator().manual_seed(0)
    logp = torch.randn(3, 5, generator=g)
    adv = torch.randn(3, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).float()
    loss = ppo.ppo_policy_loss(logp, logp.clone(), adv, mask, clip_eps=0.2)
    assert loss.item() == pytest.approx(-(adv * mask).sum().item() / mask.sum().item(), abs=1e-6)
    unclipped = ppo.ppo_policy_loss(logp, logp.clone(), adv, mask, clip_eps=1e9)
    assert loss.item() == pytest.approx(unclipped.item(), abs=1e-7)


def test_clipping_hand_case():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 0.5]]))  # ratios 1.5 and 0.5
    adv = torch.tensor([[1.0, -1.0]])
    mask = torch.ones(1, 2)
    # token 0: min(1.5*1, 1.2*1) = 1.2 ; token 1: min(0.5*-1, 0.8*-1) = -0.8 -> loss = -(1.2 - 0.8)/2
    assert ppo.ppo_policy_loss(new, old, adv, mask, 0.2).item() == pytest.approx(-0.2)


def test_value_loss_clipping_hand_case():
    values, old, ret, mask = torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[3.0]]), torch.ones(1, 1)
    # clipped value 0.5: max((2-3)^2, (0.5-3)^2) = 6.25
    assert ppo.ppo_value_loss(values, old, ret, mask, 0.5).item() == pytest.approx(0.5 * 6.25)


def test_kl_estimators():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    k1, k3 = ppo.kl_estimators(logp, ref)
    assert torch.allclose(k1, torch.tensor([0.5, -1.0]))
    r = torch.exp(ref - logp)
    assert torch.allclose(k3, (r - 1) - torch.log(r)) and (k3 >= 0).all()


def test_whiten_masked():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = ppo.whiten(x, mask)
    assert w[0, 3] == 0 and abs(w[0, :3].mean().item()) < 1e-6 and abs(w[0, :3].var(unbiased=False).item() - 1) < 1e-4


def test_whitened_scores_and_the_score_of_an_unfinished_reply():
    raw = torch.tensor([1.0, 3.0, 5.0, 100.0])
    finished = torch.tensor([True, True, True, False])
    assert torch.allclose(ppo.whitened_scores(raw, finished, score_mean=3.0, score_std=2.0),
                          torch.tensor([-1.0, 0.0, 1.0, ppo.NO_END_SCORE]))


def test_reply_positions_align_with_the_reply_tokens():
    """Which column of the per-position outputs belongs to which reply token, on a model that writes its inputs."""
    P, T = 3, 4
    ids = torch.tensor([[0, 7, 8, 20, 21, 22, 23]])  # a left-padded prompt (0 7 8), then the reply 20..23
    positions = torch.arange(P + T, dtype=torch.float)[None]  # a value model whose output is its position
    token_logprobs = ids[:, 1:].float()  # as if log p(token j+1) were the token itself: column j holds ids[j + 1]
    assert ppo.reply_logprobs(token_logprobs, P).tolist() == [[20.0, 21.0, 22.0, 23.0]]  # reply token t's own
    assert ppo.reply_values(positions, P).tolist() == [[2.0, 3.0, 4.0, 5.0]]  # read before token t: at P - 1 + t


def test_adaptive_kl_controller():
    assert ppo.adapt_kl_coef(0.1, kl=2.0, target_kl=2.0, batch_size=64) == pytest.approx(0.1)  # on target
    assert ppo.adapt_kl_coef(0.1, kl=3.0, target_kl=2.0, batch_size=100) == pytest.approx(0.1 * (1 + 0.2 * 0.01))
    assert ppo.adapt_kl_coef(0.1, kl=1.5, target_kl=2.0, batch_size=100) == pytest.approx(0.1 * (1 - 0.2 * 0.01))


def test_ppo_diagnostics_hand_case():
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.0, 1.5, 0.9]]))  # ratios 1, 1.5 (clipped at 0.2), 0.9
    mask = torch.tensor([[1.0, 1.0, 1.0]])
    clipfrac, approx_kl = ppo.ppo_diagnostics(new, old, mask, clip_eps=0.2)
    assert clipfrac.item() == pytest.approx(1 / 3)
    r = torch.tensor([1.0, 1.5, 0.9])
    assert approx_kl.item() == pytest.approx(((r - 1) - torch.log(r)).mean().item(), abs=1e-6)


def test_rollout_scores_what_was_sampled(tiny_enc):
    from model import ScalarGPT
    from replies import generate_replies
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=64, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=2, n_embd=16)
    policy, reference, rm = GPT(cfg).eval(), GPT(cfg).eval(), ScalarGPT(cfg).eval()
    prompts = ["What is 2 plus 3?", "Hello!", "Tell me a story about Mia, please."]
    ro = ppo.rollout(policy, reference, rm, rm, tiny_enc, prompts, max_new_tokens=10, temperature=0.7,
                     generator=torch.Generator().manual_seed(3), score_mean=0.5, score_std=2.0, device="cpu")
    replies = generate_replies(policy, tiny_enc, prompts, max_new_tokens=10, temperature=0.7,
                               generator=torch.Generator().manual_seed(3))  # the same draws
    mask, P = ro["mask"], ro["P"]
    assert P == max(len(r.prompt_ids) for r in replies)  # the prompts, left-padded to the longest
    for i, r in enumerate(replies):
        n = len(r.reply_ids)
        assert ro["texts"][i] == r.text and mask[i].tolist() == [1.0] * n + [0.0] * (mask.size(1) - n)
        assert torch.allclose(ro["logprobs"][i, :n], torch.tensor(r.logprobs), atol=1e-5)  # the sampled log-probs
        alone = torch.tensor([r.prompt_ids + r.reply_ids])
        ref = reference.token_logprobs(alone, temperature=0.7)[0, len(r.prompt_ids) - 1:]
        assert torch.allclose(ro["ref_logprobs"][i, :n], ref, atol=1e-5)
        values = rm(alone)[0]
        assert torch.allclose(ro["values"][i, :n], values[len(r.prompt_ids) - 1: -1], atol=1e-5)
        assert ro["raw_scores"][i].item() == pytest.approx(values[-1].item(), abs=1e-5)  # read at the last token
        expected = (values[-1].item() - 0.5) / 2.0 if r.finished else ppo.NO_END_SCORE
        assert ro["scores"][i].item() == pytest.approx(expected, abs=1e-5)
    assert (ro["logprobs"][mask == 0] == 0).all() and (ro["values"][mask == 0] == 0).all()


def test_tiny_end_to_end_run(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
    metrics = ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward_model",
                        str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path), "--iters", "2", "--batch_size", "8",
                        "--minibatch_size", "4", "--ppo_epochs", "2", "--max_new_tokens", "8", "--n_eval_prompts", "6",
                        "--lr", "1e-3"])
    policy, ckpt = load_model(tmp_path, expected_stage="ppo")
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]
    assert any(not torch.equal(v, sft_state[k]) for k, v in policy.state_dict().items())  # the policy moved ...
    # ... and the reference did not: after training it still writes the SFT checkpoint's replies
    from replies import generate_replies
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    sft_model, _ = load_model(tiny_ckpts / "sft")
    again = generate_replies(sft_model, tiny_enc, [s["prompt"] for s in samples], seed=1337)
    assert [s["sft"] for s in samples] == [r.text for r in again]
    assert metrics["win_rate_vs_sft"] == win_rate([s["ppo_gold"] for s in samples], [s["sft_gold"] for s in samples])
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all(r["kl_coef"] == 0.05 for r in log)
    assert (tmp_path / "reward_vs_gold.png").exists() and (tmp_path / "ppo.png").exists()
