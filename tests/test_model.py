"""The GPT: parity with Hugging Face's GPT-2, KV cache = recomputation, padding never changes a result."""
import json
import math
import time

import pytest
import torch

from common import pad_batch
from model import GPT, GPTConfig, ScalarGPT, logprobs_from_logits

CFG = GPTConfig(block_size=64, vocab_size=101, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture
def gpt():
    torch.manual_seed(0)
    return GPT(CFG).eval()


def _hf_gpt2(tmp_path, safe_serialization):
    transformers = pytest.importorskip("transformers")  # test-only dependency (requirements-dev.txt)
    torch.manual_seed(1)
    hf_cfg = transformers.GPT2Config(vocab_size=97, n_positions=48, n_embd=48, n_layer=3, n_head=4,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    with torch.no_grad():  # make biases and LayerNorm parameters non-trivial so a missed copy shows
        for name, p in hf.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    hf.save_pretrained(tmp_path)
    if not safe_serialization:  # recent transformers only write safetensors: make the older format by hand
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
        (tmp_path / "model.safetensors").unlink()
    return hf


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "pytorch_model.bin"])
def test_from_pretrained_matches_huggingface(tmp_path, safe):
    hf = _hf_gpt2(tmp_path, safe)
    assert (tmp_path / ("model.safetensors" if safe else "pytorch_model.bin")).exists()
    ours = GPT.from_pretrained(tmp_path).eval()
    idx = torch.randint(0, 97, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = hf(idx).logits
        out = ours(idx)
    assert (out - ref).abs().max().item() <= 1e-4
    # greedy generation, token for token
    prompt = idx[:1, :5]
    ref_gen = hf.generate(prompt, max_new_tokens=20, do_sample=False, pad_token_id=0,
                          attention_mask=torch.ones_like(prompt))
    our_gen = ours.generate(prompt, 20, temperature=0)
    assert torch.equal(our_gen, ref_gen[:, : our_gen.size(1)]) and our_gen.size(1) == ref_gen.size(1)


def test_from_pretrained_can_grow_vocab_for_chat_tokens(tmp_path):
    _hf_gpt2(tmp_path, True)
    m = GPT.from_pretrained(tmp_path, vocab_size=100)
    assert m.transformer.wte.weight.shape[0] == 100 and m.lm_head.weight is m.transformer.wte.weight
    assert m(torch.tensor([[99, 1]])).shape == (1, 2, 100)


def _left_padded(prompts):
    return pad_batch(prompts, pad_id=0, side="left")


def test_kv_cache_equals_recomputation_on_a_ragged_batch(gpt):
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]
    ids, mask = _left_padded(prompts)
    cached = gpt.generate(ids, 30, temperature=0, attention_mask=mask)
    recomputed = gpt.generate(ids, 30, temperature=0, attention_mask=mask, use_cache=False)
    assert torch.equal(cached, recomputed)
    for i, p in enumerate(prompts):  # and a padded prompt continues exactly as it does alone
        alone = gpt.generate(torch.tensor([p]), 30, temperature=0)
        assert torch.equal(alone[0, len(p):], cached[i, ids.size(1):])


def test_sampling_with_cache_equals_sampling_without(gpt):
    ids, mask = _left_padded([[1, 2, 3], [4]])
    a = gpt.generate(ids, 20, temperature=0.8, top_k=10, attention_mask=mask, generator=torch.Generator().manual_seed(3))
    b = gpt.generate(ids, 20, temperature=0.8, top_k=10, attention_mask=mask, use_cache=False,
                     generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("side", ["left", "right"])
def test_logprobs_unchanged_by_padding(gpt, side):
    seqs = [[3, 4, 5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15]]
    ids, mask = pad_batch(seqs, pad_id=0, side=side)
    batched = gpt.sequence_logprobs(ids, attention_mask=mask)
    for i, s in enumerate(seqs):
        alone = gpt.sequence_logprobs(torch.tensor([s]))[0]
        n = len(s) - 1
        row = batched[i, :n] if side == "right" else batched[i, -n:]
        assert (row - alone).abs().max().item() <= 1e-5


def test_logprobs_are_next_token_logprobs(gpt):
    idx = torch.tensor([[1, 2, 3, 4]])
    logits = gpt(idx)
    lp = gpt.sequence_logprobs(idx, temperature=0.5)
    for t in range(3):
        expected = torch.log_softmax(logits[0, t] / 0.5, -1)[idx[0, t + 1]]
        assert abs(lp[0, t].item() - expected.item()) < 1e-5


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_generation_logprobs_equal_recomputed_logprobs(gpt, temperature):
    ids, mask = _left_padded([[1, 2, 3, 4], [5, 6]])
    stop = 7
    seq, logps, new_mask = gpt.generate(ids, 16, temperature=temperature, attention_mask=mask, stop_tokens=[stop],
                                        generator=torch.Generator().manual_seed(0), return_logprobs=True)
    full_mask = torch.cat([mask, new_mask], dim=1)
    recomputed = gpt.sequence_logprobs(seq, attention_mask=full_mask, temperature=temperature)[:, ids.size(1) - 1:]
    assert ((recomputed - logps).abs() * new_mask).max().item() <= 1e-5
    assert (logps[new_mask == 0] == 0).all()


def test_stop_tokens_end_rows_and_pad_after(gpt):
    ids = torch.tensor([[1, 2], [3, 4]])
    first = gpt.generate(ids, 1, temperature=0)[:, -1]  # make the first greedy token of row 0 a stop token
    seq, _, new_mask = gpt.generate(ids, 10, temperature=0, stop_tokens=[int(first[0])], pad_id=-5, return_logprobs=True)
    assert seq[0, 2] == first[0] and (seq[0, 3:] == -5).all()
    assert new_mask[0].tolist() == [1] + [0] * (new_mask.size(1) - 1)


def test_generate_turns_dropout_off_and_restores_mode():
    torch.manual_seed(0)
    m = GPT(GPTConfig(**{**CFG.__dict__, "dropout": 0.5})).train()
    ids = torch.tensor([[1, 2, 3]])
    a = m.generate(ids, 10, temperature=0)
    b = m.generate(ids, 10, temperature=0)
    assert torch.equal(a, b) and m.training


@pytest.mark.parametrize("side", ["left", "right"])
def test_scalar_head_unchanged_by_padding(side):
    torch.manual_seed(0)
    rm = ScalarGPT(CFG).eval()
    seqs = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12]]
    ids, mask = pad_batch(seqs + [[1] * 9], pad_id=0, side=side)  # one long row forces extra padding
    values = rm(ids, attention_mask=mask)
    for i, s in enumerate(seqs):
        alone = rm(torch.tensor([s]))[0, -1]
        last = (len(s) - 1) if side == "right" else (ids.size(1) - 1)
        assert abs(values[i, last].item() - alone.item()) <= 1e-5


def test_loss_at_init_is_about_ln_vocab(gpt):
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, CFG.vocab_size, (4, 32), generator=g)
    targets = torch.randint(0, CFG.vocab_size, (4, 32), generator=g)
    _, loss = gpt(idx, targets=targets)
    assert abs(loss.item() - math.log(CFG.vocab_size)) < 0.1


def test_logprobs_from_logits_hand_case():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p = [1/4, 3/4]
    assert torch.allclose(logprobs_from_logits(logits, torch.tensor([[1]])), torch.tensor([[math.log(0.75)]]))


def test_kv_cache_is_at_least_5x_faster_for_256_tokens():
    """4 layers, 128 dims, 256 new tokens for a batch of 8 prompts (as in a rollout).

    Timed in CPU seconds of this process on one thread (time.process_time), best of 2 alternating runs, so other
    programs running on the machine do not distort the ratio (about 16x measured here).
    """
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=512, vocab_size=2052, n_layer=4, n_head=4, n_embd=128)).eval()
    ids = torch.randint(0, 2000, (8, 16), generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = {True: [], False: []}
        for _ in range(2):
            for use_cache in (True, False):
                t0 = time.process_time()
                m.generate(ids, 256, temperature=0, use_cache=use_cache)
                times[use_cache].append(time.process_time() - t0)
    finally:
        torch.set_num_threads(threads)
    cached, recomputed = min(times[True]), min(times[False])
    assert recomputed / cached >= 5.0, f"cache {cached:.2f}s vs recompute {recomputed:.2f}s (CPU time)"
