"""Solutions to the exercises of notebook 7 (GRPO). Run from the repository root:

    python notebooks/solutions/07_grpo.py
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from evaluate import pass_at_k  # noqa: E402
from grpo import group_advantages  # noqa: E402

DATA = ROOT / "notebooks" / "data" / "pipeline"
data = json.loads((DATA / "grpo_groups.json").read_text())
G, groups = data["settings"]["group_size"], data["groups"]


# 1. The three estimators, written out. Rewards come in groups of G consecutive replies.
def my_group_advantages(rewards, G, estimator, eps=1e-4):
    r = rewards.view(-1, G)
    mean = r.mean(1, keepdim=True)
    if estimator == "grpo":  # standardised within the group (sample std, divided by G - 1)
        adv = (r - mean) / (r.std(1, keepdim=True) + eps)
    elif estimator == "dr_grpo":  # centred only
        adv = r - mean
    else:  # rloo: the baseline is the mean of the other G - 1 replies
        adv = r - (r.sum(1, keepdim=True) - r) / (G - 1)
    return adv.flatten()


print("1. Group advantages written out, checked against grpo.group_advantages")
for estimator in ("grpo", "dr_grpo", "rloo"):
    worst = 0.0
    for group in groups:
        for name in ("sft", "grpo"):
            r = torch.tensor([float(x["solved"]) for x in group[name]])
            worst = max(worst, (my_group_advantages(r, G, estimator) - group_advantages(r, G, estimator)).abs().max().item())
    print(f"  {estimator:8s} largest difference over {2 * len(groups)} real groups: {worst:.1e}")
print("  RLOO, c right of G: a right reply's baseline is (c - 1) / (G - 1), so its advantage is\n"
      "  1 - (c - 1) / (G - 1) = (G - c) / (G - 1); a wrong reply's is -c / (G - 1).")
c = 3
r = torch.tensor([1.0] * c + [0.0] * (G - c))
print(f"  e.g. G = {G}, c = {c}: right {group_advantages(r, G, 'rloo')[0]:.4f} = {(G - c) / (G - 1):.4f}, "
      f"wrong {group_advantages(r, G, 'rloo')[-1]:.4f} = {-c / (G - 1):.4f}")

# 2. pass@k from n = G replies with c right: 1 - C(n - c, k) / C(n, k).
print("\n2. pass@k from the exported groups")
for group in groups:
    for name in ("sft", "grpo"):
        n, c = G, sum(x["solved"] for x in group[name])
        row = {k: pass_at_k(n, c, k) for k in (1, 2, 4)}
        naive = {k: 1 - (1 - c / n) ** k for k in (2, 4)}
        print(f"  {name:4s} {c}/{n} right: pass@1 {row[1]:.3f} (= c/n {c / n:.3f}), pass@2 {row[2]:.3f} "
              f"(naive {naive[2]:.3f}), pass@4 {row[4]:.3f} (naive {naive[4]:.3f})  {group['problem'][:40]}...")
print("  pass@k is the share of the k-subsets of the n replies that hold a right one: drawing k without\n"
      "  replacement from these n. The naive 1 - (1 - c/n)^k draws with replacement, as if c/n were the true\n"
      "  rate; it is biased (it differs whenever 1 < k and 0 < c < n), and with k = n it still says less than 1\n"
      "  when the n replies hold a right one, while pass@n is then exactly 1.")

# 3. The share of groups that teach, predicted from the iteration's mean reward.
print("\n3. Mixed groups: predicted from the mean reward vs logged")
log = [json.loads(line) for line in open(DATA / "grpo_log.jsonl")]
pred = [1 - r["reward"] ** G - (1 - r["reward"]) ** G for r in log]
real = [r["mixed"] for r in log]
print(f"  mean over {len(log)} iterations: predicted {sum(pred) / len(pred):.3f}, logged {sum(real) / len(real):.3f}; "
      f"the prediction is higher on {sum(p > m for p, m in zip(pred, real))} of {len(log)} iterations")
print("  f(p) = 1 - p^G - (1 - p)^G is concave, and the problems are not equally hard: some are almost always\n"
      "  solved, many almost never. The mean of f over the problems' own p is below f of their mean p (Jensen),\n"
      "  so the prediction from the batch's mean reward is too high: fewer groups teach than one p suggests.")
