"""
Weights on disk: this project's checkpoints, and GPT-2's weights as Hugging Face stores them.

Nothing here knows the model's classes. A checkpoint is a dict of tensors and plain values; GPT-2's weights are
a dict of tensors, renamed to model.py's parameter names. model.py builds models from what these functions read
(`load_model`, `GPT.from_pretrained`), so this file sits below it and model.py stays about the model.

- `save_checkpoint` writes a model with everything needed to use or resume it, atomically (a crash mid-write
  leaves the previous file whole); `load_checkpoint` reads it with torch.load(weights_only=True), so a file
  holding pickled code is refused; every failure is a CheckpointError that names the file.
- A checkpoint records the tokenizer it was trained with, and `check_tokenizer` refuses a mismatch.
- `read_gpt2` reads a local Hugging Face GPT-2 directory: config.json, and model.safetensors (parsed by hand in
  `read_safetensors`) or pytorch_model.bin. Nothing is downloaded.
"""

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


def save_checkpoint(path, model, *, stage, step=0, tokenizer=None, optimizer=None, train_config=None, extra=None):
    """Write model + everything needed to use or resume it, atomically: a crash mid-write leaves the old file.

    model: a module with a dataclass `config` (GPT or ScalarGPT), possibly wrapped by DDP or torch.compile (the
    plain module's state_dict is saved, so keys never carry a wrapper's prefix). Only tensors and plain Python
    values go in, so `load_checkpoint` can read it with weights_only=True.
    """
    file = checkpoint_file(path)
    file.parent.mkdir(parents=True, exist_ok=True)
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
    }
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)  # atomic on POSIX and Windows: readers see the old file or the new one
    finally:
        if tmp.exists():
            tmp.unlink()
    return file


def load_checkpoint(path, expected_stage=None, tokenizer=None, map_location="cpu"):
    """Read a checkpoint written by save_checkpoint -> its dict.

    expected_stage: a stage name or a tuple of them; tokenizer: the Encoding this run uses. A checkpoint of
    another stage or tokenizer is refused. Every failure is a CheckpointError that names the file.
    """
    file = checkpoint_file(path)
    if not file.exists():
        raise CheckpointError(f"{file}: no checkpoint there (run the stage that writes it first, or pass its path)")
    try:
        ckpt = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{file}: refused: it holds pickled objects other than tensors and plain data, "
                              f"which could run code when loaded ({str(e).splitlines()[0]})") from None
    except Exception as e:
        raise CheckpointError(f"{file}: unreadable, the file is truncated or not a PyTorch checkpoint "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{file}: not a checkpoint of this project (no '{CHECKPOINT_FORMAT}' format tag)")
    if expected_stage is not None:
        stages = (expected_stage,) if isinstance(expected_stage, str) else tuple(expected_stage)
        if ckpt["stage"] not in stages:
            raise CheckpointError(f"{file}: is a '{ckpt['stage']}' checkpoint, but this needs "
                                  f"{' or '.join(repr(s) for s in stages)}")
    if tokenizer is not None:
        check_tokenizer(tokenizer, ckpt, file)
    return ckpt


def check_tokenizer(enc, ckpt, path):
    """A checkpoint only makes sense with the tokenizer it was trained with: refuse a mismatch, loudly."""
    recorded = ckpt.get("tokenizer")
    if recorded is not None and recorded != enc.name:
        raise CheckpointError(f"{path} was trained with tokenizer {recorded!r}, but this run uses {enc.name!r}; "
                              f"pass the matching --data_dir or --tokenizer")


# ----------------------------------------------------------------------------------------------------------
# GPT-2's weights from a local Hugging Face directory


def read_safetensors(path):
    """The safetensors format by hand: 8 bytes (little-endian header size), a JSON header naming each tensor's
    dtype, shape and byte range, then the raw bytes. No code can hide in it, which is the point of the format."""
    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = dtypes[info["dtype"]]
        if end == start:
            tensors[name] = torch.empty(info["shape"], dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(data[start:end]), dtype=dtype).reshape(info["shape"])
    return tensors


# Hugging Face's GPT-2 stores these Linear layers as "Conv1D", with the weight transposed: (in, out).
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def read_gpt2(path):
    """A Hugging Face GPT-2 directory -> (shape, weights): shape = {block_size, vocab_size, n_layer, n_head,
    n_embd} from config.json; weights = {model.py's parameter name: float32 tensor}, Conv1D weights transposed
    to nn.Linear's (out, in). The output layer is left out: GPT-2 ties it to the token embedding. Entries that are
not parameters of model.py (old files store the causal mask, "attn.bias") are kept; the caller picks its own."""
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no config.json (expected a Hugging Face GPT-2 directory)")
    hf = json.loads((path / "config.json").read_text())
    shape = dict(block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"],
                 n_head=hf["n_head"], n_embd=hf["n_embd"])
    if (path / "model.safetensors").exists():
        stored = read_safetensors(path / "model.safetensors")
    elif (path / "pytorch_model.bin").exists():
        stored = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"{path}: neither model.safetensors nor pytorch_model.bin")
    weights = {}
    for name, w in stored.items():
        name = name if name.startswith(("transformer.", "lm_head.")) else "transformer." + name
        if name == "lm_head.weight":
            continue  # the output layer, tied to the token embedding
        weights[name] = w.float().t() if name.endswith(CONV1D_WEIGHTS) else w.float()
    return shape, weights
