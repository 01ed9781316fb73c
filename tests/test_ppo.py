"""ppo.py: GAE vs brute force, ratio = 1 on the first minibatch, where the reward lands, log-prob agreement,
the frozen reference, and a tiny end-to-end run."""
import math
import types

import pytest
import torch

import ppo
from checkpoint import load_checkpoint
from model import GPT, GPTConfig, load_model, pad_batch


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


def test_tiny_end_to_end_run_keeps_the_reference_frozen(tiny_world, tiny_ckpts, tmp_path):
    metrics = ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward_model",
                        str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path), "--iters", "2", "--batch_size", "8",
                        "--minibatch_size", "4", "--ppo_epochs", "2", "--max_new_tokens", "8", "--n_eval_prompts", "6",
                        "--lr", "1e-3"])
    policy, ckpt = load_model(tmp_path, expected_stage="ppo")
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]
    assert any(not torch.equal(v, sft_state[k]) for k, v in policy.state_dict().items())  # the policy moved ...
    assert math.isfinite(metrics["kl_to_sft"]) and 0 <= metrics["win_rate_vs_sft"] <= 1
    assert (tmp_path / "reward_vs_gold.png").exists()


def test_reference_and_reward_model_are_never_updated(tiny_world, tiny_ckpts, tmp_path, monkeypatch):
    made = []
    real_deepcopy = ppo.copy.deepcopy
    monkeypatch.setattr(ppo, "copy", types.SimpleNamespace(deepcopy=lambda obj: made.append(real_deepcopy(obj)) or made[-1]))
    ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward_model",
              str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path), "--iters", "1", "--batch_size", "4",
              "--minibatch_size", "4", "--ppo_epochs", "1", "--max_new_tokens", "6", "--n_eval_prompts", "0",
              "--lr", "1e-2"])
    reference = made[0]  # the first copy ppo.py makes is the reference
    sft_state = load_checkpoint(tiny_ckpts / "sft")["model"]
    assert all(torch.equal(v, sft_state[k]) for k, v in reference.state_dict().items())
    assert not reference.training and all(not p.requires_grad and p.grad is None for p in reference.parameters())
