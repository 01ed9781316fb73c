"""
Weights on disk: this project's checkpoints, and GPT-2's weights as Hugging Face stores them.

Nothing here knows the model's classes. A checkpoint is a dict of tensors and plain values; GPT-2's weights are
a dict of tensors, renamed to model.py's parameter names. model.py builds models from what these functions read
(`load_model`, `GPT.from_pretrained`), so this file sits below it and model.py stays about the model.

- `save_checkpoint` writes a model with everything needed to use or resume it, atomically (a crash mid-write
  leaves the previous file whole, and a write that fails, a full disk say, is one OSError naming the file);
  `load_checkpoint` reads it with torch.load(weights_only=True), so a file holding pickled code is refused;
  every failure is a CheckpointError that names the file. `write_text_atomically` does the same for text files.
- A checkpoint records the tokenizer it was trained with, and `check_tokenizer` refuses a mismatch.
- `read_gpt2` reads a local Hugging Face GPT-2 directory: config.json, and model.safetensors (parsed by hand in
  `read_safetensors`) or pytorch_model.bin. Nothing is downloaded.
"""

import errno
import json
import os
import pickle
import struct
from dataclasses import asdict
from pathlib import Path

import torch

CHECKPOINT_FORMAT = "tinyalign-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, unreadable, foreign, unsafe, wrong stage or tokenizer)."""


def checkpoint_file(path):
    """A checkpoint path may name the file (*.pt) or the stage's output directory (then DIR/ckpt.pt)."""
    path = Path(path)
    return path if path.suffix == ".pt" else path / "ckpt.pt"


def unwrapped(model):
    """The plain module inside a DDP (`.module`) and/or torch.compile (`._orig_mod`) wrapper."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


# ----------------------------------------------------------------------------------------------------------
# this project's checkpoints


def save_checkpoint(path, model, *, stage, step=0, tokenizer=None, optimizer=None, train_config=None, extra=None,
                    resume=None):
    """Write model + everything needed to use or resume it, atomically: a crash mid-write leaves the old file.

    model: a module with a dataclass `config` (GPT or ScalarGPT), possibly wrapped by DDP or torch.compile (the
    plain module's state_dict is saved, so keys never carry a wrapper's prefix). resume: what else a stopped run
    needs to go on exactly (training.resume_state); None for a finished one. Only tensors and plain Python values
    go in, so `load_checkpoint` can read it with weights_only=True. A write that fails (disk full, read-only) is an
    OSError naming the file, and the checkpoint that was there is left as it was.
    """
    file = checkpoint_file(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporary_files(file)
    model = unwrapped(model)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_type": type(model).__name__,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": asdict(model.config),
        "stage": stage,
        "step": int(step),
        "tokenizer": tokenizer if tokenizer is None or isinstance(tokenizer, str) else tokenizer.name,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "train_config": train_config or {},
        "extra": extra or {},
        "resume": resume,
    }
    tmp = temporary_file(file)
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)  # atomic on POSIX and Windows: readers see the old file or the new one
    except (OSError, RuntimeError) as e:  # torch.save reports some failed writes as a RuntimeError
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0]
        raise OSError(getattr(e, "errno", None) or errno.EIO, f"could not write the checkpoint ({reason}); the "
                      f"one that was there, if any, is unchanged", str(file)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return file


def temporary_file(file):
    """Where a file is written before it is renamed into place: .NAME.tmp-PID beside it."""
    return file.with_name(f".{file.name}.tmp-{os.getpid()}")


def remove_stale_temporary_files(file):
    """Remove the temporary files of `file` left by processes that were killed while writing it (POSIX: a process
    id that no longer runs); a process that still runs may be writing its own, and keeps it."""
    if os.name != "posix":
        return
    for tmp in file.parent.glob(f".{file.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # it exists (another user's process)


def write_text_atomically(path, text):
    """Write a text file through a temporary file and a rename: a reader (or a crash, or a full disk) never leaves
    half a file; the old one stays whole until the new one is complete."""
    path = Path(path)
    remove_stale_temporary_files(path)
    tmp = temporary_file(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
CHECKPOINT_KEYS = ("model_type", "model", "config", "stage", "step", "tokenizer", "optimizer", "train_config",
                   "extra")


def load_checkpoint(path, expected_stage=None, tokenizer=None, map_location="cpu", unfinished_ok=False):
    """Read a checkpoint written by save_checkpoint -> its dict.

    expected_stage: a stage name or a tuple of them; tokenizer: the Encoding this run uses. A checkpoint of
    another stage or tokenizer is refused, and so is, when a stage is expected, a run that was stopped before it
    finished (it holds resume state), unless unfinished_ok (--resume, which finishes it): a stage never builds
    on half a run without a word. Every failure is a CheckpointError that names the file.
    """
    file = checkpoint_file(path)
    if file.is_dir():
        raise CheckpointError(f"{file}: is a folder, not a checkpoint file")
    if not file.exists():
        raise CheckpointError(f"{file}: no checkpoint there (run the stage that writes it first, or pass its path)")
    with open(file, "rb") as f:
        if f.read(4) != ZIP_MAGIC:
            raise CheckpointError(f"{file}: unreadable: not a PyTorch checkpoint (torch.save writes a zip archive, "
                                  f"and this file is not one)")
    try:
        ckpt = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):
            raise CheckpointError(f"{file}: unreadable, the file is damaged (its pickled part cannot be read)") from None
        what = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line), "")
        raise CheckpointError(f"{file}: refused: it holds pickled objects other than tensors and plain data, "
                              f"which could run code when loaded ({what[:120]})") from None
    except Exception as e:
        raise CheckpointError(f"{file}: unreadable, the file is truncated or not a PyTorch checkpoint "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{file}: not a checkpoint of this project (no '{CHECKPOINT_FORMAT}' format tag)")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing or not isinstance(ckpt["model"], dict) or not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"{file}: an incomplete checkpoint (" + (f"no {', '.join(repr(k) for k in missing)}"
                              if missing else "'model' and 'config' must be dicts") + ")")
    ckpt.setdefault("resume", None)  # checkpoints written before runs could be resumed
    if expected_stage is not None:
        stages = (expected_stage,) if isinstance(expected_stage, str) else tuple(expected_stage)
        if ckpt["stage"] not in stages:
            raise CheckpointError(f"{file}: is a '{ckpt['stage']}' checkpoint, but this needs "
                                  f"{' or '.join(repr(s) for s in stages)}")
        if ckpt["resume"] is not None and not unfinished_ok:
            raise CheckpointError(f"{file}: the '{ckpt['stage']}' run there was stopped at step {ckpt['step']}, "
                                  f"before it finished; finish it with its script's --resume --out_dir "
                                  f"{file.parent}, or give another checkpoint")
    if tokenizer is not None:
        check_tokenizer(tokenizer, ckpt, file)
    return ckpt


def check_tokenizer(enc, ckpt, path):
    """A checkpoint only makes sense with the tokenizer it was trained with: refuse a mismatch, loudly. A checkpoint
    that does not record its tokenizer must at least have the tokenizer's vocabulary size."""
    recorded = ckpt.get("tokenizer")
    if recorded is not None and recorded != enc.name:
        raise CheckpointError(f"{path} was trained with tokenizer {recorded!r}, but this run uses {enc.name!r}; "
                              f"pass the matching --data_dir or --tokenizer")
    vocab_size = (ckpt.get("config") or {}).get("vocab_size")
    if recorded is None and vocab_size != getattr(enc, "n_vocab", vocab_size):
        raise CheckpointError(f"{path} records no tokenizer, and its vocabulary of {vocab_size} tokens is not the "
                              f"{enc.n_vocab} of {enc.name!r}, the tokenizer of this run")


# ----------------------------------------------------------------------------------------------------------
# GPT-2's weights from a local Hugging Face directory


def read_safetensors(path):
    """The safetensors format by hand: 8 bytes (little-endian header size), a JSON header naming each tensor's
    dtype, shape and byte range, then the raw bytes. No code can hide in it, which is the point of the format.
    A file that does not follow it is a CheckpointError naming the file."""
    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
    try:
        with open(path, "rb") as f:
            (n,), size = struct.unpack("<Q", f.read(8)), os.path.getsize(path)
            if n > size - 8:  # a header longer than the file: not this format (random bytes, say)
                raise ValueError(f"its header size {n} exceeds the file's {size} bytes")
            header = json.loads(f.read(n))
            data = f.read()
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            dtype = dtypes[info["dtype"]]
            if not 0 <= start <= end <= len(data):
                raise ValueError(f"{name}'s bytes {start}..{end} lie outside the file's {len(data)}")
            if end == start:
                tensors[name] = torch.empty(info["shape"], dtype=dtype)
            else:
                tensors[name] = torch.frombuffer(bytearray(data[start:end]), dtype=dtype).reshape(info["shape"])
    except (struct.error, ValueError, KeyError, TypeError, RuntimeError, AttributeError, MemoryError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return tensors


# Hugging Face's GPT-2 stores these Linear layers as "Conv1D", with the weight transposed: (in, out).
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def read_gpt2(path):
    """A Hugging Face GPT-2 directory -> (shape, weights): shape = {block_size, vocab_size, n_layer, n_head,
    n_embd} from config.json; weights = {model.py's parameter name: float32 tensor}, Conv1D weights transposed
    to nn.Linear's (out, in). The output layer is left out: GPT-2 ties it to the token embedding. Entries that are
not parameters of model.py (old files store the causal mask, "attn.bias") are kept; the caller picks its own.
    A file that cannot be read is a CheckpointError naming it."""
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no config.json (expected a Hugging Face GPT-2 directory)")
    try:
        hf = json.loads((path / "config.json").read_text())
        shape = dict(block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"],
                     n_head=hf["n_head"], n_embd=hf["n_embd"])
    except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path / 'config.json'}: not a GPT-2 config ({type(e).__name__}: {e})") from None
    if (path / "model.safetensors").exists():
        stored = read_safetensors(path / "model.safetensors")
    elif (path / "pytorch_model.bin").exists():
        stored = load_tensors(path / "pytorch_model.bin")
    else:
        raise FileNotFoundError(f"{path}: neither model.safetensors nor pytorch_model.bin")
    weights = {}
    for name, w in stored.items():
        name = name if name.startswith(("transformer.", "lm_head.")) else "transformer." + name
        if name == "lm_head.weight":
            continue  # the output layer, tied to the token embedding
        weights[name] = w.float().t() if name.endswith(CONV1D_WEIGHTS) else w.float()
    return shape, weights


def load_tensors(file):
    """A PyTorch file of {name: tensor} (Hugging Face's pytorch_model.bin), read with weights_only=True."""
    try:
        stored = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{file}: unreadable ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise CheckpointError(f"{file}: not a dict of tensors")
    return stored
