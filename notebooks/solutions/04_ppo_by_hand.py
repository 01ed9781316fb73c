"""Solutions to the exercises of notebook 4 (PPO by hand). Run from the repository root:

    python notebooks/solutions/04_ppo_by_hand.py
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ppo import gae, per_token_rewards, whitened_scores  # noqa: E402

DATA = ROOT / "notebooks" / "data"
ro = json.loads((DATA / "pipeline" / "rollout.json").read_text())
replies = ro["replies"]


def pad(key):  # the replies' per-token numbers, right-padded with 0 into (B, T)
    return torch.nn.utils.rnn.pad_sequence([torch.tensor(r[key]) for r in replies], batch_first=True)


logprobs, ref_logprobs, values = pad("logprobs"), pad("ref_logprobs"), pad("values")
mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(r["tokens"])) for r in replies], batch_first=True)
scores = whitened_scores(torch.tensor([r["rm_score"] for r in replies]), torch.tensor([r["finished"] for r in replies]),
                         ro["score_mean"], ro["score_std"])
rewards, kl = per_token_rewards(logprobs, ref_logprobs, scores, mask, ro["settings"]["kl_coef"])

# 1. lam = 1: A_t = sum_k delta_{t+k} telescopes to (sum of rewards from t on) - V_t (V after the end is 0).
#    lam = 0: A_t = delta_t = r_t + V_{t+1} - V_t.
print("1. GAE with lambda 0 and 1 (first reply)")
a1, _ = gae(rewards, values, mask, gamma=1.0, lam=1.0)
a0, _ = gae(rewards, values, mask, gamma=1.0, lam=0.0)
n = int(mask[0].sum())
reward_to_go = rewards[0, :n].flip(0).cumsum(0).flip(0)
next_v = torch.cat([values[0, 1:n], torch.zeros(1)])
print(f"  lam = 1 equals reward-to-go minus V: {torch.allclose(a1[0, :n], reward_to_go - values[0, :n], atol=1e-5)}")
td_error = rewards[0, :n] + next_v - values[0, :n]
print(f"  lam = 0 equals r_t + V_(t+1) - V_t:   {torch.allclose(a0[0, :n], td_error, atol=1e-5)}")
for t, tok in enumerate(replies[0]["tokens"]):
    print(f"    {tok!r:>10s}  lam=1 {a1[0, t]:+6.2f}   lam=0 {a0[0, t]:+6.2f}   V {values[0, t]:+6.2f}")
print("  With lam = 0, each token's advantage is made of two value predictions and one reward: everything\n"
      "  rests on the value model. With lam = 1 the value model only serves as a baseline for the true\n"
      "  reward-to-go. At the first iteration the value model is the reward model, whose numbers before <|end|>\n"
      "  predict nothing, so lam = 0 would hand the policy its noise as advantages; lam near 1 is the safe choice.")

# 2. Explained variance: 1 - Var(returns - values) / Var(returns) over the reply tokens (masked means).
print("\n2. How much of the returns' variance the value model explains")
cfg = ro["settings"]
advantages, returns = gae(rewards, values, mask, gamma=cfg["gamma"], lam=cfg["lam"])


def masked_var(x):
    mean = (x * mask).sum() / mask.sum()
    return (((x - mean) * mask) ** 2).sum() / mask.sum()


explained = 1 - masked_var(returns - values) / masked_var(returns)
log = [json.loads(line) for line in open(DATA / "pipeline" / "ppo_log.jsonl")]
print(f"  on the exported rollout: {explained.item():+.3f}; the log: iteration 1 {log[0]['explained_var']:+.3f}, "
      f"iteration {log[-1]['step']} {log[-1]['explained_var']:+.3f}")
print("  The value model starts as a copy of the reward model, which was trained to score a finished reply at its\n"
      "  <|end|>: at the other positions its outputs predict nothing about the return still to come, so they\n"
      "  explain little of it (or less than nothing: a negative value). The value loss trains it on the returns\n"
      "  of every iteration, alongside the policy, so by the end of the run it predicts them far better.\n"
      "  (The rollout here was sampled by the trained policy but valued by the starting value model, since\n"
      "  ppo.py does not save the trained one: its number is the first iteration's kind.)")

# 3. The total reward of each reply = score - kl_coef * KL(reply); it is cancelled at kl_coef = score / KL.
print("\n3. The price of drifting")
total_kl = kl.sum(1)
for c in (0.0, 0.05, 0.5):
    totals = per_token_rewards(logprobs, ref_logprobs, scores, mask, c)[0].sum(1)
    print(f"  kl_coef {c:4}: total rewards {[round(x, 3) for x in totals.tolist()]}")
b = int(total_kl.argmax())
print(f"  reply {b} has the largest KL ({total_kl[b]:.2f} nats) and score {scores[b]:+.3f}: the penalty cancels it at "
      f"kl_coef = {scores[b] / total_kl[b]:.3f}")
