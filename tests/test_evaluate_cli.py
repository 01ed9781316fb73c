"""evaluate.py's command line and chat.py, on tiny checkpoints."""
import csv
import subprocess
import sys

import pytest
import torch

import evaluate


def test_evaluate_writes_the_table_files(tiny_world, tiny_ckpts, tmp_path):
    results = evaluate.main(["--checkpoints", str(tiny_ckpts / "pretrain"), str(tiny_ckpts / "sft"), "--reference",
                             str(tiny_ckpts / "sft"), "--data_dir", str(tiny_world), "--out", str(tmp_path),
                             "--n_prompts", "8", "--max_new_tokens", "6"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [r["name"] for r in rows] == ["pretrain", "sft"]
    for col in ("name", "gold_mean", "win_rate_vs_sft", "format_compliance", "correctness", "kl_to_sft"):
        assert col in rows[0]
    # the SFT checkpoint against itself (same prompts, same seed): every reply ties, no divergence
    assert float(rows[1]["win_rate_vs_sft"]) == 0.5 and abs(float(rows[1]["kl_to_sft"])) < 1e-4
    assert (rows[1]["wins"], rows[1]["ties"], rows[1]["losses"]) == ("0", "8", "0")
    assert float(rows[1]["win_rate_lo"]) == float(rows[1]["win_rate_hi"]) == 0.5
    assert "| name |" in (tmp_path / "results.md").read_text() and (tmp_path / "frontier.png").exists()
    assert len(results) == 2
    # greedy evaluation: no KL (greedy replies are not samples), the rest is reported
    evaluate.main(["--checkpoints", str(tiny_ckpts / "sft"), "--reference", str(tiny_ckpts / "sft"), "--data_dir",
                   str(tiny_world), "--out", str(tmp_path / "greedy"), "--n_prompts", "4", "--max_new_tokens", "4",
                   "--temperature", "0"])
    greedy = list(csv.DictReader(open(tmp_path / "greedy" / "results.csv")))
    assert greedy[0]["kl_to_sft"] == "" and "n/a" in (tmp_path / "greedy" / "results.md").read_text()


def test_evaluate_missing_checkpoint_is_a_clear_error(tiny_world, tiny_ckpts, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope/ckpt.pt: no checkpoint"):
        evaluate.main(["--checkpoints", str(tmp_path / "nope"), "--reference", str(tiny_ckpts / "sft"),
                       "--data_dir", str(tiny_world), "--out", str(tmp_path)])


def test_chat_answers_a_scripted_prompt_and_exits_at_end_of_input(tiny_world, tiny_ckpts):
    res = subprocess.run([sys.executable, "chat.py", "--checkpoint", str(tiny_ckpts / "sft"), "--data_dir",
                          str(tiny_world), "--max_new_tokens", "5"], input="What is 2 plus 3?\n\nHello!\n",
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("bot> ") == 2  # one reply per non-empty line, then a clean exit at EOF


def test_chat_compare_and_missing_checkpoint(tiny_world, tiny_ckpts, tmp_path):
    res = subprocess.run([sys.executable, "chat.py", "--compare", str(tiny_ckpts / "pretrain"), str(tiny_ckpts / "sft"),
                          "--prompt", "Hello!", "--data_dir", str(tiny_world), "--max_new_tokens", "4"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"[{tiny_ckpts / 'pretrain'}]" in res.stdout and f"[{tiny_ckpts / 'sft'}]" in res.stdout
    res = subprocess.run([sys.executable, "chat.py", "--checkpoint", str(tmp_path / "none"), "--prompt", "hi",
                          "--data_dir", str(tiny_world)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "none/ckpt.pt: no checkpoint" in res.stderr and "Traceback" not in res.stderr


def test_chat_raw_continues_the_prompt_as_plain_text(tiny_world, tiny_ckpts):
    import chat
    from model import load_model
    from tokenizer import get_tokenizer
    res = subprocess.run([sys.executable, "chat.py", "--raw", "--checkpoint", str(tiny_ckpts / "pretrain"),
                          "--prompt", "Mia has", "--data_dir", str(tiny_world), "--max_new_tokens", "6",
                          "--temperature", "0"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Mia has") and "bot> " not in res.stdout
    # greedy: the same tokens as the model's own argmax continuation of <|endoftext|> + the prompt
    enc = get_tokenizer(str(tiny_world / "tokenizer.bpe"))
    model, _ = load_model(tiny_ckpts / "pretrain")
    ids = [enc.encode_single_token("<|endoftext|>")] + enc.encode_ordinary("Mia has")
    out = model.generate(torch.tensor([ids]), 6, temperature=0)[0, len(ids):].tolist()
    specials = {enc.encode_single_token(t) for t in enc.special_tokens_set}
    text = enc.decode([t for t in out[:next((i for i, t in enumerate(out) if t in specials), len(out))]])
    assert res.stdout == "Mia has" + text + "\n"
    args = type("Args", (), dict(max_new_tokens=6, temperature=0, top_k=0, seed=0))
    assert chat.continuation(model, enc, "Mia has", args, "cpu") == text
