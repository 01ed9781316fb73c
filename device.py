"""
Device, precision and seeds: `get_device` (CUDA, then Apple's MPS, then the CPU), `autocast` (bf16 on CUDA,
nothing elsewhere), `set_seed`, and `peak_flops`, known only for GPUs whose datasheet we know, so that an MFU is
never measured against the wrong chip.
"""

import contextlib
import random

import numpy as np
import torch


def mps_available():
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def get_device(name="auto"):
    """'auto' picks CUDA, then Apple's MPS, then the CPU; 'cpu', 'cuda', 'cuda:N' and 'mps' are used as given, if
    this machine has them: otherwise a one-line ValueError names the option and what there is."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    kind, _, index = name.partition(":")
    if name == "cpu":
        return name
    if kind == "cuda" and (not index or index.isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available here (no NVIDIA GPU or driver, or this torch "
                             f"{torch.__version__} was built without CUDA); use --device cpu or --device auto")
        n = torch.cuda.device_count()
        if index and int(index) >= n:
            raise ValueError(f"--device {name}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
        return name
    if name == "mps":
        if not mps_available():
            raise ValueError("--device mps: Apple's MPS is not available here (it needs a Mac with Apple silicon "
                             "and a torch built with it); use --device cpu or --device auto")
        return name
    raise ValueError(f"--device {name}: not a device; choose auto, cpu, cuda, cuda:N or mps")


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
