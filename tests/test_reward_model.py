"""reward_model.py: the Bradley-Terry loss, rewards read at the end token, the evaluation against labels and
gold, the score's scale, a tiny run."""
import json
import math

import pytest
import torch

import reward_model as rm_mod
from checkpoint import CheckpointError
from model import GPTConfig, ScalarGPT, load_model


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


def _pair(prompt_ids, chosen, rejected):
    return {"prompt": "x", "chosen": "c", "rejected": "r", "chosen_ids": prompt_ids + chosen,
            "rejected_ids": prompt_ids + rejected}


def test_pair_rewards_are_read_at_each_replys_last_token(tiny_rm):
    pairs = [_pair([3, 4], [5, 6, 7], [8]), _pair([9], [10, 11, 12, 13, 14, 15], [16, 17])]
    r_c, r_r = rm_mod.pair_rewards(tiny_rm, pairs, "cpu")
    for i, p in enumerate(pairs):  # each sequence alone, read at its last position
        assert r_c[i].item() == pytest.approx(tiny_rm(torch.tensor([p["chosen_ids"]]))[0, -1].item(), abs=1e-5)
        assert r_r[i].item() == pytest.approx(tiny_rm(torch.tensor([p["rejected_ids"]]))[0, -1].item(), abs=1e-5)
    moved = [_pair([3, 4], [5, 6, 9], [8])] + pairs[1:]  # another token at the end: another score
    assert rm_mod.pair_rewards(tiny_rm, moved, "cpu")[0][0].item() != pytest.approx(r_c[0].item(), abs=1e-4)


class _LengthReward(torch.nn.Module):
    """A stand-in reward model: the score of a sequence is its length (the value at position t is t + 1)."""

    def forward(self, ids, attention_mask=None):
        return torch.arange(1, ids.size(1) + 1, dtype=torch.float).expand(ids.shape)


def test_evaluate_pairs_against_labels_and_gold(tiny_enc):
    prompt = "What is 2 plus 3?"
    replies = ["Sure! 2 plus 3 is 5.", "5.", "2 plus 3 is 7.", "Ugh, obviously 5. Go away now.",
               "I'm sorry, but I can't help with that."]
    pairs = [{"prompt": prompt, "chosen": c, "rejected": r, "chosen_ids": [0] * len(c), "rejected_ids": [0] * len(r)}
             for c in replies for r in replies if c != r]  # the stand-in scores a reply by its length in characters
    ev = rm_mod.evaluate_pairs(_LengthReward(), pairs, tiny_enc, "cpu", batch_size=7)
    longer = [len(p["chosen"]) > len(p["rejected"]) for p in pairs]
    assert ev["accuracy"] == sum(longer) / len(pairs) and ev["n_gold_pairs"] == len(pairs)
    from data.tinyworld import gold_score
    gold = [(gold_score(prompt, p["chosen"]), gold_score(prompt, p["rejected"])) for p in pairs]
    differ = [(lc, gc > gr) for lc, (gc, gr) in zip(longer, gold) if gc != gr]
    assert ev["gold_accuracy"] == sum(a == b for a, b in differ) / len(differ)
    assert ev["labeller_gold_agreement"] == sum(b for _, b in differ) / len(differ)  # "chosen" is not always better
    assert sorted(ev["scores"]) == sorted(float(len(p[k])) for p in pairs for k in ("chosen", "rejected"))


def test_score_scale_is_the_mean_and_std_of_both_replies(tiny_rm):
    pairs = [_pair([1], [2, 3], [4]), _pair([5, 6], [7], [8, 9, 10])]
    mean, std = rm_mod.score_scale(tiny_rm, pairs, "cpu", batch_size=1)
    scores = torch.cat(rm_mod.pair_rewards(tiny_rm, pairs, "cpu"))
    assert mean == pytest.approx(scores.mean().item(), abs=1e-6) and std == pytest.approx(scores.std().item(), abs=1e-6)


def test_tiny_end_to_end_run(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
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
    assert on_disk["n_clear"] <= on_disk["n_gold_pairs"] == on_disk["n_eval"] and on_disk["gold_margin"] == 0.5
    # the saved model, evaluated again, gives the reported numbers
    from data.datasets import render_preferences
    val, _ = render_preferences(tiny_enc, tiny_world / "prefs_val.jsonl", model.config.block_size)
    train, _ = render_preferences(tiny_enc, tiny_world / "prefs_train.jsonl", model.config.block_size)
    assert rm_mod.evaluate_pairs(model, val, tiny_enc, "cpu")["accuracy"] == pytest.approx(metrics["accuracy"])
    scale = rm_mod.score_scale(model, train[:1024], "cpu")
    assert scale == pytest.approx((metrics["score_mean"], metrics["score_std"]))
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
    assert metrics["n_train"] == 2
    assert metrics["n_gold_pairs"] == 0 and metrics["gold_accuracy"] is None  # the gold judge does not know them
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "chosen": "y"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        rm_mod.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir",
                     str(tmp_path / "rm2"), "--train_file", str(bad), "--max_iters", "1"])


def test_spearman_ranks_share_ties():
    assert rm_mod.ranks([3.0, 1.0, 3.0, 2.0]) == [2.5, 0.0, 2.5, 1.0]
    assert rm_mod.pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
