"""Solutions to the exercises of notebook 0 (the tinyworld). Run from the repository root or from notebooks/:

    python notebooks/solutions/00_tinyworld.py
"""
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from data.tinyworld import TAU, ensure_tinyworld, gold_breakdown, preference_probability  # noqa: E402

PARTS = ["correctness", "safety", "tone", "concision", "format"]
world = ensure_tinyworld(ROOT / "data" / "tinyworld")

# 1. Read like the judge. Prediction: polite and right > right but rambling > right plus a false fact, because
#    a false claim anywhere costs the whole correctness credit and more, while rambling only costs concision.
print("1. Three replies to one comparison")
prompt = "Which is bigger, a pig or a duck?"
replies = ["Happy to help! A pig is bigger than a duck.",
           "Well, let me think about this. A pig is bigger than a duck. A pig is bigger than a duck. "
           "I hope this helps.",
           "A pig is bigger than a duck. A duck says moo."]
for reply in replies:
    b = gold_breakdown(prompt, reply)
    print(f"  {b['total']:+.2f}  " + " ".join(f"{p} {b[p]:+.2f}" for p in PARTS) + f"  {reply!r}")
    print(f"         claims {b['claims']}, false {b['false_claims']}")
print("  The first earns correctness and the politeness bonus; the second keeps correctness but pays for the\n"
      "  repeated sentence and the filler (concision); the third states a false fact (a duck says quack), which\n"
      "  turns correctness negative even though the comparison itself is right.")

# 2. The labeller's noise. sigmoid(gap / TAU) = p  <=>  gap = TAU * ln(p / (1 - p)).
print("\n2. Gold gap for a given labelling accuracy")
for p in (0.9, 0.99):
    gap = TAU * math.log(p / (1 - p))
    print(f"  p = {p}: gap = TAU * ln(p / (1 - p)) = {gap:.3f} judge points; "
          f"check: preference_probability(gap, 0) = {preference_probability(gap, 0):.4f}")

# 3. Flipped labels: observed against expected.
print("\n3. Labels that go against gold in prefs_train.jsonl")
prefs = [json.loads(line) for line in open(world / "prefs_train.jsonl")]
differ = [p for p in prefs if p["gold_chosen"] != p["gold_rejected"]]
flipped = sum(p["gold_chosen"] < p["gold_rejected"] for p in differ)
expected = sum(1 - preference_probability(max(p["gold_chosen"], p["gold_rejected"]),
                                          min(p["gold_chosen"], p["gold_rejected"])) for p in differ)
sd = math.sqrt(sum(q * (1 - q) for q in (1 - preference_probability(max(p["gold_chosen"], p["gold_rejected"]),
                                                                      min(p["gold_chosen"], p["gold_rejected"]))
                                         for p in differ)))
z = (flipped - expected) / sd
print(f"  {flipped} of {len(differ)} pairs are labelled against gold; the formula expects {expected:.0f} "
      f"(standard deviation {sd:.0f}), a difference of {z:+.1f} standard deviations: "
      + ("what chance alone gives (within 2), so the labels are as noisy as TAU says." if abs(z) < 2 else
         "more than chance gives: the labels are not drawn as the formula says."))
