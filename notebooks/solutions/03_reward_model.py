"""Solutions to the exercises of notebook 3 (the reward model). Run from the repository root:

    python notebooks/solutions/03_reward_model.py
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from data.tinyworld import LABELLER_AGREEMENT, TAU, ensure_tinyworld, preference_probability  # noqa: E402
from reward_model import bradley_terry_loss  # noqa: E402

world = ensure_tinyworld(ROOT / "data" / "tinyworld")
metrics = json.loads((ROOT / "notebooks" / "data" / "pipeline" / "metrics.json").read_text())["rm"]

# 1. A model that ranks by gold agrees with the label of a pair with gap d > 0 with probability sigmoid(d / TAU)
#    (the chance the labeller picked the better one); with equal gold scores it has to guess: 1/2.
print("1. The accuracy ceiling against the labels")
pairs = [json.loads(line) for line in open(world / "prefs_val.jsonl")]
expected = sum(preference_probability(max(p["gold_chosen"], p["gold_rejected"]),
                                      min(p["gold_chosen"], p["gold_rejected"]), TAU)
               if p["gold_chosen"] != p["gold_rejected"] else 0.5 for p in pairs) / len(pairs)
observed = sum(p["gold_chosen"] > p["gold_rejected"] for p in pairs) / len(pairs)
print(f"  {len(pairs)} held-out pairs: a perfect (gold-ranking) model would agree with the labels on "
      f"{expected:.3f} of them in expectation ({observed:.3f} with these particular labels)")
print(f"  the real reward model: {metrics['accuracy']:.3f} against the labels; "
      f"LABELLER_AGREEMENT = {LABELLER_AGREEMENT}")
print("  Against the labels, nobody can beat the ceiling: the remaining errors are the labeller's. The reward\n"
      "  model's gap to the ceiling is what it could still learn; its accuracy against the gold order\n"
      f"  ({metrics['gold_accuracy']:.3f}) is the number that says how good a stand-in for the truth it is.")

# 2. loss = -log sigmoid(d), d = r_c - r_r. d loss / d d = -(1 - sigmoid(d)) = -sigmoid(-d); d d / d r_c = 1,
#    d d / d r_r = -1. The gradient is largest (in size, up to 1) when the model is confidently wrong.
print("\n2. The gradient")
for d in (4.0, 0.0, -4.0):
    rc, rr = torch.tensor([d], requires_grad=True), torch.tensor([0.0], requires_grad=True)
    gc, gr = torch.autograd.grad(bradley_terry_loss(rc, rr), (rc, rr))
    print(f"  r_c - r_r = {d:+.0f}: autograd {gc.item():+.4f}, {gr.item():+.4f}; formula "
          f"{-(1 - torch.sigmoid(torch.tensor(d))).item():+.4f}, {(1 - torch.sigmoid(torch.tensor(d))).item():+.4f}")
print("  Confidently right pairs give almost nothing, uncertain ones 0.5, confidently wrong ones almost 1:\n"
      "  the model learns most from the pairs it gets wrong (and from the labeller's flipped labels).")

# 3. The loss depends on r_c - r_r only: a shift changes nothing, a scale changes the loss (and the gradient).
print("\n3. No natural zero")
torch.manual_seed(0)
rc, rr = torch.randn(8), torch.randn(8)
print(f"  loss {bradley_terry_loss(rc, rr):.4f}; +5 to every reward {bradley_terry_loss(rc + 5, rr + 5):.4f}; "
      f"x2 {bradley_terry_loss(2 * rc, 2 * rr):.4f}")
print(f"  The reward model's zero is arbitrary and its scale is whatever training reached; this one scored "
      f"training replies with mean {metrics['score_mean']:.2f} and standard deviation {metrics['score_std']:.2f}.\n"
      "  PPO adds the score to a KL penalty whose size kl_coef is set in nats: whitening the score with the\n"
      "  saved mean and std puts it on a fixed scale, so kl_coef means the same thing for any reward model.")
