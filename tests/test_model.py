"""The GPT: parity with Hugging Face's GPT-2, KV cache = recomputation, padding never changes a result, the
sampler's log-probs and masks."""
import math
import time

import pytest
import torch

from model import GPT, GPTConfig, ScalarGPT, at_last_token, last_index, logprobs_from_logits, pad_batch

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
    batched = gpt.token_logprobs(ids, attention_mask=mask)
    for i, s in enumerate(seqs):
        alone = gpt.token_logprobs(torch.tensor([s]))[0]
        n = len(s) - 1
        row = batched[i, :n] if side == "right" else batched[i, -n:]
        assert (row - alone).abs().max().item() <= 1e-5


def test_logprobs_are_next_token_logprobs(gpt):
    idx = torch.tensor([[1, 2, 3, 4]])
    logits = gpt(idx)
    lp = gpt.token_logprobs(idx, temperature=0.5)
    for t in range(3):
        expected = torch.log_softmax(logits[0, t] / 0.5, -1)[idx[0, t + 1]]
        assert abs(lp[0, t].item() - expected.item()) < 1e-5


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampled_logprobs_equal_recomputed_logprobs(gpt, temperature):
    ids, mask = _left_padded([[1, 2, 3, 4], [5, 6]])
    new = gpt.sample(ids, 16, temperature=temperature, attention_mask=mask, stop_tokens=[7],
                     generator=torch.Generator().manual_seed(0))
    seq = torch.cat([ids, new.tokens], dim=1)
    full_mask = torch.cat([mask, new.attention_mask], dim=1)
    recomputed = gpt.token_logprobs(seq, attention_mask=full_mask, temperature=temperature)[:, ids.size(1) - 1:]
    assert ((recomputed - new.logprobs).abs() * new.mask).max().item() <= 1e-5
    assert (new.logprobs[new.mask == 0] == 0).all() and (new.mask[:, 0] == 1).all()


def test_stop_tokens_end_rows_and_pad_after(gpt):
    ids = torch.tensor([[1, 2], [3, 4]])
    first = gpt.generate(ids, 1, temperature=0)[:, -1]  # make the first greedy token of row 0 a stop token
    new = gpt.sample(ids, 10, temperature=0, stop_tokens=[int(first[0])], pad_id=-5)
    assert new.tokens[0, 0] == first[0] and (new.tokens[0, 1:] == -5).all()
    assert new.mask[0].tolist() == [1] + [0] * (new.mask.size(1) - 1)
    assert (new.mask[1] == 1).all() and not (new.tokens[1, :-1] == first[0]).any()  # row 1 runs on
    assert torch.equal(gpt.generate(ids, 10, temperature=0, stop_tokens=[int(first[0])], pad_id=-5),
                       torch.cat([ids, new.tokens], dim=1))  # generate returns the same tokens, as sequences
    everyone = gpt.sample(ids, 10, temperature=0, stop_tokens=gpt.generate(ids, 1, temperature=0)[:, -1].tolist())
    assert everyone.tokens.size(1) == 1  # sampling ends once every row has stopped


def test_on_token_sees_each_step():
    torch.manual_seed(0)
    m = GPT(CFG).eval()
    seen = []
    new = m.sample(torch.tensor([[1, 2, 3]]), 6, temperature=0.9, generator=torch.Generator().manual_seed(0),
                   on_token=lambda tokens: seen.append(tokens.tolist()))
    assert seen == [[t] for t in new.tokens[0].tolist()]


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


def test_right_padded_batch_needs_no_mask(gpt):
    """Causal attention: real tokens never see the padding after them, so leaving the mask out (the fast kernel)
    gives the same logits on every real token as the mask does, and as each row alone."""
    seqs = [[3, 4, 5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15]]
    ids, mask = pad_batch(seqs, pad_id=17, side="right")
    without, with_mask = gpt(ids), gpt(ids, attention_mask=mask)
    for i, s in enumerate(seqs):
        alone = gpt(torch.tensor([s]))[0]
        assert (without[i, : len(s)] - alone).abs().max().item() <= 1e-5
        assert (with_mask[i, : len(s)] - alone).abs().max().item() <= 1e-5
    left, left_mask = pad_batch(seqs, pad_id=17, side="left")  # left padding, by contrast, needs the mask
    assert (gpt(left)[1, -2:] - gpt(torch.tensor([seqs[1]]))[0]).abs().max().item() > 1e-3
    assert (gpt(left, attention_mask=left_mask)[1, -2:] - gpt(torch.tensor([seqs[1]]))[0]).abs().max().item() <= 1e-5


def test_a_forward_pass_never_reads_a_value_back_from_the_device():
    """On the "meta" device tensors have shapes but no values: any .item(), int(tensor) or bool(tensor) in the
    forward pass (a host-device sync on a GPU, once per forward) raises there."""
    m = GPT(CFG).to("meta")
    idx = torch.zeros(2, 8, dtype=torch.long, device="meta")
    assert m(idx).shape == (2, 8, CFG.vocab_size)
    assert m(idx, attention_mask=torch.ones(2, 8, dtype=torch.long, device="meta")).shape == (2, 8, CFG.vocab_size)
    assert m.token_logprobs(idx).shape == (2, 7)
    assert ScalarGPT(CFG).to("meta")(idx).shape == (2, 8)


def test_longer_than_the_context_is_an_error(gpt):
    with pytest.raises(ValueError, match="block_size=64"):
        gpt(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size=64"):
        gpt.generate(torch.zeros(1, 60, dtype=torch.long), 10, temperature=0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_batch(side):
    seqs = [[5, 6, 7], [8], [9, 10]]
    ids, mask = pad_batch(seqs, pad_id=0, side=side)
    assert ids.shape == mask.shape == (3, 3)
    for row, s in zip(range(3), seqs):
        assert ids[row][mask[row].bool()].tolist() == s
        assert (ids[row][~mask[row].bool()] == 0).all()
        assert mask[row, -1 if side == "left" else 0] == 1
    with pytest.raises(ValueError):
        pad_batch(seqs, side="middle")


def test_last_index_and_value_at_last_token_on_hand_made_masks():
    values = torch.arange(12.0).reshape(2, 6)  # (B, T): value = position index, + 6 on the second row
    right = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    left = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 1, 1, 1, 1, 1]])
    middle = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 0, 1, 0, 0, 0]])  # a left-padded prompt and a right-padded reply
    assert last_index(right).tolist() == [2, 4] and at_last_token(values, right).tolist() == [2.0, 10.0]
    assert last_index(left).tolist() == [5, 5] and at_last_token(values, left).tolist() == [5.0, 11.0]
    assert last_index(middle).tolist() == [3, 2]
    with pytest.raises(ValueError, match="no real token"):
        last_index(torch.tensor([[1, 0], [0, 0]]))


def test_logprobs_from_logits_hand_case():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p = [1/4, 3/4]
    assert torch.allclose(logprobs_from_logits(logits, torch.tensor([[1]])), torch.tensor([[math.log(0.75)]]))


def test_kv_cache_is_at_least_5x_faster_for_256_tokens():
    """4 layers, 128 dims, 256 new tokens for a batch of 8 prompts (as in a rollout).

    Timed in CPU seconds of this process on one thread (time.process_time), best of 2 alternating runs, so other
    programs running on the machine do not distort the ratio; bench.py measures it (the cache is many times faster).
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
