"""Solutions to the exercises of notebook 8 (tool use). Run from the repository root:

    python notebooks/solutions/08_tool_use.py
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from data.tinyworld import call_is_right, ensure_tinyworld, gold_breakdown, run_tool  # noqa: E402
from tokenizer import CALL, CALL_END, get_tokenizer, render_conversation, special_id  # noqa: E402

world = ensure_tinyworld(ROOT / "data" / "tinyworld")
enc = get_tokenizer(str(world / "tokenizer.bpe"))
tools = json.loads((ROOT / "notebooks" / "data" / "pipeline" / "tools.json").read_text())

# 1. Malformed calls get an error text.
print("1. Malformed calls")
for call in ["calc 4 plus", "calc nine minus ten", "lookup the food of a cow", "lookup Mia"]:
    print(f"  {call!r:28s} -> {run_tool(call)!r}")
print("  (The calculator goes below zero, in the call's own number form.) In batched generation one\n"
      "  row's call runs while 31 other rows are mid-reply: an exception would end the whole batch, every row's\n"
      "  reply lost for one bad call. An error text is a result like any other: the model reads it, and a bad\n"
      "  call costs only that reply.")

# 2. The share of mask-1 tokens that are the call's own, in the tool demonstrations.
print("\n2. What the SFT loss trains on")
call_tokens = trained = 0
for line in open(world / "sft_tools_train.jsonl"):
    d = json.loads(line)
    if not d["tool"]:
        continue
    ids, mask = render_conversation(enc, d["messages"])
    inside = False
    for i, m in zip(ids, mask):
        if i == special_id(enc, CALL):
            inside = True
        trained += m
        call_tokens += m and inside
        if i == special_id(enc, CALL_END):
            inside = False
print(f"  {call_tokens} of {trained} mask-1 tokens ({call_tokens / trained:.1%}) are <|call|> ... <|call_end|>")
print("  With mask 1 on the results too, the model would be trained to write the results itself: the facts and\n"
      "  sums the tool knows. At generation time the runtime still writes them, but a model asked about a fact\n"
      "  it does not know could just as well write <|result|> and a made-up answer itself (replies.py treats a\n"
      "  result marker the model writes as a broken stop, but the habit would be learned): the point of a tool is\n"
      "  that the model need not know the answer.")

# 3. How often a call is right, and what else must go right.
print("\n3. Calls that are right")
for t in tools["traces"]:
    call = t["calls"][0][0]
    print(f"  {t['task']:10s} call {call!r:32s} right: {call_is_right(t['prompt'], call)}; reply correct: {t['correct']}")
row = tools["table"]["sft_tools"]
print(f"  over every held-out prompt: {row['tool_calls']:.2f} calls per reply, of which {row['tool_calls_right']:.3f} right")
prompt = "What is 7 plus 8?"
for text in ("Sure! 7 plus 8 is 15.", "Sure! 7 plus 8 is 16.", "Sure! 15. 7 plus 8 is 14."):
    b = gold_breakdown(prompt, text)
    print(f"  after the right call 'calc 7 plus 8' -> {run_tool('calc 7 plus 8')}: reply {text!r:32s} "
          f"correct {b['correct']}")
print("  A right call is not a right reply: the model must copy the result into the answer (it can copy it\n"
      "  wrongly, or write another number next to it), end the reply with <|end|>, and say nothing false beside\n"
      "  it. The judge reads only what the reader sees.")
