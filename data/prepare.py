"""
Prepare any plain-text file for pre-training: tokenise it into train.bin / val.bin, plus meta.json.

    python -m data.prepare --input shakespeare.txt --tokenizer bpe:2048 --out data/shakespeare
    python -m data.prepare --input shakespeare.txt --tokenizer gpt2 --out data/shakespeare_gpt2
    python -m data.prepare --input notes.txt --tokenizer tinyworld --out data/notes
    python pretrain.py --data_dir data/shakespeare

Documents are separated by blank lines (a file without blank lines is one document); each one is written
as <|endoftext|> followed by its tokens, so the model learns where a document starts. The last `val_frac`
of the documents is held out for validation; a file that is a single document is cut in two at a gap between
words near (1 - val_frac) of its characters. The split is made on the text, before tokenising, so every
tokenizer holds out the same text (and bits per byte compare across tokenizers).

`--tokenizer bpe:N` trains a byte-level BPE of N tokens (256 bytes + N - 256 merges, then the 4 special
tokens) on the training split only, with tokenizer.train_bpe: the validation text is never seen by the
tokenizer, as it is never seen by the model. The tokenizer is written to DIR/tokenizer.bpe; with a .bpe file
(or "tinyworld") that file is copied there. The stage scripts find DIR/tokenizer.bpe by themselves.
Token ids are stored as np.uint16 when the vocabulary fits in 16 bits (n_vocab < 65536; GPT-2's 50,260 do),
else np.uint32; meta.json records which, with the tokenizer's identity (enc.name) and the token counts.

`--download shakespeare` first fetches the tiny-Shakespeare text (about 1 MB) for users who are online;
nothing in the project depends on it.

A folder that already holds prepared data is not overwritten unless `--overwrite` is given; an input that is
not a UTF-8 text file with some text in it is refused in one line that names it.
"""

import argparse
import bisect
import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

import numpy as np

from config import check_args, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir
from tokenizer import get_tokenizer

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def split_documents(text):
    """Text -> documents: the pieces between blank lines, stripped of surrounding white space."""
    return [d.strip() for d in re.split(r"\n[ \t\r\f\v]*\n", text) if d.strip()]


def split_train_val(docs, val_frac=0.1):
    """Documents -> (train texts, val texts), on the text itself, before any tokenizer.

    Two documents or more: the last `val_frac` of them are held out, at least one on each side. A single
    document is cut in two just before the white space (a gap between words) nearest to (1 - val_frac) of its
    characters, so no word is split and the two halves tokenise as the whole would.
    """
    if not 0 < val_frac < 1:
        raise ValueError(f"val_frac must be between 0 and 1 (exclusive), not {val_frac}")
    if not docs:
        raise ValueError("the text is empty: nothing to tokenise")
    if len(docs) >= 2:
        n_val = min(len(docs) - 1, max(1, round(len(docs) * val_frac)))
        return docs[:-n_val], docs[-n_val:]
    doc = docs[0]
    if len(doc) < 2:
        raise ValueError(f"a single document of {len(doc)} character(s) cannot be split into train and val")
    target = round(len(doc) * (1 - val_frac))
    gaps = [m.start() for m in re.finditer(r"(?<=\S)\s", doc)]  # white space right after a non-space
    k = bisect.bisect_left(gaps, target)
    near = gaps[max(0, k - 1): k + 1]  # the gaps just before and just after the target
    cut = min(near, key=lambda g: abs(g - target)) if near else target
    cut = max(1, min(len(doc) - 1, cut))
    return [doc[:cut]], [doc[cut:]]


def prepare_text(text, enc, out_dir, val_frac=0.1, extra_meta=None):
    """Tokenise text into out_dir/train.bin, out_dir/val.bin and out_dir/meta.json; returns the meta dict."""
    docs = split_documents(text)
    train_docs, val_docs = split_train_val(docs, val_frac)
    bos = enc.encode_single_token("<|endoftext|>")
    ids = {split: [t for doc_ids in enc.encode_ordinary_batch(part) for t in [bos] + doc_ids]
           for split, part in (("train", train_docs), ("val", val_docs))}
    if len(docs) == 1:  # the validation text continues the training text's document: no new start there
        ids["val"] = ids["val"][1:]
    dtype = "uint16" if enc.n_vocab < 2 ** 16 else "uint32"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, arr in ids.items():
        np.array(arr, dtype=dtype).tofile(out / f"{split}.bin")  # (n_tokens,) raw ids, read back by np.memmap
    meta = {"tokenizer": enc.name, "dtype": dtype, "vocab_size": enc.n_vocab, "n_train": len(ids["train"]),
            "n_val": len(ids["val"]), "documents": len(docs), **(extra_meta or {})}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def bpe_size(spec):
    """'bpe:N' -> N, the number of tokens of the BPE to train; a one-line ValueError if N is not a number >= 256."""
    n = spec[len("bpe:"):]
    if not re.fullmatch(r"[0-9]+", n):
        raise ValueError(f"--tokenizer {spec}: N in bpe:N must be a whole number of tokens, e.g. bpe:2048")
    if int(n) < 256:
        raise ValueError(f"--tokenizer {spec}: N must be at least 256 (one token per byte value), e.g. bpe:2048")
    return int(n)


def train_tokenizer(train_docs, vocab_size, path):
    """Train a byte-level BPE of at most vocab_size tokens on the training documents, write it to path (tiktoken's
    format) and return its Encoding. The documents are joined by a line break: a one-byte word that has no
    pair to merge, so the merges are those of the documents themselves."""
    from tokenizer import get_tokenizer, save_bpe, train_bpe
    t0 = time.time()
    text = "\n".join(train_docs)
    ranks = train_bpe(text, vocab_size)
    save_bpe(ranks, path)
    print(f"trained a byte-level BPE of {len(ranks):,} tokens on the training split only ({len(text.encode()):,} "
          f"bytes; the validation text is not seen) in {time.time() - t0:.1f}s -> {path}")
    return get_tokenizer(str(path))


def download_shakespeare(path):
    """Fetch tiny-Shakespeare to path (needs internet; only for users who ask for it)."""
    try:
        with urllib.request.urlopen(SHAKESPEARE_URL, timeout=30) as r:
            Path(path).write_bytes(r.read())
    except OSError as e:
        raise SystemExit(f"could not download {SHAKESPEARE_URL} ({e}); give a local file with --input") from None


PREPARED = ("meta.json", "train.bin", "val.bin")  # what prepare_text writes


def check_out(out, overwrite):
    """--out must be a folder (or not exist yet), and data prepared there before is replaced only with
    --overwrite: a user's tokenised data never vanishes without a word."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder")
    there = [name for name in PREPARED if (out / name).exists()]
    if there and not overwrite:
        raise ValueError(f"--out {out}: already holds prepared data ({', '.join(there)}); add --overwrite to "
                         f"replace it, or give another --out")


def read_input(path):
    """The text of --input: a UTF-8 file with some text in it, or a one-line ValueError naming it."""
    if not path:
        raise ValueError("give --input FILE (or --download shakespeare)")
    if Path(path).is_dir():
        raise ValueError(f"--input {path}: is a folder, not a file")
    if not Path(path).is_file():
        raise ValueError(f"--input {path}: no such file")
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--input {path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                         f"convert it to UTF-8 first") from None
    if not text.strip():
        raise ValueError(f"--input {path}: no text in it (the file is empty or only white space)")
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description="Tokenise a plain-text file into train.bin/val.bin/meta.json for "
                                 "pretrain.py --data_dir DIR.")
    ap.add_argument("--input", help="a UTF-8 text file; documents separated by blank lines")
    ap.add_argument("--download", choices=["shakespeare"], help="first fetch this text to DIR/input.txt (needs internet)")
    ap.add_argument("--tokenizer", default="gpt2", help="'bpe:N' (train an N-token byte-level BPE on the training "
                    "split, written to DIR/tokenizer.bpe), 'gpt2', 'tinyworld' (the default world's BPE, generated "
                    "if missing), or the path of a .bpe file")
    ap.add_argument("--out", required=True, help="output directory DIR")
    ap.add_argument("--val_frac", "--val-frac", type=float, default=0.1, help="fraction held out for validation")
    ap.add_argument("--overwrite", action="store_true", help="replace the data already prepared in DIR")
    args = ap.parse_args(argv)
    check_args(args, val_frac=dict(above=0, below=1))

    vocab_size = None
    if args.tokenizer.startswith("bpe:"):
        try:
            vocab_size = bpe_size(args.tokenizer)
        except ValueError as e:
            ap.error(str(e))
    out = Path(args.out)
    check_out(out, args.overwrite)
    if args.download:
        out.mkdir(parents=True, exist_ok=True)
        args.input = str(out / "input.txt")
        download_shakespeare(args.input)
    text = read_input(args.input)
    target = out / "tokenizer.bpe"
    extra_meta = None
    bpe = None  # the .bpe file of a given tokenizer, kept next to the ids it numbers
    if vocab_size is not None:
        train_docs, _ = split_train_val(split_documents(text), args.val_frac)
        enc = train_tokenizer(train_docs, vocab_size, target)
        extra_meta = {"tokenizer_trained": f"{args.tokenizer} on the training split"}
    else:
        if args.tokenizer == "tinyworld":
            bpe = ensure_data_dir(DEFAULT_DATA_DIR) / "tokenizer.bpe"
        elif args.tokenizer != "gpt2":
            bpe = Path(args.tokenizer)
        enc = get_tokenizer(str(bpe) if bpe else "gpt2")
    meta = prepare_text(text, enc, out, args.val_frac, extra_meta)
    if args.tokenizer == "gpt2" and target.exists():  # a tokenizer left by an earlier run would be picked up
        target.unlink()
    elif bpe is not None:
        if not (target.exists() and target.samefile(bpe)):
            shutil.copyfile(bpe, target)
    print(f"{args.input}: {meta['documents']:,} documents -> {meta['n_train']:,} train + {meta['n_val']:,} val "
          f"tokens ({enc.name}, {meta['dtype']}) in {out}")
    return meta


if __name__ == "__main__":
    run(main, name="data.prepare")
