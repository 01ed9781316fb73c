"""
What the training runs of every stage share, so that each stage file shows only its own algorithm:
- `lr_at`: the learning-rate schedule, linear warm-up then cosine decay;
- `draw_batch`: a batch drawn at random with replacement, from a seed (so a run, or a resumed run, is
  reproducible step by step);
- `clip_gradients`: the gradient-norm clip, 0 meaning off;
- `frozen`: a model made untrainable (eval mode, no gradients), for references and reward models;
- `save_run`: the files a run ends with: its checkpoint, metrics.json and plots of its log;
- `prepare_out_dir`: the output folder, checked before anything is written; a new run moves an earlier run's
  files to out_dir/previous/run-N instead of overwriting them;
- `StopRequest`: Ctrl-C / SIGTERM ask the training loop to stop at the next step boundary (it saves, then exits);
- `start_or_resume`, `resume_state`, `restore`, `save_progress`: --resume, which continues a stopped run exactly
  where it stopped: the checkpoint holds, beside the model, its optimizer, the random states and whatever else
  the loop carries from one step to the next.
"""

import errno
import json
import math
import os
import signal
import time
from pathlib import Path

import torch

from checkpoint import checkpoint_file, load_checkpoint, save_checkpoint, write_text_atomically
from config import parse_config, resumed_config
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
    write_text_atomically(out_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
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
        if not self.requested and self.escalate:  # os.write: a print here could land inside a print in progress
            os.write(2, f"\n{signal.Signals(signum).name}: the run stops after this step and saves "
                        f"(Ctrl-C again: stop at once, without saving)\n".encode())
        self.requested = self.requested or signal.Signals(signum).name

    def __enter__(self):
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def exit_interrupted(signal_name, step, out_dir, script, show=True):
    """The end of an interrupted run: one line saying what was saved and how to go on (if show: under DDP, rank 0
    alone speaks), then exit code 130, the shell's code for a run stopped by Ctrl-C."""
    if show:
        print(f"interrupted ({signal_name}) after step {step}: saved {checkpoint_file(out_dir)}; continue with "
              f"`python {script} --resume --out_dir {out_dir}`", flush=True)
    raise SystemExit(130)


# ----------------------------------------------------------------------------------------------------------
# the output folder


RUN_FILES = ("ckpt.pt", "log.jsonl", "metrics.json", "samples.jsonl", "*.png")  # what a stage writes in out_dir
RUN_MARKERS = ("ckpt.pt", "log.jsonl", "metrics.json")  # any of these: out_dir holds a run


def prepare_out_dir(out_dir, resume=False):
    """The folder a run writes into, made ready before the run writes anything -> its Path.

    - It must be a folder this process can write in: a file in its place, a read-only folder or file system is an
      OSError naming the path now, not a traceback when the run saves.
    - A new run never overwrites an earlier run's files: if out_dir holds a run (a checkpoint, a log or metrics),
      its files (RUN_FILES) move to out_dir/previous/run-N, N = 1, 2, ... in order, and one line says so. Running a
      stage twice with the same command works; each earlier run stays there until you delete it.
    - resume=True keeps the files where they are: the run goes on with them.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder (give another --out_dir)", str(out_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise OSError(e.errno, f"cannot write in this folder ({e.strerror})", str(out_dir)) from None
    if resume or not any((out_dir / name).exists() for name in RUN_MARKERS):
        return out_dir
    taken = [int(p.name[4:]) for p in (out_dir / "previous").glob("run-*") if p.name[4:].isdigit()]
    dest = out_dir / "previous" / f"run-{max(taken, default=0) + 1}"
    dest.mkdir(parents=True)
    for pattern in RUN_FILES:
        for f in sorted(out_dir.glob(pattern)):
            os.replace(f, dest / f.name)
    print(f"{out_dir} held an earlier run: moved its files to {dest} (delete that folder when you no longer need it)")
    return out_dir


# ----------------------------------------------------------------------------------------------------------
# resuming a stopped run exactly

RESUME_MAY_CHANGE = ("out_dir", "resume", "stop_at", "device", "compile")  # every other option is the saved run's


def start_or_resume(cls, argv, stage, last_step="max_iters"):
    """The command line -> (cfg, ckpt): a new run (ckpt None), or with --resume the run saved in cfg.out_dir, with
    the configuration saved in it (config.resumed_config: only RESUME_MAY_CHANGE come from this command line).

    A run that finished (its checkpoint holds no resume state) has nothing to resume: one line says so, and the
    script exits (code 0) without touching a file. last_step: the option that counts the run's steps.
    """
    cfg = parse_config(cls, argv)
    if not cfg.resume:
        return cfg, None
    ckpt = load_checkpoint(cfg.out_dir, expected_stage=stage, unfinished_ok=True)
    cfg = resumed_config(cls, cfg, ckpt["train_config"], argv, RESUME_MAY_CHANGE)
    if ckpt["resume"] is None:
        nothing_to_resume(cfg.out_dir, ckpt["step"], getattr(cfg, last_step), last_step)
    return cfg, ckpt


def nothing_to_resume(out_dir, step, last, last_step, hint="to train it further, start a new run from its weights"):
    """--resume on a run that has reached its last step: say so in one line, and exit (code 0) without touching its
    files."""
    print(f"{checkpoint_file(out_dir)}: the run is at step {step}, its last (--{last_step} {last}): nothing to "
          f"resume, and its files are left as they are; {hint}")
    raise SystemExit(0)


def resume_state(**objects):
    """What a stopped run needs, beyond its model and optimizer, to go on exactly as if it had not stopped:
    torch's random state (dropout draws from it) and each of `objects`: a module's or optimizer's state_dict,
    a torch.Generator's state, or a plain value (a number, a list of pairs) as it is."""
    state = {"torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    for name, obj in objects.items():
        if isinstance(obj, torch.Generator):
            state[name] = obj.get_state()
        elif hasattr(obj, "state_dict"):
            state[name] = obj.state_dict()
        else:
            state[name] = obj
    return state


def restore(ckpt, model, optimizer, **objects):
    """A resumed run: the model, its optimizer, torch's random state and the modules, optimizers and generators
    of resume_state as they were saved -> the step the run had reached (0 for a new run: ckpt None). Plain values
    saved by resume_state are read by the caller from ckpt["resume"]."""
    if ckpt is None:
        return 0
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    state = ckpt["resume"]
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and len(state["cuda_rng"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    for name, obj in objects.items():
        if isinstance(obj, torch.Generator):
            obj.set_state(state[name])
        else:
            obj.load_state_dict(state[name])
    return ckpt["step"]


def save_progress(stop, out_dir, model, script, **checkpoint):
    """After the training loop: save the model with everything --resume needs (checkpoint: save_checkpoint's
    arguments, its optimizer and resume=resume_state(...) among them), so that neither an interrupt nor a crash
    in the final evaluation loses the training; the run's final save replaces it. If the loop was stopped
    (Ctrl-C, SIGTERM: stop.requested), say so in one line and exit 130."""
    save_checkpoint(out_dir, model, **checkpoint)
    if stop.requested:
        exit_interrupted(stop.requested, checkpoint["step"], out_dir, script)
