"""data/datasets.py: the data directory, its tokenizer, and JSONL files rendered with the chat template."""
import json

import pytest

from data.datasets import ensure_data_dir, render_conversations, render_preferences, tokenizer_for
from tokenizer import END, render_conversation, render_prompt, special_id


def test_a_missing_data_directory_other_than_the_default_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        ensure_data_dir(tmp_path / "nowhere")


def test_the_tokenizer_comes_with_the_data(tiny_world, tiny_enc, tmp_path):
    assert ensure_data_dir(tiny_world) == tiny_world
    assert tokenizer_for(tiny_world).name == tiny_enc.name
    assert tokenizer_for(tiny_world, "gpt2").name == "gpt2"  # --tokenizer wins
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        tokenizer_for(tmp_path)


def test_preferences_are_rendered_with_the_chat_template_and_long_pairs_dropped(tiny_enc, tmp_path):
    rows = [{"prompt": "What is 2 plus 3?", "chosen": "2 plus 3 is 5.", "rejected": "Go away.", "task": "x"},
            {"prompt": "Hello!", "chosen": "Hi!", "rejected": "Hi! " * 60}]  # a rejected reply too long
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs, dropped = render_preferences(tiny_enc, path, block_size=40)
    assert dropped == 1 and len(pairs) == 1
    p = pairs[0]
    assert p["task"] == "x" and p["chosen"] == "2 plus 3 is 5."  # the record's own fields are kept
    prompt = render_prompt(tiny_enc, "What is 2 plus 3?")
    reply = tiny_enc.encode_ordinary("2 plus 3 is 5.")
    assert p["chosen_ids"] == prompt + reply + [special_id(tiny_enc, END)]
    assert p["chosen_mask"] == [0] * len(prompt) + [1] * (len(reply) + 1)
    assert (p["rejected_ids"], p["rejected_mask"]) == render_conversation(
        tiny_enc, [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "Go away."}])
    with pytest.raises(ValueError, match="no pair fits"):
        render_preferences(tiny_enc, path, block_size=5)


def test_a_conversation_may_be_one_token_longer_than_the_context(tiny_enc, tmp_path):
    conv = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    n = len(render_conversation(tiny_enc, conv)[0])
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps({"messages": conv}) + "\n")
    assert render_conversations(tiny_enc, path, block_size=n - 1) == ([render_conversation(tiny_enc, conv)], 0)
    with pytest.raises(ValueError, match="no conversation fits"):  # the model reads ids[:-1]: n - 1 tokens
        render_conversations(tiny_enc, path, block_size=n - 2)
