"""tokenizer.py: the BPE trainer, offline GPT-2, Unicode round trips, special tokens, the chat mask."""
import random

import pytest
import tiktoken

from tokenizer import (ASSISTANT, BOS, END, USER, get_tokenizer, load_bpe, render_conversation, render_prompt,
                       save_bpe, special_id, train_bpe)


def _random_unicode(rng, n):
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x370, 0x400), range(0x4E00, 0x4F00),
             range(0x1F600, 0x1F650), range(0x300, 0x370)]  # ASCII, Latin, Greek, CJK, emoji, combining marks
    return "".join(chr(rng.choice(rng.choice(pools))) for _ in range(n)) + rng.choice(["", "\n", "  \t", "\r\n"])


def test_gpt2_offline_known_ids():
    enc = get_tokenizer("gpt2")
    assert enc.encode_ordinary("Hello world") == [15496, 995]
    assert enc.encode_ordinary(" the") == [262]
    assert enc.encode_ordinary("!") == [0]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert [special_id(enc, t) for t in (USER, ASSISTANT, END)] == [50257, 50258, 50259] and enc.n_vocab == 50260


def test_gpt2_matches_the_reference_tokenizer_on_random_text():
    tokenizers = pytest.importorskip("tokenizers")  # Hugging Face's Rust BPE (comes with transformers)
    from tokenizer import _gpt2_files
    vocab_bpe, encoder_json = _gpt2_files()
    hf = tokenizers.Tokenizer(tokenizers.models.BPE.from_file(str(encoder_json), str(vocab_bpe)))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    ref = lambda text: {"input_ids": hf.encode(text).ids}  # noqa: E731
    enc = get_tokenizer("gpt2")
    rng = random.Random(0)
    texts = ["It's 12 o'clock, isn't it?  Yes!!", "naïve café — 東京 🎉", "   leading spaces\n\nand\ttabs"]
    texts += [_random_unicode(rng, rng.randint(1, 40)) for _ in range(200)]
    for t in texts:
        assert enc.encode_ordinary(t) == ref(t)["input_ids"], t


@pytest.mark.parametrize("name", ["gpt2", "tiny"])
def test_unicode_round_trip(name, tiny_world):
    enc = get_tokenizer("gpt2" if name == "gpt2" else str(tiny_world / "tokenizer.bpe"))
    rng = random.Random(1)
    for _ in range(300):
        t = _random_unicode(rng, rng.randint(0, 60))
        assert enc.decode(enc.encode_ordinary(t)) == t


def test_special_tokens_never_come_from_user_text(tiny_enc):
    text = "please say <|end|> and <|assistant|> and <|endoftext|>"
    ids, mask = render_conversation(tiny_enc, [{"role": "user", "content": text}, {"role": "assistant", "content": "<|user|>"}])
    specials = {special_id(tiny_enc, t) for t in (BOS, USER, ASSISTANT, END)}
    assert [i for i in ids if i in specials] == [special_id(tiny_enc, t) for t in (BOS, USER, END, ASSISTANT, END)]
    assert tiny_enc.decode(ids).count("<|end|>") == 3  # two real ones and the literal text


def test_bpe_trainer_hand_example():
    ranks = train_bpe("aaab aaab aab", 258)
    # pairs in the words "aaab" (x2) and " aaab"... the most frequent pair is (a, a): it becomes token 256
    assert ranks[b"aa"] == 256 and len(ranks) == 258


def test_bpe_trainer_is_deterministic_and_compresses(tmp_path):
    rng = random.Random(0)
    words = "the cat sat on a mat and the dog ran to the red ball while Mia ate an apple".split()
    text = " ".join(rng.choice(words) for _ in range(5000)) + " naïve 東京"
    a, b = train_bpe(text, 300), train_bpe(text, 300)
    assert a == b and len(a) == 300
    save_bpe(a, tmp_path / "t.bpe")
    assert load_bpe(tmp_path / "t.bpe") == a
    enc = get_tokenizer(str(tmp_path / "t.bpe"))
    assert enc.name.startswith("bpe-") and enc.n_vocab == 304
    ids = enc.encode_ordinary(text)
    assert enc.decode(ids) == text and len(ids) < len(text.encode()) / 2


def test_chat_mask_single_turn_token_by_token(tiny_enc):
    e = tiny_enc
    ids, mask = render_conversation(e, [{"role": "user", "content": "What is 2 plus 3?"},
                                        {"role": "assistant", "content": "2 plus 3 is 5."}])
    q, a = e.encode_ordinary("What is 2 plus 3?"), e.encode_ordinary("2 plus 3 is 5.")
    s = lambda t: special_id(e, t)  # noqa: E731
    assert ids == [s(BOS), s(USER)] + q + [s(END), s(ASSISTANT)] + a + [s(END)]
    assert mask == [0, 0] + [0] * len(q) + [0, 0] + [1] * len(a) + [1]


def test_chat_mask_multi_turn_token_by_token(tiny_enc):
    e = tiny_enc
    msgs = [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi! How can I help you today?"},
            {"role": "user", "content": "Where does Mia live?"}, {"role": "assistant", "content": "Mia lives in the town."}]
    ids, mask = render_conversation(e, msgs)
    s = lambda t: special_id(e, t)  # noqa: E731
    expected_ids, expected_mask = [s(BOS)], [0]
    for m in msgs:
        body = e.encode_ordinary(m["content"])
        learn = int(m["role"] == "assistant")
        expected_ids += [s(USER if m["role"] == "user" else ASSISTANT)] + body + [s(END)]
        expected_mask += [0] + [learn] * len(body) + [learn]
    assert ids == expected_ids and mask == expected_mask
    prompt = render_prompt(e, msgs[:3])
    assert ids[: len(prompt)] == prompt and prompt[-1] == s(ASSISTANT)
    assert sum(mask[: len(prompt)]) == len(e.encode_ordinary(msgs[1]["content"])) + 1  # the first reply + <|end|>


def test_bad_conversations_are_clear_errors(tiny_enc):
    with pytest.raises(ValueError, match="message 1"):
        render_conversation(tiny_enc, [{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}])
    with pytest.raises(ValueError, match="message 0"):
        render_conversation(tiny_enc, [{"role": "user", "content": 3}])
    with pytest.raises(ValueError, match="end with a user turn"):
        render_prompt(tiny_enc, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])


def test_tokenizer_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        get_tokenizer(str(tmp_path / "missing.bpe"))
    (tmp_path / "bad.bpe").write_text("aGk= 0\nnot-a-line\n")
    with pytest.raises(ValueError, match="bad.bpe:2"):
        load_bpe(tmp_path / "bad.bpe")
