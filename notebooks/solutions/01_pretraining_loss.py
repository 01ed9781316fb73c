"""Solutions to the exercises of notebook 1 (pre-training). Run from the repository root:

    python notebooks/solutions/01_pretraining_loss.py
"""
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from data.tinyworld import ensure_tinyworld  # noqa: E402
from pretrain import causal_lm_loss  # noqa: E402
from tokenizer import get_tokenizer, token_byte_lengths  # noqa: E402

world = ensure_tinyworld(ROOT / "data" / "tinyworld")
enc = get_tokenizer(str(world / "tokenizer.bpe"))
V = enc.n_vocab
train = np.fromfile(world / "train.bin", dtype=np.uint16).astype(np.int64)
val = np.fromfile(world / "val.bin", dtype=np.uint16).astype(np.int64)
real = json.loads((ROOT / "notebooks" / "data" / "pipeline" / "metrics.json").read_text())["pretrain"]

# 1. The unigram model predicts p(token) = its frequency in train.bin, whatever came before. Its loss on val.bin
#    is the cross-entropy -mean log p(val token) (with a pseudo-count of 1 so no token has probability 0).
print("1. A model without context")
counts = np.bincount(train, minlength=V) + 1.0
p = counts / counts.sum()
unigram = -np.log(p[val]).mean()
print(f"  ln V = {math.log(V):.3f}; unigram model on val.bin {unigram:.3f}; the real GPT {real['val_loss']:.3f} nats "
      f"per token")
print(f"  Knowing which tokens are common takes the loss from {math.log(V):.2f} to {unigram:.2f}; everything below "
      f"that, {unigram - real['val_loss']:.2f} nats per token, is what the model learned from the context.")

# 2. bits per byte = (loss in nats per token / ln 2) * (tokens / bytes).
print("\n2. Bits per byte")
nbytes = np.array(token_byte_lengths(enc))[val]
tokens_per_byte = len(val) / nbytes.sum()
print(f"  val.bin: {len(val):,} tokens spelling {nbytes.sum():,} bytes: {1 / tokens_per_byte:.2f} bytes per token")
print(f"  {real['val_loss']:.4f} nats per token / ln 2 * {tokens_per_byte:.4f} tokens per byte = "
      f"{real['val_loss'] / math.log(2) * tokens_per_byte:.4f} bits per byte; pretrain.py reported "
      f"{real['val_bpb']:.4f}")
print("  Close, not equal: pretrain.py measures on random windows, and it leaves the loss on special tokens\n"
      "  (<|endoftext|>, which spells no byte) out of the sum as well as their bytes.")

# 3. Targets of -1 are left out of the mean: padding positions must not count as errors.
print("\n3. Ignored targets")
torch.manual_seed(0)
logits, targets = torch.randn(2, 5, V), torch.randint(0, V, (2, 5))
targets[0, 3:] = -1  # as if the first row had two padding positions
keep = targets != -1
by_hand = -torch.log_softmax(logits, -1)[keep].gather(-1, targets[keep][:, None]).mean()
print(f"  causal_lm_loss {causal_lm_loss(logits, targets).item():.6f}; mean over the {int(keep.sum())} real "
      f"positions {by_hand.item():.6f}")
print("  A batch of documents of different lengths is padded to one length; without the -1 the model would be\n"
      "  trained to predict the padding, and the loss would depend on how much padding the batch needed.")
