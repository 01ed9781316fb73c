"""
Logging: `MetricsLogger` prints one pipe-separated line per step (stage | step | loss | lr | ms | tok/s | ...)
and appends the same numbers to out_dir/log.jsonl; `read_log` reads that file back and `plot_log` draws curves
from it.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import torch


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

    A run starts a fresh log file (training.prepare_out_dir has moved an earlier run's log aside first); a run
    resumed from a checkpoint of step N passes resume_from=N: the records of steps up to N are kept (what was
    logged after the checkpoint was lost with the run) and new ones appended.
    """

    def __init__(self, out_dir, stage, resume_from=None, quiet=False):
        self.stage = stage
        self.quiet = quiet
        self.path = Path(out_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            kept = [r for r in read_log(self.path) if r["step"] <= resume_from] if resume_from is not None else []
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
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
