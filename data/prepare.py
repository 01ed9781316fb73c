"""
Prepare any plain-text file for pre-training: tokenise it into train.bin / val.bin, plus meta.json.

    python -m data.prepare --input shakespeare.txt --tokenizer gpt2 --out data/shakespeare
    python -m data.prepare --input notes.txt --tokenizer tinyworld --out data/notes
    python pretrain.py --data_dir data/shakespeare

Documents are separated by blank lines (a file without blank lines is one document); each one is written
as <|endoftext|> followed by its tokens, so the model learns where a document starts. The last `val_frac`
of the documents is held out for validation (of the tokens, when the file is a single document).
Token ids are stored as np.uint16 when the vocabulary fits in 16 bits (n_vocab < 65536; GPT-2's 50,260 do),
else np.uint32; meta.json records which, with the tokenizer's identity (enc.name) and the token counts.
With a .bpe tokenizer (or "tinyworld": the default world's, generated if missing) the file is copied to
DIR/tokenizer.bpe, so the stage scripts find it.

`--download shakespeare` first fetches the tiny-Shakespeare text (about 1 MB) for users who are online;
nothing in the project depends on it.
"""

import argparse
import json
import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir
from tokenizer import get_tokenizer

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def split_documents(text):
    """Text -> documents: the pieces between blank lines, stripped of surrounding white space."""
    return [d.strip() for d in re.split(r"\n[ \t\r\f\v]*\n", text) if d.strip()]


def prepare_text(text, enc, out_dir, val_frac=0.1):
    """Tokenise text into out_dir/train.bin, out_dir/val.bin and out_dir/meta.json; returns the meta dict."""
    if not 0 < val_frac < 1:
        raise ValueError(f"val_frac must be between 0 and 1 (exclusive), not {val_frac}")
    docs = split_documents(text)
    if not docs:
        raise ValueError("the text is empty: nothing to tokenise")
    bos = enc.encode_single_token("<|endoftext|>")
    if len(docs) >= 2:  # hold out whole documents, at least one on each side
        n_val = min(len(docs) - 1, max(1, round(len(docs) * val_frac)))
        splits = {"train": docs[:-n_val], "val": docs[-n_val:]}
        ids = {}
        for split, part in splits.items():
            ids[split] = [t for doc_ids in enc.encode_ordinary_batch(part) for t in [bos] + doc_ids]
    else:  # one long document: cut its tokens
        all_ids = [bos] + enc.encode_ordinary(docs[0])
        cut = max(1, min(len(all_ids) - 1, round(len(all_ids) * (1 - val_frac))))
        ids = {"train": all_ids[:cut], "val": all_ids[cut:]}
    dtype = "uint16" if enc.n_vocab < 2 ** 16 else "uint32"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, arr in ids.items():
        np.array(arr, dtype=dtype).tofile(out / f"{split}.bin")  # (n_tokens,) raw ids, read back by np.memmap
    meta = {"tokenizer": enc.name, "dtype": dtype, "vocab_size": enc.n_vocab, "n_train": len(ids["train"]),
            "n_val": len(ids["val"]), "documents": len(docs)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def download_shakespeare(path):
    """Fetch tiny-Shakespeare to path (needs internet; only for users who ask for it)."""
    try:
        with urllib.request.urlopen(SHAKESPEARE_URL, timeout=30) as r:
            Path(path).write_bytes(r.read())
    except OSError as e:
        raise SystemExit(f"could not download {SHAKESPEARE_URL} ({e}); give a local file with --input") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Tokenise a plain-text file into train.bin/val.bin/meta.json for "
                                 "pretrain.py --data_dir DIR.")
    ap.add_argument("--input", help="a UTF-8 text file; documents separated by blank lines")
    ap.add_argument("--download", choices=["shakespeare"], help="first fetch this text to DIR/input.txt (needs internet)")
    ap.add_argument("--tokenizer", default="gpt2", help="'gpt2', 'tinyworld' (the default world's BPE), or a .bpe file")
    ap.add_argument("--out", required=True, help="output directory DIR")
    ap.add_argument("--val_frac", "--val-frac", type=float, default=0.1, help="fraction held out for validation")
    args = ap.parse_args(argv)

    out = Path(args.out)
    if args.download:
        out.mkdir(parents=True, exist_ok=True)
        args.input = str(out / "input.txt")
        download_shakespeare(args.input)
    if not args.input:
        ap.error("give --input FILE (or --download shakespeare)")
    if not Path(args.input).is_file():
        ap.error(f"--input {args.input}: no such file")
    bpe = None  # the .bpe file of the tokenizer, kept next to the ids it numbers
    if args.tokenizer == "tinyworld":
        bpe = ensure_data_dir(DEFAULT_DATA_DIR) / "tokenizer.bpe"
    elif args.tokenizer != "gpt2":
        bpe = Path(args.tokenizer)
    enc = get_tokenizer(str(bpe) if bpe else "gpt2")
    meta = prepare_text(Path(args.input).read_text(encoding="utf-8"), enc, out, args.val_frac)
    if bpe is not None:
        target = out / "tokenizer.bpe"
        if not (target.exists() and target.samefile(bpe)):
            shutil.copyfile(bpe, target)
    print(f"{args.input}: {meta['documents']:,} documents -> {meta['n_train']:,} train + {meta['n_val']:,} val "
          f"tokens ({enc.name}, {meta['dtype']}) in {out}")
    return meta


if __name__ == "__main__":
    main()
