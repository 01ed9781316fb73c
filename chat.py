"""
Talk to any stage's model in the terminal, or ask several models the same question side by side.

    python chat.py                               # chat with out/ppo (type a message, Enter; Ctrl-D to quit)
    python chat.py --checkpoint out/sft --temperature 0.7 --top_k 20
    python chat.py --compare out/pretrain out/sft out/ppo out/dpo --prompt "What is 3 plus 4?"
    echo "Where does Mia live?" | python chat.py --checkpoint out/dpo
    python chat.py --raw --checkpoint out/shakespeare --data_dir data/shakespeare --prompt "ROMEO:"

The conversation is rendered with the same chat template the models were trained on; replies stream token by
token and stop where replies.py stops every reply (at <|end|>, or at a turn the model should not write). A
pre-trained (not fine-tuned) model has never seen the template: it continues text instead of answering, which
is the point of comparing it with the others. /reset starts a new conversation.
--raw skips the template: the prompt is the start of a document, and the model writes on until it would start
a new one (<|endoftext|>) or reaches --max_new_tokens: how to sample a model pre-trained on your own text.
A tool-using model (a checkpoint whose name contains "tools", or --tools on) calls the tinyworld's calculator and
lookup while it answers; the calls and results are shown in brackets, [call: calc 3 plus 4] [result: 7]:

    python chat.py --checkpoint out/sft_tools --prompt "How much is 7 plus 8?"
"""

import argparse
import sys

import torch

from config import check_args, run
from data.datasets import DEFAULT_DATA_DIR, tokenizer_for
from data.tinyworld import run_tool
from device import get_device
from evaluate import uses_tools
from model import load_model
from replies import PromptTooLong, generate_replies, stop_ids
from tokenizer import BOS, CALL, CALL_END, RESULT, RESULT_END, SPECIAL_TOKENS, special_id

SHOW = {CALL: "[call: ", CALL_END: "] ", RESULT: "[result:", RESULT_END: "] "}  # how tool calls are printed (a
# result's text starts with a space: tokenizer.result_ids)


TOO_LONG = "(the prompt is longer than the model's context of {} tokens: no room for a reply)"


def reply(model, enc, messages, args, device, stream=None, tools=None):
    """The assistant's next reply to `messages` (a replies.Reply), or None when the conversation no longer fits in
    the model's context; stream(text), if given, is called with each new piece of text as it is sampled or
    inserted (tool calls and results in brackets). tools: runs the model's tool calls."""
    stops = set(stop_ids(enc))
    shown = {special_id(enc, t): text for t, text in SHOW.items()}

    def on_token(tokens):  # (1,): this step's token
        token = int(tokens[0])
        if stream is not None and (token in shown or token not in stops):
            stream(shown.get(token) or enc.decode([token]))

    try:
        (answer,) = generate_replies(model, enc, [messages], max_new_tokens=args.max_new_tokens,
                                     temperature=args.temperature, top_k=args.top_k or None, seed=args.seed,
                                     device=device, on_token=on_token, tools=tools)
    except PromptTooLong:
        return None
    return answer


def with_calls(answer):
    """A reply as the terminal shows it: its tool calls and results in brackets, then its text."""
    return "".join(f"[call: {c}] [result: {r}] " for c, r in answer.calls) + answer.text


def continuation(model, enc, text, args, device, stream=None):
    """What the model writes after `text` at the start of a document (<|endoftext|> + text), without the chat
    template, until any special token (a new document, or chat markers, which are not text); None when the
    prompt leaves no room in the context."""
    ids = [special_id(enc, BOS)] + enc.encode_ordinary(text)
    room = model.config.block_size - len(ids)
    if room <= 0:
        return None
    stops = [special_id(enc, t) for t in SPECIAL_TOKENS]

    def on_token(tokens):  # (1,): this step's token
        if stream is not None and int(tokens[0]) not in stops:
            stream(enc.decode([int(tokens[0])]))

    generator = torch.Generator(device=device).manual_seed(args.seed)
    new = model.sample(torch.tensor([ids], device=device), min(args.max_new_tokens, room),
                       temperature=args.temperature, top_k=args.top_k or None, stop_tokens=stops,
                       generator=generator, on_token=on_token).tokens[0].tolist()
    return enc.decode([t for t in new if t not in stops])


def main(argv=None):
    ap = argparse.ArgumentParser(description="Chat with a checkpoint, or compare several on one prompt.")
    ap.add_argument("--checkpoint", default="out/ppo", help="checkpoint to chat with")
    ap.add_argument("--compare", nargs="+", help="answer each prompt with every one of these checkpoints")
    ap.add_argument("--prompt", help="one prompt, answered then exit (otherwise prompts are read from stdin)")
    ap.add_argument("--raw", action="store_true", help="continue each prompt as plain text, without the chat template "
                    "(for a pre-trained model, e.g. one trained on your own text)")
    ap.add_argument("--data_dir", "--data-dir", default=DEFAULT_DATA_DIR,
                    help="where the tokenizer is (data_dir/tokenizer.bpe)")
    ap.add_argument("--tokenizer", default="", help="'' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    ap.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (0 = greedy)")
    ap.add_argument("--top_k", "--top-k", type=int, default=0, help="sample among the k likeliest tokens (0 = all)")
    ap.add_argument("--max_new_tokens", "--max-new-tokens", type=int, default=64, help="longest reply")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    ap.add_argument("--tools", default="auto", choices=["auto", "on", "off"],
                    help="run the tinyworld's tools when a model calls one: auto = for checkpoints whose name "
                    "contains 'tools'")
    args = ap.parse_args(argv)
    check_args(args, temperature=dict(at_least=0), top_k=dict(at_least=0), max_new_tokens=dict(at_least=1))
    if args.prompt is not None and not args.prompt.strip():
        raise ValueError("--prompt is empty: give the text to answer")

    device = get_device(args.device)
    enc = tokenizer_for(args.data_dir, args.tokenizer)
    paths = args.compare or [args.checkpoint]
    models, tools = [], {}
    for path in paths:  # a reward model scores replies and cannot write them: refused
        models.append((path, load_model(path, device=device, tokenizer=enc, model_type="GPT")[0]))
        tools[path] = run_tool if args.tools == "on" or (args.tools == "auto" and uses_tools(path)) else None
    interactive = args.prompt is None and sys.stdin.isatty()
    if interactive:
        print(f"chatting with {', '.join(paths)} (temperature {args.temperature}); /reset to start over, Ctrl-D to quit")
    lines = [args.prompt] if args.prompt is not None else sys.stdin
    history = []
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = next(iter(lines), None) if not isinstance(lines, list) else (lines.pop(0) if lines else None)
        if line is None:  # end of input
            if interactive:
                print()
            return 0
        text = line.strip()
        if not text:
            continue
        if text == "/reset":
            history = []
            continue
        if args.compare:  # side by side: each model answers the single prompt afresh
            for path, model in models:
                if args.raw:
                    answer = continuation(model, enc, text, args, device)
                    answer = text + answer if answer is not None else None
                else:
                    answer = reply(model, enc, [{"role": "user", "content": text}], args, device, tools=tools[path])
                    answer = with_calls(answer) if answer is not None else None
                print(f"[{path}] {answer if answer is not None else TOO_LONG.format(model.config.block_size)}")
            print()
            continue
        if args.raw:  # the prompt, then what the model writes after it; no history
            print(text, end="", flush=True)
            answer = continuation(models[0][1], enc, text, args, device, stream=lambda s: print(s, end="", flush=True))
            print("" if answer is not None else TOO_LONG.format(models[0][1].config.block_size))
            continue
        history.append({"role": "user", "content": text})
        print("bot> ", end="", flush=True)
        path, model = models[0]
        answer = reply(model, enc, history, args, device, stream=lambda s: print(s, end="", flush=True),
                       tools=tools[path])
        print()
        if answer is None:
            print("(the conversation is longer than the model's context; starting over)")
            history = []
            continue
        for call, result in answer.calls:  # the turn's tool calls stay in the conversation, before its text
            history += [{"role": "call", "content": call}, {"role": "result", "content": result}]
        history.append({"role": "assistant", "content": answer.text})


if __name__ == "__main__":
    sys.exit(run(main))
