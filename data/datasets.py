"""
What a stage reads: its data directory, the tokenizer that comes with it, and its JSONL files rendered into
token ids with the chat template.

- `DEFAULT_DATA_DIR` is the default world's folder; `ensure_data_dir` generates the tinyworld there when it is
  missing, and insists that any other data directory already exists;
- `tokenizer_for`: the tokenizer of a stage, --tokenizer if given, else the data directory's own;
- `render_conversations` / `render_preferences`: SFT conversations and preference pairs as token ids and
  masks (1 on what the assistant says), without the ones longer than the model's context (and the pairs
  whose two replies are the same);
- `prompts_that_fit`: the prompts of a file that leave the model room to reply.
"""

import json
from pathlib import Path

from data.formats import load_conversations, load_preferences, load_prompts
from data.tinyworld import ensure_tinyworld, parse_problem
from tokenizer import get_tokenizer, render_conversation, render_prompt

DEFAULT_DATA_DIR = "data/tinyworld"  # the default world, relative to the directory the scripts run in


def ensure_data_dir(data_dir):
    """The tinyworld is generated on first use; any other data directory must already exist."""
    path = Path(data_dir)
    if not (path / "meta.json").exists():
        if path.resolve() == Path(DEFAULT_DATA_DIR).resolve():
            return ensure_tinyworld(DEFAULT_DATA_DIR)
        raise FileNotFoundError(f"data directory {data_dir}: no meta.json there (make one with "
                                f"`python -m data.tinyworld --out {data_dir}` or `python -m data.prepare`)")
    return path


def tokenizer_for(data_dir, name=""):
    """The tokenizer of a stage: `name` if given ('gpt2' or a path to a .bpe file), else data_dir/tokenizer.bpe."""
    if name:
        return get_tokenizer(name)
    bpe = Path(data_dir) / "tokenizer.bpe"
    if bpe.exists():
        return get_tokenizer(str(bpe))
    meta = Path(data_dir) / "meta.json"
    if meta.exists():  # e.g. a real-text directory made by data/prepare.py with the gpt2 encoding
        recorded = json.loads(meta.read_text()).get("tokenizer", "")
        if recorded == "gpt2":
            return get_tokenizer("gpt2")
    raise FileNotFoundError(f"no tokenizer for {data_dir}: expected {bpe}, or pass --tokenizer gpt2|PATH.bpe")


def render_conversations(enc, path, block_size):
    """JSONL conversations -> ([(ids, mask), ...], n_dropped), rendered with the chat template (mask 1 on the
    assistant's tokens and their <|end|>). The model reads ids[:-1], so a conversation of more than
    block_size + 1 tokens is dropped (and counted), not truncated: a truncated reply has no <|end|> to learn."""
    examples, dropped = [], 0
    for conv in load_conversations(path):
        ids, mask = render_conversation(enc, conv)
        if len(ids) - 1 > block_size:
            dropped += 1
            continue
        examples.append((ids, mask))
    if not examples:
        raise ValueError(f"{path}: no conversation fits in the model's context of {block_size} tokens")
    return examples, dropped


def render_preferences(enc, path, block_size):
    """JSONL preference pairs -> ([pair, ...], n_dropped). Each pair is the file's record plus chosen_ids,
    chosen_mask, rejected_ids, rejected_mask: <|endoftext|><|user|>prompt<|end|><|assistant|>reply<|end|> and
    its mask (1 on the reply and its <|end|>). A pair whose longer side has more than block_size tokens is
    dropped (and counted): a truncated reply would lose the <|end|> where the reward model reads its score.
    A pair whose chosen and rejected replies are the same text says nothing (its loss has zero gradient): it is
    dropped too, and a printed note counts those."""
    pairs, dropped = [], 0
    records = load_preferences(path)
    same = [p for p in records if p["chosen"] == p["rejected"]]
    if same:
        print(f"note: {path}: {len(same)} of {len(records)} pairs have the same chosen and rejected reply (no "
              f"preference to learn): dropped")
    for p in records:
        if p["chosen"] == p["rejected"]:
            continue
        chosen = render_conversation(enc, [{"role": "user", "content": p["prompt"]},
                                           {"role": "assistant", "content": p["chosen"]}])
        rejected = render_conversation(enc, [{"role": "user", "content": p["prompt"]},
                                             {"role": "assistant", "content": p["rejected"]}])
        if max(len(chosen[0]), len(rejected[0])) > block_size:
            dropped += 1
            continue
        pairs.append({**p, "chosen_ids": chosen[0], "chosen_mask": chosen[1], "rejected_ids": rejected[0],
                      "rejected_mask": rejected[1]})
    if not pairs:
        raise ValueError(f"{path}: no pair fits in the model's context of {block_size} tokens"
                         + (" (and with two different replies)" if same else ""))
    return pairs, dropped


def prompts_that_fit(enc, path, block_size, limit=None):
    """The prompts of a JSONL file (its first `limit`, if given) that leave the model room to reply -> a list of
    strings. A prompt whose chat-template rendering fills the context (block_size tokens or more) is dropped, and
    a printed note counts those: sampling a reply to it would fail."""
    prompts = load_prompts(path)[:limit]
    kept = [p for p in prompts if len(render_prompt(enc, p)) < block_size]
    if len(kept) < len(prompts):
        print(f"note: {path}: {len(prompts) - len(kept)} of {len(prompts)} prompts fill the model's context of "
              f"{block_size} tokens, leaving no room for a reply: dropped")
    if prompts and not kept:
        raise ValueError(f"{path}: no prompt leaves room for a reply in the model's context of {block_size} tokens")
    return kept


def word_problems_that_fit(enc, path, block_size, why):
    """The tinyworld's word problems (those data.tinyworld.parse_problem reads) among prompts_that_fit(enc, path,
    block_size); none is a ValueError that ends with `why` (the option and what needs them)."""
    problems = [p for p in prompts_that_fit(enc, path, block_size) if parse_problem(p)]
    if not problems:
        raise ValueError(f"{path}: no word problem among its prompts ({why})")
    return problems
