"""
Prepare any plain-text file for pre-training: tokenise it into train.bin / val.bin (+ meta.json).

    python -m data.prepare --input shakespeare.txt --tokenizer gpt2 --out data/shakespeare
    python -m data.prepare --input notes.txt --tokenizer tinyworld --out data/notes
    python pretrain.py --data_dir data/shakespeare

Documents are separated by blank lines (a file without blank lines is one document); each one starts with
<|endoftext|>. The last `val_frac` of the documents (or of the tokens, for a single document) is held out.
Token ids are stored as uint16 when the vocabulary fits in 16 bits, else uint32.

`--download shakespeare` fetches the tiny-Shakespeare text for users who are online; nothing depends on it.
"""

import argparse
import json
import re
import urllib.request
from pathlib import Path

import numpy as np

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def prepare_text(text, enc, out_dir, val_frac=0.1, force_dtype=None):
    """Tokenise text into out_dir/{train,val}.bin and meta.json; returns the meta dict."""
    docs = [d.strip() for d in re.split(r"\n\s*\n", text) if d.strip()]
    if not docs:
        raise ValueError("the text is empty")
    bos = enc.encode_single_token("<|endoftext|>")
    dtype = force_dtype or ("uint16" if enc.n_vocab < 2 ** 16 else "uint32")
    if len(docs) >= 2:
        n_val = min(len(docs) - 1, max(1, round(len(docs) * val_frac)))
        parts = {"train": docs[: len(docs) - n_val], "val": docs[len(docs) - n_val:]}
        ids = {k: [t for d in v for t in [bos] + enc.encode_ordinary(d)] for k, v in parts.items()}
    else:  # one long document: split its tokens
        all_ids = [bos] + enc.encode_ordinary(docs[0])
        cut = int(len(all_ids) * (1 - val_frac))
        ids = {"train": all_ids[:cut], "val": all_ids[cut:]}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, arr in ids.items():
        np.array(arr, dtype=dtype).tofile(out / f"{split}.bin")
    meta = {"tokenizer": enc.name, "dtype": dtype, "vocab_size": enc.n_vocab, "n_train": len(ids["train"]),
            "n_val": len(ids["val"]), "documents": len(docs)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Tokenise a text file into train.bin/val.bin for pretrain.py.")
    ap.add_argument("--input", help="a UTF-8 text file")
    ap.add_argument("--download", choices=["shakespeare"], help="fetch a text first (needs internet)")
    ap.add_argument("--tokenizer", default="gpt2", help="'gpt2', 'tinyworld', or a .bpe file")
    ap.add_argument("--out", required=True, help="output directory (pass it to pretrain.py --data_dir)")
    ap.add_argument("--val-frac", type=float, default=0.1, help="fraction held out for validation")
    args = ap.parse_args()
    from tokenizer import get_tokenizer
    if args.download:
        args.input = str(Path(args.out) / "input.txt")
        Path(args.out).mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(SHAKESPEARE_URL, args.input)
    if not args.input:
        ap.error("give --input FILE (or --download shakespeare)")
    enc = get_tokenizer(args.tokenizer)
    meta = prepare_text(Path(args.input).read_text(encoding="utf-8"), enc, args.out, args.val_frac)
    if args.tokenizer != "gpt2" and not Path(args.tokenizer).suffix == ".bpe":
        meta["tokenizer_file"] = args.tokenizer
    print(f"{args.input}: {meta['n_train']:,} train and {meta['n_val']:,} val tokens ({enc.name}) -> {args.out}")
