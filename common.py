"""
Small helpers that every stage script shares, so each stage file can stay about its own algorithm.

- configuration: a dataclass at the top of each script, one `opt(default, help)` per field, turned into a
  command line with `--help` by `parse_config` (no exec, no globals: a typo is an error);
- device and precision: `get_device`, `autocast` (bf16 on CUDA GPUs that have it, nothing elsewhere), `set_seed`,
  `peak_flops` (only for devices whose peak we know, so an MFU is never measured against the wrong chip);
- logging: `MetricsLogger` prints one pipe-separated line per step and appends the same numbers to a JSONL
  file; `plot_log` draws curves from that file;
- `lr_at`: linear warm-up then cosine decay;
- `pad_batch`: a list of token lists -> a padded tensor and its attention mask;
- `StopRequest`: Ctrl-C / SIGTERM ask a training loop to stop at the next step boundary (it saves, then exits).
"""

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import signal
import time
import typing
from pathlib import Path

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------------------
# configuration


def opt(default, help):
    """A dataclass field with a help string; `parse_config` turns it into `--name` with that help."""
    return dataclasses.field(default=default, metadata={"help": help})


def parse_config(cls, argv=None, description=None):
    """Build an argparse parser from a dataclass of `opt(...)` fields and return an instance of it.

    Each field becomes `--field_name` (dashes also accepted); bools become `--x / --no-x`. Types come from the
    annotations (int, float, str, bool, or Optional of one of them).
    """
    parser = argparse.ArgumentParser(
        description=description or cls.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        if typing.get_origin(typ) is typing.Union:  # Optional[X] -> X
            typ = next(a for a in typing.get_args(typ) if a is not type(None))
        names = ["--" + f.name] + (["--" + f.name.replace("_", "-")] if "_" in f.name else [])
        help_text = f.metadata.get("help", "")
        if typ is bool:
            parser.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=f.default, help=help_text)
        else:
            parser.add_argument(*names, dest=f.name, type=typ, default=f.default, help=help_text)
    args = parser.parse_args(argv)
    return cls(**vars(args))


# ----------------------------------------------------------------------------------------------------------
# device, precision, seeds


def get_device(name="auto"):
    """'auto' picks CUDA, then Apple's MPS, then the CPU; any other value is used as given."""
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def autocast(device, dtype="bfloat16"):
    """bf16 autocast on CUDA GPUs with bf16 arithmetic (NVIDIA since Ampere, 2020; AMD under ROCm): matmuls in
    bf16, weights and optimizer state stay fp32. A no-op elsewhere: the CPU, Apple's MPS, and older GPUs, where
    bf16 is only emulated (slower than fp32) and fp16 would need loss scaling to train safely."""
    device_type = device.split(":")[0]
    if device_type == "cuda" and dtype == "bfloat16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        return contextlib.nullcontext()
    if device_type == "cuda" and dtype in ("bfloat16", "float16"):
        return torch.autocast(device_type="cuda", dtype=getattr(torch, dtype))
    return contextlib.nullcontext()


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Peak dense bf16 tensor-core throughput (FLOP/s, without sparsity) of GPUs whose datasheet we know.
# MFU is only reported when the device is one of these: an MFU against the wrong peak is worse than none.
PEAK_BF16_FLOPS = {
    "H100 SXM": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12,
    "A100": 312e12, "A10G": 125e12, "L4": 121e12, "RTX 4090": 165e12, "RTX 3090": 71e12,
}


def peak_flops(device):
    """Peak bf16 FLOP/s of the current CUDA device if it is in PEAK_BF16_FLOPS, else None (CPU, MPS, unknown).

    Laptop GPUs get None: they carry desktop names ("RTX 4090 Laptop GPU") but run at power limits and clocks
    that each laptop maker sets, so no one datasheet peak applies to them."""
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(device)
    if any(word in name for word in ("Laptop", "Mobile", "Max-Q")):
        return None
    for key in sorted(PEAK_BF16_FLOPS, key=len, reverse=True):  # longest (most specific) name first
        if key in name:
            return PEAK_BF16_FLOPS[key]
    return None


# ----------------------------------------------------------------------------------------------------------
# learning-rate schedule


def lr_at(step, max_steps, lr, warmup, min_lr):
    """Linear warm-up for `warmup` steps, then cosine decay from lr to min_lr at max_steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    progress = (step - warmup) / max(1, max_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


# ----------------------------------------------------------------------------------------------------------
# batching


def pad_batch(seqs, pad_id=0, side="right"):
    """list of B token lists -> (ids (B, T), mask (B, T)), T = longest; mask is 1 on real tokens.

    Right padding suits training (real tokens keep positions 0..n-1); left padding suits generation (every
    prompt ends at the same column, so new tokens are appended in one place).
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        n = len(s)
        if n == 0:
            continue
        cols = slice(0, n) if side == "right" else slice(T - n, T)
        ids[i, cols] = torch.tensor(s, dtype=torch.long)
        mask[i, cols] = 1
    return ids, mask


# ----------------------------------------------------------------------------------------------------------
# logging


def _fmt(key, value):
    if isinstance(value, float):
        if key == "lr":
            return f"{key} {value:.2e}"
        if key in ("tok/s", "tokens_per_s"):
            return f"{key} {value:,.0f}"
        if key == "ms":
            return f"{key} {value:.1f}"
        if key == "mfu":
            return f"{key} {100 * value:.2f}%"
        return f"{key} {value:.4f}"
    return f"{key} {value}"


class MetricsLogger:
    """One pipe-separated line per step on stdout, the same numbers appended to out_dir/log.jsonl.

    `resume=False` starts a fresh log file; `resume=True` appends to the existing one.
    """

    def __init__(self, out_dir, stage, resume=False, quiet=False):
        self.stage = stage
        self.quiet = quiet
        self.path = Path(out_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume and self.path.exists():
            self.path.unlink()
        self.t0 = time.time()

    def log(self, step, **metrics):
        metrics = {k: (float(v) if isinstance(v, (torch.Tensor, np.floating)) else v) for k, v in metrics.items()}
        if not self.quiet:
            print(" | ".join([self.stage, f"step {step}"] + [_fmt(k, v) for k, v in metrics.items()]), flush=True)
        record = {"step": step, "time": round(time.time() - self.t0, 3), **metrics}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_log(jsonl_path):
    with open(jsonl_path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_log(jsonl_path, png_path, keys, title=None, x="step"):
    """One subplot per key (each a list of names drawn together), from a MetricsLogger file, saved as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(jsonl_path)
    groups = [k if isinstance(k, (list, tuple)) else [k] for k in keys]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.5), squeeze=False)
    for ax, group in zip(axes[0], groups):
        for key in group:
            pts = [(r[x], r[key]) for r in records if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), label=key, marker="." if len(pts) < 30 else None)
        ax.set_xlabel(x)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = str(png_path) + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)


# ----------------------------------------------------------------------------------------------------------
# data directory and tokenizer of a stage

DEFAULT_DATA_DIR = "data/tinyworld"


def ensure_data_dir(data_dir):
    """The tinyworld is generated on first use; any other data directory must already exist."""
    path = Path(data_dir)
    if not (path / "meta.json").exists():
        if Path(data_dir).resolve() == Path(DEFAULT_DATA_DIR).resolve():
            from data.tinyworld import ensure_tinyworld
            return ensure_tinyworld(DEFAULT_DATA_DIR)
        raise FileNotFoundError(f"data directory {data_dir}: no meta.json there (make one with "
                                f"`python -m data.tinyworld --out {data_dir}` or `python -m data.prepare`)")
    return path


def tokenizer_for(data_dir, name=""):
    """The tokenizer of a stage: `name` if given ('gpt2' or a path to a .bpe file), else data_dir/tokenizer.bpe."""
    from tokenizer import get_tokenizer
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


def check_tokenizer(enc, ckpt, path):
    """A checkpoint only makes sense with the tokenizer it was trained with: refuse a mismatch, loudly."""
    recorded = ckpt.get("tokenizer")
    if recorded is not None and recorded != enc.name:
        raise ValueError(f"{path} was trained with tokenizer {recorded!r}, but this run uses {enc.name!r}; "
                         f"pass the matching --data_dir or --tokenizer")


# ----------------------------------------------------------------------------------------------------------
# interrupts


class StopRequest:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a request that the training loop reads at a step boundary, so a run
    that is stopped saves a checkpoint it can resume from instead of dying mid-step with a traceback.

        with StopRequest() as stop:
            for step in ...:
                ...one whole optimizer step...
                if stop.requested:
                    save(); break

    escalate=True: a second Ctrl-C stops at once (KeyboardInterrupt), for a user who does not want to wait.
    Under torchrun a worker receives the signal twice (from the terminal and forwarded by torchrun), so there
    escalate=False: the request stays a request, and every rank stops at the same step (pretrain.py agrees on
    it with an all-reduce). The previous handlers come back when the block ends.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, escalate=True):
        self.escalate = escalate
        self.requested = None  # the name of the signal that asked, once one has
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested and self.escalate:
            raise KeyboardInterrupt
        self.requested = self.requested or signal.Signals(signum).name

    def __enter__(self):
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
