"""
Talk to any stage's model in the terminal, or ask several models the same question side by side.

    python chat.py                               # chat with out/ppo (type a message, Enter; Ctrl-D to quit)
    python chat.py --checkpoint out/sft --temperature 0.7 --top_k 20
    python chat.py --compare out/pretrain out/sft out/ppo out/dpo --prompt "What is 3 plus 4?"
    echo "Where does Mia live?" | python chat.py --checkpoint out/dpo
    python chat.py --raw --checkpoint out/shakespeare --data_dir data/shakespeare --prompt "ROMEO:"

The conversation is rendered with the same chat template the models were trained on; replies stream token by
token and stop at <|end|>. A pre-trained (not fine-tuned) model has never seen the template: it continues text
instead of answering, which is the point of comparing it with the others. /reset starts a new conversation.
--raw skips the template: the prompt is the start of a document, and the model writes on until it would start
a new one (<|endoftext|>) or reaches --max_new_tokens: how to sample a model pre-trained on your own text.
"""

import argparse
import sys

import torch

from common import get_device, tokenizer_for
from model import load_model
from tokenizer import ASSISTANT, BOS, END, SPECIAL_TOKENS, USER, render_prompt, special_id


def reply(model, enc, messages, args, device, stream=None):
    """Sample the assistant's next reply to `messages`; stream(text) is called with each new piece of text."""
    stops = [special_id(enc, t) for t in (END, USER, BOS, ASSISTANT)]
    return sample(model, enc, render_prompt(enc, messages), stops, args, device, stream)


def continuation(model, enc, text, args, device, stream=None):
    """Sample what follows `text` at the start of a document (<|endoftext|> + text), without the chat template."""
    stops = [special_id(enc, t) for t in SPECIAL_TOKENS]  # <|endoftext|> ends the document; chat markers are not text
    return sample(model, enc, [special_id(enc, BOS)] + enc.encode_ordinary(text), stops, args, device, stream)


def sample(model, enc, ids, stops, args, device, stream=None):
    """Generate after the prompt `ids` until a stop token, the token limit or the end of the context; the text,
    or None when the prompt leaves no room in the context."""
    room = model.config.block_size - len(ids)
    if room <= 0:
        return None  # the prompt fills the whole context
    pieces = []

    def on_token(tok):
        t = int(tok[0])
        if t not in stops:
            pieces.append(t)
            if stream is not None:
                stream(enc.decode([t]))

    generator = torch.Generator(device=device).manual_seed(args.seed)
    model.generate(torch.tensor([ids], device=device), min(args.max_new_tokens, room), temperature=args.temperature,
                   top_k=args.top_k or None, stop_tokens=stops, generator=generator, callback=on_token)
    return enc.decode(pieces)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Chat with a checkpoint, or compare several on one prompt.")
    ap.add_argument("--checkpoint", default="out/ppo", help="checkpoint to chat with")
    ap.add_argument("--compare", nargs="+", help="answer each prompt with every one of these checkpoints")
    ap.add_argument("--prompt", help="one prompt, answered then exit (otherwise prompts are read from stdin)")
    ap.add_argument("--raw", action="store_true", help="continue each prompt as plain text, without the chat template "
                    "(for a pre-trained model, e.g. one trained on your own text)")
    ap.add_argument("--data_dir", default="data/tinyworld", help="where the tokenizer is (data_dir/tokenizer.bpe)")
    ap.add_argument("--tokenizer", default="", help="'' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    ap.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (0 = greedy)")
    ap.add_argument("--top_k", type=int, default=0, help="sample among the k likeliest tokens (0 = all)")
    ap.add_argument("--max_new_tokens", type=int, default=64, help="longest reply")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    args = ap.parse_args(argv)

    device = get_device(args.device)
    enc = tokenizer_for(args.data_dir, args.tokenizer)
    paths = args.compare or [args.checkpoint]
    models = []
    for path in paths:
        model, ckpt = load_model(path, device=device)
        if ckpt.get("tokenizer") not in (None, enc.name):
            raise ValueError(f"{path} was trained with tokenizer {ckpt['tokenizer']}, not {enc.name}")
        models.append((path, model))
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
                    print(f"[{path}] {text}{answer or ''}")
                else:
                    print(f"[{path}] {reply(model, enc, [{'role': 'user', 'content': text}], args, device)}")
            print()
            continue
        if args.raw:  # the prompt, then what the model writes after it; no history
            print(text, end="", flush=True)
            answer = continuation(models[0][1], enc, text, args, device, stream=lambda s: print(s, end="", flush=True))
            print("" if answer is not None else "(the prompt is longer than the model's context)")
            continue
        history.append({"role": "user", "content": text})
        print("bot> ", end="", flush=True)
        answer = reply(models[0][1], enc, history, args, device, stream=lambda s: print(s, end="", flush=True))
        print()
        if answer is None:
            print("(the conversation is longer than the model's context; starting over)")
            history = []
            continue
        history.append({"role": "assistant", "content": answer})


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"chat.py: {e}")
    except KeyboardInterrupt:
        sys.exit(0)
