"""Shared fixtures: a small generated tinyworld and tiny random-init checkpoints of every stage."""
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # the stage scripts resolve their defaults relative to the repository
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

TINY = dict(block_size=128, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """A small tinyworld (~0.2 MB of text, a few hundred records per file), generated once per test run."""
    from data.tinyworld import generate
    out = tmp_path_factory.mktemp("tinyworld")
    generate(out, seed=0, corpus_mb=0.2, n_sft=300, n_sft_val=40, n_pairs=300, n_pairs_val=60,
             n_prompts=100, n_prompts_val=24, n_prompts_test=24, n_sft_tools=100, n_sft_tools_val=20, verbose=False)
    return out


@pytest.fixture(scope="session")
def tiny_enc(tiny_world):
    from tokenizer import get_tokenizer
    return get_tokenizer(str(tiny_world / "tokenizer.bpe"))


@pytest.fixture(scope="session")
def tiny_config(tiny_enc):
    from model import GPTConfig
    return GPTConfig(vocab_size=tiny_enc.n_vocab, **TINY)


@pytest.fixture(scope="session")
def tiny_ckpts(tmp_path_factory, tiny_enc, tiny_config):
    """Random-init checkpoints: pretrain/ and sft/ (GPT), rm/ (ScalarGPT), all with the tiny tokenizer."""
    from model import GPT, ScalarGPT, save_checkpoint
    out = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    gpt = GPT(tiny_config)
    save_checkpoint(out / "pretrain", gpt, stage="pretrain", tokenizer=tiny_enc.name)
    save_checkpoint(out / "sft", gpt, stage="sft", tokenizer=tiny_enc.name)
    save_checkpoint(out / "rm", ScalarGPT.from_gpt(gpt), stage="rm", tokenizer=tiny_enc.name)
    return out
