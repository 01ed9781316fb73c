"""data/formats.py and data/prepare.py: clear errors with file and line; text preparation round trip."""
import json

import numpy as np
import pytest

from data.formats import DataError, load_conversations, load_preferences, load_prompts


def _write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


GOOD_CONV = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})


def test_good_files_load(tmp_path):
    convs = load_conversations(_write(tmp_path, "c.jsonl", [GOOD_CONV, "", GOOD_CONV]))
    assert len(convs) == 2 and convs[0][1] == {"role": "assistant", "content": "hello"}
    prefs = load_preferences(_write(tmp_path, "p.jsonl", [json.dumps({"prompt": "a", "chosen": "b", "rejected": "c", "x": 1})]))
    assert prefs[0]["x"] == 1
    assert load_prompts(_write(tmp_path, "q.jsonl", [json.dumps({"prompt": "a", "task": "t"})])) == ["a"]


@pytest.mark.parametrize("bad,what", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({"messages": []}), "non-empty list"),
    (json.dumps({"messages": [{"role": "robot", "content": "x"}]}), "message 0 needs role"),
    (json.dumps({"messages": [{"role": "user", "content": 5}]}), "content must be a string"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "no assistant turn"),
])
def test_malformed_conversation_lines_name_file_and_line(tmp_path, bad, what):
    p = _write(tmp_path, "conv.jsonl", [GOOD_CONV, GOOD_CONV, bad])
    with pytest.raises(DataError, match=rf"conv\.jsonl:3: .*{what}"):
        load_conversations(p)


def test_malformed_preferences_and_prompts(tmp_path):
    p = _write(tmp_path, "prefs.jsonl", [json.dumps({"prompt": "a", "chosen": "b"})])
    with pytest.raises(DataError, match=r"prefs\.jsonl:1: field 'rejected'"):
        load_preferences(p)
    q = _write(tmp_path, "prompts.jsonl", [json.dumps({"prompt": "ok"}), json.dumps({"prompt": ""})])
    with pytest.raises(DataError, match=r"prompts\.jsonl:2: field 'prompt'"):
        load_prompts(q)


def test_empty_or_missing_files_are_errors(tmp_path):
    with pytest.raises(DataError, match="empty dataset"):
        load_prompts(_write(tmp_path, "empty.jsonl", [""]))
    with pytest.raises(DataError, match="no such file"):
        load_prompts(tmp_path / "nope.jsonl")


def test_prepare_text_round_trip(tmp_path, tiny_enc):
    from data.prepare import prepare_text
    text = "First document.\nStill the first.\n\nSecond document here.\n\nThird one, a little longer than the others."
    meta = prepare_text(text, tiny_enc, tmp_path, val_frac=0.34)
    assert meta["dtype"] == "uint16" and meta["tokenizer"] == tiny_enc.name
    train = np.fromfile(tmp_path / "train.bin", dtype=np.uint16).tolist()
    val = np.fromfile(tmp_path / "val.bin", dtype=np.uint16).tolist()
    decoded = tiny_enc.decode(train + val)
    assert decoded.split("<|endoftext|>")[1:] == ["First document.\nStill the first.", "Second document here.",
                                                  "Third one, a little longer than the others."]
    assert json.loads((tmp_path / "meta.json").read_text())["n_val"] == len(val) > 0


def test_prepare_uses_uint32_for_big_vocabularies(tmp_path):
    from data.prepare import prepare_text
    from tokenizer import get_tokenizer
    enc = get_tokenizer("gpt2")
    meta = prepare_text("Hello world.\n\nBonjour le monde.", enc, tmp_path, val_frac=0.5)
    assert meta["dtype"] == "uint16"  # 50,260 tokens still fit in 16 bits
    meta = prepare_text("Hello world.\n\nBonjour.", enc, tmp_path, val_frac=0.5, force_dtype="uint32")
    assert np.fromfile(tmp_path / "train.bin", dtype=np.uint32).max() < enc.n_vocab
