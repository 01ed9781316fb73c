"""replies.py: the one reply generator: replies match their tokens, stop reasons, seeding, the tensor layout and
the sampled log-probs recomputed on it."""
import pytest
import torch

from model import GPT, GPTConfig
from replies import STOP_TOKENS, PromptTooLong, generate_replies, reply_batch, stop_ids
from tokenizer import ASSISTANT, BOS, END, USER, render_prompt, special_id


@pytest.fixture
def tiny_model(tiny_enc):
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=64, vocab_size=tiny_enc.n_vocab, n_layer=1, n_head=2, n_embd=16)).eval()


def test_replies_match_their_tokens(tiny_enc, tiny_model):
    prompts = ["What is 2 plus 3?", "Hello!", "Where does Mia live?"]
    replies = generate_replies(tiny_model, tiny_enc, prompts, max_new_tokens=12, batch_size=2, seed=0)
    end = special_id(tiny_enc, END)
    stops = {special_id(tiny_enc, t) for t in STOP_TOKENS if t != END}
    assert [r.prompt for r in replies] == prompts
    for r in replies:
        assert r.prompt_ids == render_prompt(tiny_enc, r.prompt) and 1 <= len(r.reply_ids) <= 12
        assert len(r.logprobs) == len(r.mask) == len(r.reply_ids) and r.mask == [1] * len(r.reply_ids)
        assert r.finished == (r.reply_ids[-1] == end)
        last = r.reply_ids[-1]
        assert r.stop == ("end" if last == end else "user" if last == special_id(tiny_enc, USER)
                          else "other" if last in stops else "length")
        assert r.stop != "length" or len(r.reply_ids) == 12  # no stop token: the reply used all its tokens
        assert not (set(r.reply_ids[:-1]) & (stops | {end}))  # nothing after the first stop token
        assert r.text == tiny_enc.decode(r.reply_ids if r.stop == "length" else r.reply_ids[:-1])
    again = generate_replies(tiny_model, tiny_enc, prompts, max_new_tokens=12, batch_size=2, seed=0)
    other = generate_replies(tiny_model, tiny_enc, prompts, max_new_tokens=12, batch_size=2, seed=1)
    assert [r.reply_ids for r in replies] == [r.reply_ids for r in again]  # seeded ...
    assert [r.reply_ids for r in replies] != [r.reply_ids for r in other]  # ... and the seed matters


def test_stop_reasons_with_a_model_that_stops_often(tiny_enc, tiny_model):
    """The <|end|> and <|user|> logits raised by 4: replies end in all three ways (and, by chance, "other": the
    random model wrote another stop token)."""
    end, user = special_id(tiny_enc, END), special_id(tiny_enc, USER)
    bias = torch.zeros(tiny_enc.n_vocab)
    bias[[end, user]] = 4.0
    tiny_model.lm_head.register_forward_hook(lambda module, inputs, logits: logits + bias)
    prompts = [f"What is {a} plus {b}?" for a in range(4) for b in range(4)]
    replies = generate_replies(tiny_model, tiny_enc, prompts, max_new_tokens=8, batch_size=5, seed=3)
    assert {"end", "user", "length"} <= {r.stop for r in replies}
    others = set(stop_ids(tiny_enc)) - {end, user}
    for r in replies:
        expected = {"end": (True, False), "user": (False, True), "length": (False, False), "other": (False, False)}
        assert (r.reply_ids[-1] == end, r.reply_ids[-1] == user) == expected[r.stop]
        assert (r.stop == "other") == (r.reply_ids[-1] in others)
        assert r.stop != "length" or len(r.reply_ids) == 8
        assert end not in r.reply_ids[:-1] and user not in r.reply_ids[:-1]


def test_the_batch_layout_is_the_sampling_layout(tiny_enc, tiny_model):
    prompts = ["What is 2 plus 3?", "Hello!", "Tell me a story about the cat."]
    replies = generate_replies(tiny_model, tiny_enc, prompts, max_new_tokens=9, temperature=0.7, seed=4)
    ids, attention_mask, mask, P = reply_batch(replies)
    assert P == max(len(r.prompt_ids) for r in replies) and mask.shape == (3, max(len(r.reply_ids) for r in replies))
    for i, r in enumerate(replies):
        assert ids[i, :P][attention_mask[i, :P].bool()].tolist() == r.prompt_ids  # left-padded prompt
        assert ids[i, P:][mask[i].bool()].tolist() == r.reply_ids  # right-padded reply
        assert attention_mask[i, P:].tolist() == mask[i].tolist()
    # the log-probs of the reply tokens, recomputed on the layout at the same temperature, are those of sampling
    lp = tiny_model.token_logprobs(ids, attention_mask, temperature=0.7)[:, P - 1:]
    for i, r in enumerate(replies):
        assert torch.allclose(lp[i, : len(r.reply_ids)], torch.tensor(r.logprobs), atol=1e-5)


def test_a_prompt_that_fills_the_context_is_refused(tiny_enc, tiny_model):
    with pytest.raises(PromptTooLong, match="no room"):
        generate_replies(tiny_model, tiny_enc, ["word " * 80], max_new_tokens=4)
    assert len(stop_ids(tiny_enc)) == len(STOP_TOKENS) == 6
