"""
What the training runs of every stage share, so that each stage file shows only its own algorithm:
- `lr_at`: the learning-rate schedule, linear warm-up then cosine decay;
- `draw_batch`: a batch drawn at random with replacement, from a seed (so a run, or a resumed run, is
  reproducible step by step);
- `clip_gradients`: the gradient-norm clip, 0 meaning off;
- `frozen`: a model made untrainable (eval mode, no gradients), for references and reward models;
- `save_run`: the files a run ends with: its checkpoint, metrics.json and plots of its log;
- `StopRequest`: Ctrl-C / SIGTERM ask the training loop to stop at the next step boundary (it saves, then exits).
"""

import json
import math
import signal
import time
from pathlib import Path

import torch

from checkpoint import checkpoint_file, save_checkpoint
from logger import plot_log


def lr_at(step, max_steps, lr, warmup, min_lr):
    """Linear warm-up for `warmup` steps, then cosine decay from lr to min_lr at max_steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    progress = (step - warmup) / max(1, max_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


def draw_batch(items, batch_size, seed):
    """batch_size items drawn at random with replacement, by a generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    return [items[i] for i in torch.randint(len(items), (batch_size,), generator=g).tolist()]


def clip_gradients(parameters, max_norm):
    """Scale the gradients so that their global norm is at most max_norm (0 = no clipping) -> the norm before."""
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm if max_norm > 0 else float("inf"))


def frozen(model):
    """model, in eval mode (no dropout) and with no parameter that needs a gradient: training cannot change it."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def save_run(out_dir, metrics, plots=(), model=None, started=None, **checkpoint):
    """The end of a run, in out_dir: the checkpoint (if model is given: save_checkpoint(out_dir, model,
    **checkpoint), whose extra is by default the metrics' plain numbers), metrics.json, and one PNG per plot
    (file name, keys, title) of log.jsonl's curves. Prints what it wrote, and the run's time since `started`."""
    out_dir = Path(out_dir)
    written = []
    if model is not None:
        checkpoint.setdefault("extra", {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))})
        written.append(save_checkpoint(out_dir, model, **checkpoint))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    written.append(out_dir / "metrics.json")
    for name, keys, title in plots:
        plot_log(out_dir / "log.jsonl", out_dir / name, keys, title=title)
        written.append(out_dir / name)
    took = f"done in {time.time() - started:.0f}s; " if started is not None else ""
    print(f"{took}wrote {', '.join(str(w) for w in written)}")
    return checkpoint_file(out_dir)


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
