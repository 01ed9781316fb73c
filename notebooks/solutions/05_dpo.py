"""Solutions to the exercises of notebook 5 (DPO). Run from the repository root:

    python notebooks/solutions/05_dpo.py
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dpo import dpo_loss, reply_logprob  # noqa: E402

data = json.loads((ROOT / "notebooks" / "data" / "pipeline" / "dpo_pairs.json").read_text())
pairs, beta = data["pairs"], data["settings"]["beta"]


def logp(name, side, average=False):
    return torch.tensor([reply_logprob(torch.tensor([q[f"{name}_{side}_token_logprobs"]]),
                                       torch.tensor([q[f"{side}_mask"]]), average).item() for q in pairs])


# 1. loss = -log sigmoid(beta h), h = (pi_c - ref_c) - (pi_r - ref_r). d/dh -log sigmoid(x) = -sigmoid(-x) times
#    beta; dh/d pi_c = 1, dh/d pi_r = -1. So d loss / d pi_c = -beta sigmoid(-beta h) = -(d loss / d pi_r).
#    (dpo_loss averages over the batch: each pair's gradient is divided by B.)
print("1. The DPO gradient on the real pairs")
pc, pr = logp("policy", "chosen").requires_grad_(), logp("policy", "rejected").requires_grad_()
rc, rr = logp("reference", "chosen"), logp("reference", "rejected")
loss, _, _ = dpo_loss(pc, pr, rc, rr, beta)
gc, gr = torch.autograd.grad(loss, (pc, pr))
h = (pc - rc) - (pr - rr)
formula = -beta * torch.sigmoid(-beta * h) / len(pairs)
for i in range(len(pairs)):
    print(f"  pair {i}: h {h[i].item():+7.2f}  autograd {gc[i].item():+.5f} / {gr[i].item():+.5f}  "
          f"formula {formula[i].item():+.5f} / {-formula[i].item():+.5f}")
i = int(gc.abs().argmax())
print(f"  pair {i} pushes hardest: its h ({h[i].item():+.2f}) is the smallest, i.e. the policy orders it the least\n"
      "  the way the label says; pairs already ordered by a wide margin contribute almost nothing.")

# 2. Per-token means: the implicit reward of each reply becomes beta * (mean log pi - mean log ref).
print("\n2. Sum against mean")
sums = beta * ((pc - rc) - (pr - rr)).detach()
means = beta * ((logp("policy", "chosen", True) - logp("reference", "chosen", True))
                - (logp("policy", "rejected", True) - logp("reference", "rejected", True)))
for i, q in enumerate(pairs):
    n_c, n_r = sum(q["chosen_mask"]), sum(q["rejected_mask"])
    flag = "  <- changes side" if (sums[i] > 0) != (means[i] > 0) else ""
    print(f"  pair {i}: margin with sums {sums[i].item():+6.2f}, with means {means[i].item():+6.3f} "
          f"(chosen {n_c} tokens, rejected {n_r}){flag}")
print("  A sum grows with the number of tokens: a long reply's log-ratio can dominate a short one's. A mean\n"
      "  counts every reply as one token's worth, whatever its length, and is no longer the log-probability of\n"
      "  the reply, so the loss no longer has the KL-regularised optimum the derivation promised.")

# 3. Conservative DPO: loss = (1 - eps) * -log sigmoid(beta h) + eps * -log sigmoid(-beta h).
print("\n3. A flipped label")
flipped = [i for i, q in enumerate(pairs) if q["gold_chosen"] < q["gold_rejected"]]
if flipped:
    print(f"  pairs whose chosen reply has the lower gold score: {flipped} (gold chosen, rejected: "
          f"{[(round(pairs[i]['gold_chosen'], 2), round(pairs[i]['gold_rejected'], 2)) for i in flipped]})")
else:
    print(f"  none of these {len(pairs)} pairs has its chosen reply below the rejected one in gold; the labeller\n"
          "  flips a pair with probability 1 - sigmoid(gap / TAU), so flipped labels hide among close calls.")
for hh in (0.0, 5.0, 20.0, 50.0):
    t = torch.tensor([hh])
    plain = dpo_loss(t, torch.zeros(1), torch.zeros(1), torch.zeros(1), beta)[0].item()
    smooth = dpo_loss(t, torch.zeros(1), torch.zeros(1), torch.zeros(1), beta, label_smoothing=0.1)[0].item()
    print(f"  policy margin h = {hh:4.0f} in the label's direction: plain loss {plain:.4f}, "
          f"label_smoothing 0.1 {smooth:.4f}")
print("  The plain loss keeps falling towards 0 as the policy follows a label further, right or wrong. With\n"
      "  label smoothing the loss has a minimum at a finite margin and rises again beyond it: the policy is never\n"
      "  pushed to be certain of any one label, so a flipped one cannot drag it far.")
