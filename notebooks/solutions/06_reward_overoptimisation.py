"""Solutions to the exercises of notebook 6 (reward over-optimisation). Run from the repository root:

    python notebooks/solutions/06_reward_overoptimisation.py
"""
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "pipeline"
runs = {"default": [json.loads(line) for line in open(DATA / "ppo_log.jsonl")],
        "kl_coef 0": [json.loads(line) for line in open(DATA / "ppo_nokl_log.jsonl")]}


def smooth(xs, k=5):
    return [sum(xs[max(0, i - k + 1): i + 1]) / len(xs[max(0, i - k + 1): i + 1]) for i in range(len(xs))]


def corr(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


# 1. The smoothed gold peak, the KL there and at the end.
print("1. The KL at the gold peak")
for name, log in runs.items():
    gold, kl, rm = (smooth([r[k] for r in log]) for k in ("gold", "kl", "rm_score"))
    peak = max(range(len(gold)), key=gold.__getitem__)
    print(f"  {name:10s} gold peaks at iteration {log[peak]['step']}: gold {gold[peak]:+.2f}, KL {kl[peak]:.2f} nats, "
          f"RM {rm[peak]:+.2f}; at the end (iteration {log[-1]['step']}): gold {gold[-1]:+.2f}, KL {kl[-1]:.2f}, "
          f"RM {rm[-1]:+.2f}")
    if name == "kl_coef 0":
        print(f"  after its peak the run without penalty spent {kl[-1] - kl[peak]:.2f} more nats of KL, which bought "
              f"{rm[-1] - rm[peak]:+.2f} in RM score and cost {gold[peak] - gold[-1]:.2f} in gold")

# 2. Correlation between the RM score and gold over iterations, first and last third.
print("\n2. Does the proxy track the truth?")
for name, log in runs.items():
    third = len(log) // 3
    for part, rows in (("first third", log[:third]), ("last third", log[-third:])):
        print(f"  {name:10s} {part:11s}: correlation(RM score, gold) over {len(rows)} iterations "
              f"{corr([r['rm_score'] for r in rows], [r['gold'] for r in rows]):+.2f}")
print("  Early on, iterations with a higher RM score also have a higher gold score: the proxy ranks checkpoints\n"
      "  usefully. Late in the run without penalty the link weakens or reverses: the highest RM score is no\n"
      "  longer the best policy, so the RM score alone cannot choose the checkpoint; a held-out judgement (or a\n"
      "  KL budget) has to.")

# 3. A rule from RM score and KL alone: stop at a KL budget, or when the smoothed RM score stops rising.
print("\n3. Stopping rules that do not look at gold")


def stop_at_kl(log, budget):
    kl = smooth([r["kl"] for r in log])
    return next((i for i, k in enumerate(kl) if k > budget), len(log) - 1)


def stop_when_flat(log, window=10, min_gain=0.05):
    rm = smooth([r["rm_score"] for r in log])
    return next((i for i in range(window, len(rm)) if rm[i] - rm[i - window] < min_gain), len(log) - 1)


for name, log in runs.items():
    gold = smooth([r["gold"] for r in log])
    best = max(gold)
    for rule, i in (("KL budget 2 nats", stop_at_kl(log, 2.0)), ("KL budget 5 nats", stop_at_kl(log, 5.0)),
                    ("RM flat over 10 iterations", stop_when_flat(log))):
        print(f"  {name:10s} {rule:27s}: stops at iteration {log[i]['step']:3d}, gold {gold[i]:+.2f} "
              f"(best of the run {best:+.2f})")
print("  A small KL budget keeps the policy near the SFT model whatever the reward model says: on the run\n"
      "  without penalty it stops before the RM score's climb turns into a gold loss; a large budget lets the\n"
      "  loss happen. A flattening RM score only works where something else (the KL penalty) makes the proxy\n"
      "  level off: without the penalty the proxy keeps rising while the truth falls, and the rule stops late.")
