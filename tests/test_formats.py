"""data/formats.py and data/prepare.py: each malformed line is an error naming file and line; empty files are
errors; good files load (extra fields kept); prepared .bin files decode back to the text; the dtype rule."""
import json

import numpy as np
import pytest
import tiktoken

from data.formats import DataError, load_conversations, load_jsonl, load_preferences, load_prompts
from data.prepare import main as prepare_main
from data.prepare import prepare_text


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def conv(*turns, **extra):
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in turns], **extra})


GOOD_CONV = conv(("user", "hi"), ("assistant", "hello"))
GOOD_PREF = json.dumps({"prompt": "a", "chosen": "b", "rejected": "c"})
GOOD_PROMPT = json.dumps({"prompt": "What is 2 plus 3?"})


def test_good_files_load_and_keep_extra_fields(tmp_path):
    convs = load_conversations(write(tmp_path, "c.jsonl", [GOOD_CONV, "", conv(
        ("user", "hi"), ("assistant", "yo"), ("user", "2+2?"), ("assistant", "4"), source="x")]))
    assert convs == [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                     [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                      {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]]
    prefs = load_preferences(write(tmp_path, "p.jsonl", [json.dumps(
        {"prompt": "a", "chosen": "b", "rejected": "c", "task": "math", "gold_chosen": 1.5})]))
    assert prefs == [{"prompt": "a", "chosen": "b", "rejected": "c", "task": "math", "gold_chosen": 1.5}]
    prompts = write(tmp_path, "q.jsonl", [json.dumps({"prompt": "a", "task": "t"}), "   ", GOOD_PROMPT])
    assert load_prompts(prompts) == ["a", "What is 2 plus 3?"]
    named = {"role": "user", "content": "hi", "name": "Mia"}
    assert load_conversations(write(tmp_path, "n.jsonl", [json.dumps(
        {"messages": [named, {"role": "assistant", "content": "hello"}]})]))[0][0] == named
    assert [n for n, _ in load_jsonl(prompts)] == [1, 3]  # line numbers count the blank line


def test_the_tinyworld_files_load(tiny_world):
    for split in ("train", "val"):
        assert load_conversations(tiny_world / f"sft_{split}.jsonl")
        assert load_preferences(tiny_world / f"prefs_{split}.jsonl")
    for split in ("train", "val", "test"):
        assert load_prompts(tiny_world / f"prompts_{split}.jsonl")


@pytest.mark.parametrize("bad,what", [
    ("{not json", "not valid JSON"),
    ('{"messages": []', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('"just a string"', "expected a JSON object"),
    (json.dumps({"conversation": []}), "'messages' must be a non-empty list"),
    (json.dumps({"messages": []}), "'messages' must be a non-empty list"),
    (json.dumps({"messages": "hi"}), "'messages' must be a non-empty list"),
    (json.dumps({"messages": ["hi"]}), "message 0: must be an object"),
    (conv(("user", "hi"), ("robot", "beep")), "message 1: role 'robot'"),
    (conv(("system", "be nice"), ("assistant", "ok")), "message 0: role 'system'"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}),
     "message 1: field 'content' is missing"),
    (conv(("user", 5), ("assistant", "x")), "message 0: field 'content' must be a string"),
    (conv(("user", "hi"), ("assistant", "  ")), "message 1: field 'content' is empty"),
    (conv(("user", "hi")), "no assistant turn"),
])
def test_malformed_conversation_line(tmp_path, bad, what):
    path = write(tmp_path, "conv.jsonl", [GOOD_CONV, "", GOOD_CONV, bad, GOOD_CONV])
    with pytest.raises(DataError, match=rf"conv\.jsonl:4: .*{what}"):
        load_conversations(path)


@pytest.mark.parametrize("record,what", [
    ({"prompt": "a", "chosen": "b"}, "field 'rejected' is missing"),
    ({"prompt": "a", "chosen": "", "rejected": "c"}, "field 'chosen' is empty"),
    ({"prompt": ["a"], "chosen": "b", "rejected": "c"}, "field 'prompt' must be a string"),
    ({"prompt": "a", "chosen": None, "rejected": "c"}, "field 'chosen' must be a string"),
])
def test_malformed_preference_line(tmp_path, record, what):
    path = write(tmp_path, "prefs.jsonl", [GOOD_PREF, json.dumps(record)])
    with pytest.raises(DataError, match=rf"prefs\.jsonl:2: {what}"):
        load_preferences(path)


@pytest.mark.parametrize("line,what", [
    (json.dumps({"text": "hi"}), "field 'prompt' is missing"),
    (json.dumps({"prompt": ""}), "field 'prompt' is empty"),
    (json.dumps({"prompt": 3}), "field 'prompt' must be a string"),
    ("prompt: hi", "not valid JSON"),
])
def test_malformed_prompt_line(tmp_path, line, what):
    path = write(tmp_path, "prompts.jsonl", [GOOD_PROMPT, GOOD_PROMPT, "", line])
    with pytest.raises(DataError, match=rf"prompts\.jsonl:4: {what}"):
        load_prompts(path)


def test_bad_bytes_are_reported_with_their_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD_PROMPT.encode() + b"\n" + '{"prompt": "caf\xe9"}'.encode("latin-1") + b"\n")
    with pytest.raises(DataError, match=r"latin1\.jsonl:2: not UTF-8"):
        load_prompts(path)


@pytest.mark.parametrize("loader", [load_conversations, load_preferences, load_prompts])
def test_empty_or_missing_files_are_errors(tmp_path, loader):
    with pytest.raises(DataError, match=r"empty\.jsonl: empty dataset"):
        loader(write(tmp_path, "empty.jsonl", ["", "  "]))
    (tmp_path / "zero.jsonl").write_text("")
    with pytest.raises(DataError, match=r"zero\.jsonl: empty dataset"):
        loader(tmp_path / "zero.jsonl")
    with pytest.raises(DataError, match=r"nope\.jsonl: no such file"):
        loader(tmp_path / "nope.jsonl")
    assert issubclass(DataError, ValueError)


# ----------------------------------------------------------------------------------------------------------
# data/prepare.py


def read_bin(path, meta):
    return np.fromfile(path, dtype=np.dtype(meta["dtype"])).tolist()


def test_prepare_documents_decode_back_to_the_text(tmp_path, tiny_enc):
    docs = ["First document.\nStill the first.", "Second document here.", "A third: naïve 東京 🎉!",
            "Fourth, the last one."]
    text = "\n\n".join(docs[:2]) + "\n  \n\n" + "\n\n".join(docs[2:]) + "\n"
    meta = prepare_text(text, tiny_enc, tmp_path, val_frac=0.25)
    train, val = read_bin(tmp_path / "train.bin", meta), read_bin(tmp_path / "val.bin", meta)
    assert tiny_enc.decode(train) == "".join("<|endoftext|>" + d for d in docs[:3])
    assert tiny_enc.decode(val) == "<|endoftext|>" + docs[3]
    assert json.loads((tmp_path / "meta.json").read_text()) == meta
    assert meta == {"tokenizer": tiny_enc.name, "dtype": "uint16", "vocab_size": tiny_enc.n_vocab,
                    "n_train": len(train), "n_val": len(val), "documents": 4}


def test_prepare_one_document_is_cut_in_its_text_at_a_gap_between_words(tmp_path, tiny_enc):
    from tokenizer import get_tokenizer
    text = "One long document without blank lines.\n" * 30
    doc = text.strip()
    held_out = {}
    for enc in (get_tokenizer("gpt2"), tiny_enc):
        meta = prepare_text(text, enc, tmp_path / enc.name, val_frac=0.1)
        train, val = read_bin(tmp_path / enc.name / "train.bin", meta), read_bin(tmp_path / enc.name / "val.bin", meta)
        assert enc.decode(train + val) == "<|endoftext|>" + doc  # no new <|endoftext|> where the cut is
        assert train + val == [enc.encode_single_token("<|endoftext|>")] + enc.encode_ordinary(doc)  # as if uncut
        held_out[enc.name] = enc.decode(val)
        assert meta["dtype"] == "uint16"  # both vocabularies fit in 16 bits (GPT-2's 50,260 tokens too)
    val_text = held_out["gpt2"]
    assert held_out[tiny_enc.name] == val_text  # the same text held out, whatever the tokenizer
    assert val_text[0].isspace() and not doc[len(doc) - len(val_text) - 1].isspace()  # cut before a word gap
    assert abs(len(val_text) - 0.1 * len(doc)) <= max(len(w) for w in doc.split()) + 1


def test_prepare_with_bpe_n_trains_on_the_training_split_only_and_round_trips_unicode(tmp_path, capsys):
    from data.datasets import tokenizer_for
    from tokenizer import SPECIAL_TOKENS, get_tokenizer, load_bpe, train_bpe
    train_docs = [f"Naïve café {i}: the cat sat on the mat in 東京 🎉, Ελλάδα and Zürich." for i in range(12)]
    val_docs = ["qqqq qqqq qqqq qqqq qqqq qqqq qqqq qqqq qqqq qqqq", "vvvv vvvv vvvv vvvv ¿qué? 😀 ж"]
    (tmp_path / "in.txt").write_text("\n\n".join(train_docs + val_docs) + "\n", encoding="utf-8")
    out = tmp_path / "prepared"
    meta = prepare_main(["--input", str(tmp_path / "in.txt"), "--tokenizer", "bpe:300", "--out", str(out),
                         "--val-frac", "0.15"])
    assert "training split only" in capsys.readouterr().out
    ranks = load_bpe(out / "tokenizer.bpe")
    assert len(ranks) == 300 and meta["vocab_size"] == 300 + len(SPECIAL_TOKENS) and meta["n_val"] > 0
    assert not any(b"qq" in tok or b"vv" in tok for tok in ranks)  # the validation text's pairs were never merged
    assert any(b"the" in tok for tok in ranks)  # the training text's were
    assert ranks == train_bpe("\n".join(train_docs), 300)  # exactly the BPE of the training documents
    enc = tokenizer_for(out)
    assert enc.name == meta["tokenizer"] == get_tokenizer(str(out / "tokenizer.bpe")).name
    train, val = read_bin(out / "train.bin", meta), read_bin(out / "val.bin", meta)
    assert enc.decode(train) == "".join("<|endoftext|>" + d for d in train_docs)
    assert enc.decode(val) == "".join("<|endoftext|>" + d for d in val_docs)  # unseen characters survive too
    for d in train_docs + val_docs:
        assert enc.decode(enc.encode_ordinary(d)) == d


@pytest.mark.parametrize("spec,message", [
    ("bpe:abc", "must be a whole number"), ("bpe:", "must be a whole number"), ("bpe:2k", "must be a whole number"),
    ("bpe:-300", "must be a whole number"), ("bpe:1.5", "must be a whole number"),
    ("bpe:100", "at least 256"), ("bpe:255", "at least 256"),
])
def test_prepare_bad_bpe_size_is_a_one_line_error(tmp_path, capsys, spec, message):
    (tmp_path / "in.txt").write_text("Some text.\n\nMore text.\n")
    with pytest.raises(SystemExit) as exc:
        prepare_main(["--input", str(tmp_path / "in.txt"), "--tokenizer", spec, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"--tokenizer {spec}:" in last and message in last
    assert not (tmp_path / "out").exists()  # refused before any work


def test_prepare_uses_uint32_for_vocabularies_over_16_bits(tmp_path):
    ranks = {bytes([b]): b for b in range(256)}
    big = tiktoken.Encoding("big", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 70000})
    assert big.n_vocab == 70001
    meta = prepare_text("Hello.\n\nWorld.", big, tmp_path, val_frac=0.5)
    assert meta["dtype"] == "uint32"
    train = np.fromfile(tmp_path / "train.bin", dtype=np.uint32).tolist()
    assert train == [70000] + list(b"Hello.")  # the id 70000 survives: it would wrap around in uint16


def test_prepare_rejects_bad_input(tmp_path, tiny_enc):
    with pytest.raises(ValueError, match="empty"):
        prepare_text(" \n\n \n", tiny_enc, tmp_path)
    with pytest.raises(ValueError, match="val_frac"):
        prepare_text("some text", tiny_enc, tmp_path, val_frac=1.0)


def test_prepare_command_line_with_a_bpe_file(tmp_path, tiny_world, tiny_enc):
    from data.datasets import tokenizer_for
    (tmp_path / "in.txt").write_text("Mia has a red ball.\n\nTom sees the cat.\n\nThe dog runs.\n")
    out = tmp_path / "prepared"
    meta = prepare_main(["--input", str(tmp_path / "in.txt"), "--tokenizer", str(tiny_world / "tokenizer.bpe"),
                         "--out", str(out), "--val-frac", "0.34"])
    assert meta["tokenizer"] == tiny_enc.name and meta["n_train"] > 0 and meta["n_val"] > 0
    assert tokenizer_for(out).name == tiny_enc.name  # the stage scripts find the tokenizer by themselves
