"""reward_model.py: the Bradley-Terry loss, a score read at the end token whatever the padding, a tiny run."""
import json
import math

import pytest
import torch

import reward_model as rm_mod
from checkpoint import CheckpointError
from model import GPTConfig, ScalarGPT, load_model, pad_batch


def test_loss_is_ln2_when_rewards_are_equal():
    r = torch.tensor([0.3, -1.0, 2.0])
    assert rm_mod.bradley_terry_loss(r, r.clone()).item() == pytest.approx(math.log(2))


def test_loss_matches_hand_computed_values():
    r_c, r_r = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])  # differences +1 and -2
    expected = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(2.0))) / 2
    assert rm_mod.bradley_terry_loss(r_c, r_r).item() == pytest.approx(expected, rel=1e-6)
    big = rm_mod.bradley_terry_loss(torch.tensor([0.0]), torch.tensor([200.0]))  # stable far from zero
    assert big.item() == pytest.approx(200.0)


def test_gradient_raises_chosen_and_lowers_rejected():
    r_c = torch.zeros(3, requires_grad=True)
    r_r = torch.zeros(3, requires_grad=True)
    rm_mod.bradley_terry_loss(r_c, r_r).backward()
    assert (r_c.grad < 0).all() and (r_r.grad > 0).all()  # gradient descent moves r_c up, r_r down


@pytest.fixture
def tiny_rm():
    torch.manual_seed(0)
    return ScalarGPT(GPTConfig(block_size=64, vocab_size=60, n_layer=2, n_head=2, n_embd=32)).eval()


@pytest.mark.parametrize("side", ["left", "right"])
def test_score_unchanged_by_batch_size_padding_side_and_amount(tiny_rm, side):
    seqs = [[3, 4, 5, 6, 7, 8], [9, 10, 11], [12, 13, 14, 15, 16, 17, 18, 19, 20]]
    alone = [rm_mod.reward_scores(tiny_rm, torch.tensor([s]), torch.ones(1, len(s), dtype=torch.long)).item()
             for s in seqs]
    for extra in (0, 7):  # more padding: a longer dummy row in the batch
        batch = seqs + ([[1] * (len(seqs[2]) + extra)] if extra else [])
        ids, mask = pad_batch(batch, pad_id=0, side=side)
        scores = rm_mod.reward_scores(tiny_rm, ids, mask)[: len(seqs)]
        assert max(abs(a - b) for a, b in zip(scores.tolist(), alone)) <= 1e-5


def test_score_at_last_token_on_hand_made_values():
    values = torch.arange(12.0).reshape(2, 6)  # (B, T): value = position index, + 6 on the second row
    right = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    left = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 1, 1, 1, 1, 1]])
    assert rm_mod.score_at_last_token(values, right).tolist() == [2.0, 10.0]
    assert rm_mod.score_at_last_token(values, left).tolist() == [5.0, 11.0]
    with pytest.raises(ValueError):
        rm_mod.score_at_last_token(values, torch.zeros(2, 6, dtype=torch.long))


def test_score_is_read_at_the_last_real_token(tiny_rm):
    ids, mask = pad_batch([[3, 4, 5, 6], [7, 8]], pad_id=0, side="right")
    values = tiny_rm(ids, attention_mask=mask)
    scores = rm_mod.reward_scores(tiny_rm, ids, mask)
    assert scores[0] == values[0, 3] and scores[1] == values[1, 1]
    ids2 = ids.clone()
    ids2[1, 2:] = 42  # other padding ids change nothing
    assert torch.allclose(rm_mod.reward_scores(tiny_rm, ids2, mask), scores, atol=1e-6)
    more = torch.cat([ids, torch.full((2, 5), 17)], 1), torch.cat([mask, torch.zeros(2, 5, dtype=torch.long)], 1)
    assert torch.allclose(rm_mod.reward_scores(tiny_rm, *more), scores, atol=1e-5)  # appended padding
    shorter = mask.clone()
    shorter[0, 3] = 0  # the end moves: a different position is read
    assert not torch.allclose(rm_mod.reward_scores(tiny_rm, ids, shorter)[0], scores[0])
    moved = ids.clone()
    moved[0, 3] = 9  # a different token at the end position changes the score
    assert not torch.allclose(rm_mod.reward_scores(tiny_rm, moved, mask)[0], scores[0])


def test_chosen_and_rejected_rendered_with_the_chat_template(tiny_enc):
    from tokenizer import render_prompt, special_id
    ids = rm_mod.render_reply(tiny_enc, "What is 2 plus 3?", "2 plus 3 is 5.")
    assert ids == render_prompt(tiny_enc, "What is 2 plus 3?") + tiny_enc.encode_ordinary("2 plus 3 is 5.") + [
        special_id(tiny_enc, "<|end|>")]


def test_tiny_end_to_end_run(tiny_world, tiny_ckpts, tmp_path):
    metrics = rm_mod.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir",
                           str(tmp_path), "--max_iters", "4", "--batch_size", "4", "--log_interval", "1",
                           "--eval_interval", "2"])
    model, ckpt = load_model(tmp_path, expected_stage="rm")
    assert isinstance(model, ScalarGPT) and ckpt["step"] == 4
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("accuracy", "gold_accuracy", "gold_accuracy_clear", "labeller_gold_agreement", "pearson_gold",
                "spearman_gold", "pearson_length", "score_mean", "score_std"):
        assert math.isfinite(on_disk[key]) and on_disk[key] == metrics[key]
        assert ckpt["extra"][key] == metrics[key]
    assert 0 <= on_disk["accuracy"] <= 1 and on_disk["n_clear"] <= on_disk["n_gold_pairs"] == on_disk["n_eval"]
    assert on_disk["score_std"] > 0 and on_disk["gold_margin"] == rm_mod.GOLD_MARGIN
    assert (tmp_path / "rm_vs_gold.png").exists() and (tmp_path / "log.jsonl").exists()
    with pytest.raises(CheckpointError, match="needs .sft."):  # the init must be an SFT checkpoint
        rm_mod.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path)])


def test_users_own_preference_file(tiny_world, tiny_ckpts, tmp_path):
    rows = [{"prompt": "Name a fruit.", "chosen": "An apple, of course.", "rejected": "No."},
            {"prompt": "Say hi.", "chosen": "Hi there!", "rejected": "Go away."}]
    own = tmp_path / "mine.jsonl"
    own.write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = rm_mod.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir",
                           str(tmp_path / "rm"), "--train_file", str(own), "--eval_file", str(own),
                           "--max_iters", "2", "--batch_size", "2"])
    assert metrics["n_train"] == 2 and 0 <= metrics["accuracy"] <= 1
    assert metrics["n_gold_pairs"] == 0 and metrics["gold_accuracy"] is None  # the gold judge does not know them
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "chosen": "y"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        rm_mod.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir",
                     str(tmp_path / "rm2"), "--train_file", str(bad), "--max_iters", "1"])


def test_spearman_ranks_share_ties():
    assert rm_mod.ranks([3.0, 1.0, 3.0, 2.0]) == [2.5, 0.0, 2.5, 1.0]
    assert rm_mod.pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
