"""Solutions to the exercises of notebook 2 (SFT). Run from the repository root:

    python notebooks/solutions/02_sft_chat_template.py
"""
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from data.tinyworld import STYLE_MIX, UNSAFE_STYLE_MIX, ensure_tinyworld  # noqa: E402
from tokenizer import get_tokenizer, render_conversation  # noqa: E402

world = ensure_tinyworld(ROOT / "data" / "tinyworld")
enc = get_tokenizer(str(world / "tokenizer.bpe"))

# 1. Every assistant turn is masked 1, the first reply included: the model is trained on all of them.
print("1. A two-turn conversation")
conv = [{"role": "user", "content": "Hi! I am Mia."}, {"role": "assistant", "content": "Hello, Mia!"},
        {"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "2 plus 3 is 5."}]
ids, mask = render_conversation(enc, conv)
print("  " + " ".join(f"[{enc.decode([i])}]" if m else enc.decode([i]) for i, m in zip(ids, mask)))
print("  (brackets: mask 1) Both replies and their <|end|> are trained on. That is usually what you want: the\n"
      "  earlier reply is also the assistant's behaviour. If an earlier turn was written by a weaker model (or\n"
      "  is only context), set its mask to 0 and train on the last reply only.")

# 2. The share of tokens SFT trains on.
print("\n2. How much of the SFT data is trained on")
rows = [json.loads(line) for line in open(world / "sft_train.jsonl")]
n_tokens = n_trained = 0
for r in rows:
    ids, mask = render_conversation(enc, r["messages"])
    n_tokens += len(ids) - 1  # the model reads ids[:-1] and predicts ids[1:]
    n_trained += sum(mask[1:])
print(f"  {n_trained:,} of {n_tokens:,} predicted tokens have mask 1: {n_trained / n_tokens:.1%}")
print("  Every token costs a forward and a backward pass, but only that share produces gradient: per useful\n"
      "  token SFT costs more than pre-training, where every prediction counts.")

# 3. The expected gold score of a demonstration, on prompts distributed like the held-out ones the SFT model was
#    evaluated on: sum over tasks P(task) * sum over styles P(style | task) * gold(style, task).
print("\n3. The mixture's expected score against the SFT model's")
meta = json.loads((world / "meta.json").read_text())
by = meta["gold_mean_by_style_and_task"]
tasks = Counter(json.loads(line)["task"] for line in open(world / "prompts_val.jsonl"))
n = sum(tasks.values())
expected = 0.0
for task, count in tasks.items():
    mix = UNSAFE_STYLE_MIX if task == "unsafe" else STYLE_MIX
    expected += count / n * sum(w * by[style][task] for style, w in mix.items())
real = json.loads((ROOT / "notebooks" / "data" / "pipeline" / "metrics.json").read_text())["sft"]["sft"]
print(f"  a reply drawn like a demonstration scores {expected:+.2f} on average; the SFT model {real['gold_mean']:+.2f}")
print("  Copying the style mixture perfectly would give the mixture's score. The model falls short because it\n"
      "  also gets facts wrong that its demonstrations got right (a small model that saw each combination a few\n"
      "  times, or never: held-out prompts ask about combinations it was not trained on), mixes styles within one\n"
      "  reply, and sometimes writes broken sentences. SFT copies the behaviour, not the knowledge behind it.")
