"""device.py: the device `auto` picks, bf16 autocast only where it is real, the peak FLOP/s an MFU is measured
against (none for laptop GPUs and unknown chips), and the FLOPs per token that MFU counts."""

import contextlib

import pytest
import torch

from device import autocast, get_device, peak_flops
from model import GPT, GPTConfig


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert get_device("auto") == expected


@pytest.mark.parametrize("name,peak", [
    ("NVIDIA H100 80GB HBM3", 989e12),
    ("NVIDIA H100 PCIe", 756e12),  # the more specific name wins over "H100"
    ("NVIDIA H200", 989e12),
    ("NVIDIA A100-SXM4-40GB", 312e12),
    ("NVIDIA GeForce RTX 4090", 165e12),
    ("NVIDIA GeForce RTX 4090 Laptop GPU", None),  # a laptop's clocks are its maker's: no datasheet peak
    ("NVIDIA GeForce RTX 3080 Max-Q", None),
    ("Some Future GPU", None),
])
def test_peak_flops_only_for_chips_whose_datasheet_is_known(monkeypatch, name, peak):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_flops("cuda") == peak
    assert peak_flops("cpu") is None and peak_flops("mps") is None


def test_autocast_is_a_no_op_off_cuda():
    for device in ("cpu", "mps"):
        assert isinstance(autocast(device), contextlib.nullcontext)


def test_flops_per_token_counts_six_per_weight_and_attention():
    L, C, V, T = 3, 48, 101, 32
    model = GPT(GPTConfig(block_size=T, vocab_size=V, n_layer=L, n_head=4, n_embd=C))
    # per block: qkv 3C^2 + 3C, attention output C^2 + C, MLP 4C^2 + 4C and 4C^2 + C, two LayerNorms 4C;
    # plus the token embedding (tied to the output layer) and the final LayerNorm; positions are left out
    n = V * C + L * (12 * C * C + 13 * C) + 2 * C
    assert model.num_params() == n
    assert model.flops_per_token() == 6 * n + 12 * L * C * T
    assert model.flops_per_token(8) == 6 * n + 12 * L * C * 8
