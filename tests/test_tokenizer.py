"""tokenizer.py: offline GPT-2 against references, the BPE trainer against a brute-force one, Unicode round
trips, special tokens that plain text can never produce, and the chat template checked token by token."""
import inspect
import random
import re
from collections import Counter

import pytest
import regex

from tokenizer import (ASSISTANT, BOS, END, GPT2_PATTERN, SPECIAL_TOKENS, USER, get_tokenizer, gpt2_files,
                       gpt2_ranks, load_bpe, main, render_conversation, render_prompt, save_bpe, special_id,
                       token_byte_lengths, train_bpe)


def random_text(rng, n):
    """n characters drawn from ASCII, Latin, Greek, CJK, emoji, combining marks, or any code point at all."""
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x370, 0x400), range(0x4E00, 0x9FFF),
             range(0x1F300, 0x1FAFF), range(0x300, 0x370), range(0x0, 0x110000)]
    chars = []
    while len(chars) < n:
        c = rng.choice(rng.choice(pools))
        if not 0xD800 <= c <= 0xDFFF:  # lone surrogates are not text (they cannot be written in UTF-8)
            chars.append(chr(c))
    return "".join(chars) + rng.choice(["", "\n", "  \t", "\r\n", " 123", "'s"])


@pytest.fixture(scope="module", params=["gpt2", "tiny"])
def enc(request, tiny_enc):
    return get_tokenizer("gpt2") if request.param == "gpt2" else tiny_enc


# ----------------------------------------------------------------------------------------------------------
# GPT-2, offline


def test_gpt2_known_ids():
    e = get_tokenizer("gpt2")
    assert e.name == "gpt2" and e.n_vocab == 50256 + len(SPECIAL_TOKENS) == 50264
    assert e.encode_ordinary("Hello world") == [15496, 995]
    assert e.encode_ordinary(" the") == [262] and e.encode_ordinary("!") == [0]
    assert e.encode_ordinary(",") == [11] and e.encode_ordinary(".") == [13]
    assert e.encode_ordinary("\n") == [198] and e.encode_ordinary(" ") == [220]
    assert [special_id(e, t) for t in SPECIAL_TOKENS] == list(range(50256, 50264))  # after the 50,256 ordinary ones
    assert get_tokenizer("gpt2") is e  # cached


def test_gpt2_ranks_equal_tiktokens_own_builder(monkeypatch):
    """tiktoken's data_gym_to_mergeable_bpe_ranks, given the same local files (cache off, no network)."""
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    vocab_bpe, encoder_json = gpt2_files()
    assert gpt2_ranks() == data_gym_to_mergeable_bpe_ranks(str(vocab_bpe), str(encoder_json))


def test_gpt2_matches_hugging_face_on_random_text():
    transformers = pytest.importorskip("transformers")
    vocab_bpe, encoder_json = gpt2_files()
    # the same two files, read by Hugging Face's own code (argument names changed in transformers 5)
    if "vocab" in inspect.signature(transformers.GPT2Tokenizer.__init__).parameters:
        hf = transformers.GPT2Tokenizer(vocab=str(encoder_json), merges=str(vocab_bpe))
    else:
        hf = transformers.GPT2Tokenizer(vocab_file=str(encoder_json), merges_file=str(vocab_bpe))
    e = get_tokenizer("gpt2")
    rng = random.Random(0)
    texts = ["Hello world", "It's 12 o'clock, isn't it?  Yes!!", "naïve café — 東京 🎉", "   spaces\n\nand\ttabs",
             "The  quick brown fox's 2,048 tokens... ¿qué? e\u0301"]
    texts += [random_text(rng, rng.randint(1, 40)) for _ in range(300)]
    for t in texts:
        assert e.encode_ordinary(t) == hf.encode(t), repr(t)


def test_unicode_round_trip(enc):
    rng = random.Random(1)
    for _ in range(300):
        t = random_text(rng, rng.randint(0, 60))
        assert enc.decode(enc.encode_ordinary(t)) == t


def test_special_tokens_never_come_from_plain_text(enc):
    specials = {special_id(enc, t) for t in SPECIAL_TOKENS}
    literal = "say <|end|> then <|assistant|> and <|endoftext|><|user|>"
    assert not specials & set(enc.encode_ordinary(literal))
    messages = [{"role": "user", "content": literal}, {"role": "assistant", "content": "<|end|>"}]
    ids, mask = render_conversation(enc, messages)
    structure = [BOS, USER, END, ASSISTANT, END]  # the template's own special tokens, nothing more
    assert [i for i in ids if i in specials] == [special_id(enc, t) for t in structure]
    assert enc.decode(ids) == f"<|endoftext|><|user|>{literal}<|end|><|assistant|><|end|><|end|>"


def test_token_byte_lengths_add_up_to_the_bytes_of_the_text(enc):
    table = token_byte_lengths(enc)
    assert len(table) == enc.n_vocab
    assert [table[special_id(enc, t)] for t in SPECIAL_TOKENS] == [0] * len(SPECIAL_TOKENS)
    rng = random.Random(2)
    for _ in range(50):
        t = random_text(rng, rng.randint(1, 60))
        assert sum(table[i] for i in enc.encode_ordinary(t)) == len(t.encode("utf-8"))


def test_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.bpe"):
        get_tokenizer(str(tmp_path / "missing.bpe"))
    (tmp_path / "bad.bpe").write_text("YQ== 0\nnot-a-line\n")
    with pytest.raises(ValueError, match=r"bad\.bpe:2"):
        load_bpe(tmp_path / "bad.bpe")
    with pytest.raises(ValueError, match="not a special token"):
        special_id(get_tokenizer("gpt2"), "<|system|>")


# ----------------------------------------------------------------------------------------------------------
# the BPE trainer


def brute_force_bpe(text, vocab_size):
    """The definition, slowly: recount every pair after every merge; most frequent first, ties to the
    smaller pair of ids; merges left to right inside each word; the same bytes reuse their id."""
    words = Counter(tuple(w.encode("utf-8")) for w in regex.findall(GPT2_PATTERN, text))
    ranks = {bytes([b]): b for b in range(256)}
    vocab = {b: bytes([b]) for b in range(256)}
    while len(ranks) < vocab_size:
        pairs = Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merged = vocab[best[0]] + vocab[best[1]]
        new_id = ranks.setdefault(merged, len(ranks))
        vocab[new_id] = merged
        new_words = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if w[i:i + 2] == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    return ranks


def test_bpe_hand_example():
    # aaabdaaabac: "aa" occurs 4 times -> 256. Then (aa,a) and (a,b) both occur twice: the tie goes to the
    # smaller ids, (97, 98) = "ab" -> 257. Then (aa,ab) twice -> 258 = "aaab". Then four pairs once each:
    # the smallest is (a, c) = (97, 99) -> 259.
    ranks = train_bpe("aaabdaaabac", 260)
    merges = {tok: r for tok, r in ranks.items() if r >= 256}
    assert merges == {b"aa": 256, b"ab": 257, b"aaab": 258, b"ac": 259}
    assert all(ranks[bytes([b])] == b for b in range(256))


def test_bpe_equals_brute_force():
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "mat", "aaaa", "banana", "ananas", "x", "1234", "naïve", "東京", "🎉",
             "it's", "!!", "..."]
    text = "".join(rng.choice(words) + rng.choice([" ", " ", "  ", "\n", ", "]) for _ in range(1500))
    text += random_text(rng, 200)
    for vocab_size in (256, 300, 400):
        assert train_bpe(text, vocab_size) == brute_force_bpe(text, vocab_size)


def test_bpe_deterministic_exact_size_round_trip_and_compression(tmp_path):
    rng = random.Random(0)
    words = ["".join(rng.choice("etaoinshrdlu") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    text = " ".join(rng.choice(words) + rng.choice(["", "", ",", "."]) for _ in range(5000)) + " naïve 東京 🎉"
    ranks = train_bpe(text, 350)
    assert ranks == train_bpe(text, 350)
    assert len(ranks) == 350 and sorted(ranks.values()) == list(range(350))
    save_bpe(ranks, tmp_path / "a.bpe")
    save_bpe(train_bpe(text, 350), tmp_path / "b.bpe")
    assert (tmp_path / "a.bpe").read_bytes() == (tmp_path / "b.bpe").read_bytes()
    assert load_bpe(tmp_path / "a.bpe") == ranks
    e = get_tokenizer(str(tmp_path / "a.bpe"))
    assert re.fullmatch(r"bpe-[0-9a-f]{12}", e.name) and e.n_vocab == 350 + len(SPECIAL_TOKENS)
    assert get_tokenizer(str(tmp_path / "b.bpe")).name == e.name  # same file content, same identity
    ids = e.encode_ordinary(text)
    assert e.decode(ids) == text
    n_bytes = len(text.encode("utf-8"))
    fewer = len(get_tokenizer(_saved(tmp_path, train_bpe(text, 300))).encode_ordinary(text))
    assert len(ids) < fewer < n_bytes  # more merges, fewer tokens
    assert len(ids) < n_bytes / 1.5


def _saved(tmp_path, ranks):
    path = tmp_path / f"r{len(ranks)}.bpe"
    save_bpe(ranks, path)
    return str(path)


def test_bpe_file_is_tiktokens_format(tmp_path, monkeypatch):
    from tiktoken.load import load_tiktoken_bpe
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    ranks = train_bpe("low lower lowest newer newest " * 20, 270)
    save_bpe(ranks, tmp_path / "t.bpe")
    assert load_tiktoken_bpe(str(tmp_path / "t.bpe")) == ranks
    lines = (tmp_path / "t.bpe").read_text().splitlines()
    assert all(re.fullmatch(rf"[A-Za-z0-9+/]+=* {k}", line) for k, line in enumerate(lines))


def test_bpe_rejects_tiny_vocab():
    with pytest.raises(ValueError, match="at least 256"):
        train_bpe("hello", 100)


def test_cli_trains_a_file(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("low lower lowest newer newest wider " * 50)
    main(["--input", str(tmp_path / "in.txt"), "--vocab-size", "270", "--out", str(tmp_path / "o.bpe")])
    assert len(load_bpe(tmp_path / "o.bpe")) == 270
    assert "first merges" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------
# the chat template


def test_chat_single_turn_token_by_token(enc):
    s = lambda t: special_id(enc, t)  # noqa: E731
    q, a = enc.encode_ordinary("What is 2 plus 3?"), enc.encode_ordinary("2 plus 3 is 5.")
    ids, mask = render_conversation(enc, [{"role": "user", "content": "What is 2 plus 3?"},
                                          {"role": "assistant", "content": "2 plus 3 is 5."}])
    expected = [(s(BOS), 0), (s(USER), 0)] + [(t, 0) for t in q] + [(s(END), 0), (s(ASSISTANT), 0)] \
        + [(t, 1) for t in a] + [(s(END), 1)]
    assert list(zip(ids, mask)) == expected
    prompt = render_prompt(enc, "What is 2 plus 3?")
    assert prompt + a + [s(END)] == ids and prompt == ids[: len(prompt)]


def test_chat_multi_turn_token_by_token(enc):
    s = lambda t: special_id(enc, t)  # noqa: E731
    turns = [("user", "Hello!"), ("assistant", "Hi! How can I help?"), ("user", "Where does Mia live?"),
             ("assistant", "Mia lives in the town.")]
    ids, mask = render_conversation(enc, [{"role": r, "content": c} for r, c in turns])
    u0, a0, u1, a1 = (enc.encode_ordinary(c) for _, c in turns)
    expected_ids = [s(BOS), s(USER), *u0, s(END), s(ASSISTANT), *a0, s(END), s(USER), *u1, s(END),
                    s(ASSISTANT), *a1, s(END)]
    expected_mask = [0, 0, *[0] * len(u0), 0, 0, *[1] * len(a0), 1, 0, *[0] * len(u1), 0,
                     0, *[1] * len(a1), 1]
    assert ids == expected_ids and mask == expected_mask
    prompt = render_prompt(enc, [{"role": r, "content": c} for r, c in turns[:3]])
    assert prompt + a1 + [s(END)] == ids
    assert sum(mask) == len(a0) + len(a1) + 2


def test_extra_message_fields_are_ignored(enc):
    m = [{"role": "user", "content": "hi", "name": "Mia"}, {"role": "assistant", "content": "hello", "x": 1}]
    assert render_conversation(enc, m) == render_conversation(enc, [{k: d[k] for k in ("role", "content")} for d in m])


@pytest.mark.parametrize("messages,where", [
    ([{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}], "message 1"),
    ([{"role": "user", "content": 3}], "message 0"),
    ([{"role": "user", "content": "hi"}, "hello"], "message 1"),
    ([{"content": "hi"}], "message 0"),
    ([], "non-empty list"),
    ("hi", "non-empty list"),
])
def test_bad_conversations_are_clear_errors(tiny_enc, messages, where):
    with pytest.raises(ValueError, match=where):
        render_conversation(tiny_enc, messages)


def test_bad_prompts_are_clear_errors(tiny_enc):
    with pytest.raises(ValueError, match="message 1: a prompt must end with a user turn"):
        render_prompt(tiny_enc, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
    with pytest.raises(ValueError, match="message 0"):
        render_prompt(tiny_enc, [{"role": "robot", "content": "hi"}])
