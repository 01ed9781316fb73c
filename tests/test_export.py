"""notebooks/export.py: from a tiny pipeline's out/ (random-init checkpoints of every stage) it writes every file the
notebooks read, reading nothing but out/ and the tinyworld, and its numbers agree with the project's functions."""
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

from model import GPT, load_model, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def export_module():
    spec = importlib.util.spec_from_file_location("notebook_export", ROOT / "notebooks" / "export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory, tiny_ckpts, tiny_enc):
    """A pipeline's out/: the fixtures' pretrain, sft and rm; a ppo, dpo, grpo, sft_tools (an SFT checkpoint) and
    an extra run ppo_nokl (other random weights); a log and a metrics file."""
    out = tmp_path_factory.mktemp("out")
    for stage in ("pretrain", "sft", "rm"):
        shutil.copytree(tiny_ckpts / stage, out / stage)
    sft, _ = load_model(out / "sft")
    for name, stage, seed in (("ppo", "ppo", 1), ("dpo", "dpo", 2), ("grpo", "grpo", 3), ("sft_tools", "sft", 4),
                              ("ppo_nokl", "ppo", 5)):
        torch.manual_seed(seed)
        policy = GPT(sft.config)
        save_checkpoint(out / name, policy, stage=stage, tokenizer=tiny_enc.name)
    (out / "ppo_nokl" / "log.jsonl").write_text('{"step": 1, "rm_score": 0.5, "gold": -1.0, "kl": 0.0}\n')
    (out / "sft" / "log.jsonl").write_text('{"step": 1, "time": 0.1, "loss": 3.14159265, "ms": 12.0}\n')
    (out / "sft" / "metrics.json").write_text(json.dumps({"val_loss": 1.5, "scores": [1.0, 2.0]}))
    return out


@pytest.fixture(scope="module")
def exported(export_module, tiny_out, tiny_world, tmp_path_factory):
    dest = tmp_path_factory.mktemp("pipeline")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model of 32 dims samples token by token: one thread is fastest
    try:
        return dest, export_module.export(tiny_out, tiny_world, dest, per_task=1, n_sweep=4, seed=0,
                                          extra=["ppo_nokl"])
    finally:
        torch.set_num_threads(threads)


def test_export_writes_every_file_from_out_only(export_module, exported, tiny_out):
    dest, files = exported
    assert set(files) == {"metrics.json", "sft_log.jsonl", "ppo_nokl_log.jsonl", "replies.jsonl", "sampling.json",
                          "rm_scores.json", "rollout.json", "dpo_pairs.json", "grpo_groups.json", "tools.json"}
    assert sum((dest / f).stat().st_size for f in files) < 200_000  # small enough to commit
    # logs: timing columns dropped, numbers rounded; metrics: raw score lists dropped
    assert json.loads((dest / "sft_log.jsonl").read_text()) == {"step": 1, "loss": 3.142}
    metrics = json.loads((dest / "metrics.json").read_text())
    assert metrics["sft"]["val_loss"] == 1.5 and "scores" not in metrics["sft"]
    assert set(metrics["exported"]["stages"]) == {"pretrain", "sft", "rm", "ppo", "dpo", "grpo", "sft_tools",
                                                  "ppo_nokl"}
    # replies: one row per task, a reply of every writing stage, judged and scored
    rows = [json.loads(line) for line in (dest / "replies.jsonl").read_text().splitlines()]
    assert len({r["task"] for r in rows}) == len(rows) >= 5
    for r in rows:
        for stage in ("pretrain", "sft", "ppo", "dpo", "grpo", "sft_tools", "ppo_nokl"):
            reply = r[stage]
            assert reply["stop"] in ("end", "user", "other", "length") and isinstance(reply["rm"], float)
            assert reply["gold"] == pytest.approx(sum(reply[p] for p in export_module.PARTS), abs=0.01) \
                or reply["gold"] < -5  # the judge squashes totals below -5
    sampling = json.loads((dest / "sampling.json").read_text())
    assert [s["temperature"] for s in sampling["sweep"]] == list(export_module.TEMPERATURES)
    assert len(sampling["next_token"][0]["logits"]) == load_model(tiny_out / "sft")[0].config.vocab_size


def test_exported_numbers_agree_with_the_stage_functions(exported):
    import dpo
    import ppo
    dest, _ = exported
    # the rollout: per reply, as many log-probs, reference log-probs and values as tokens; the reward PPO would
    # compute from them puts the score on the last token
    ro = json.loads((dest / "rollout.json").read_text())
    for r in ro["replies"]:
        assert len(r["tokens"]) == len(r["logprobs"]) == len(r["ref_logprobs"]) == len(r["values"]) > 0
    pad = lambda key: torch.nn.utils.rnn.pad_sequence([torch.tensor(r[key]) for r in ro["replies"]], batch_first=True)
    lp, ref = pad("logprobs"), pad("ref_logprobs")
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(r["tokens"])) for r in ro["replies"]], batch_first=True)
    scores = torch.tensor([r["score"] for r in ro["replies"]])
    rewards, kl = ppo.per_token_rewards(lp, ref, scores, mask, kl_coef=0.1)
    assert torch.allclose(rewards.sum(1), scores - 0.1 * (lp - ref).sum(1), atol=1e-3)
    # the DPO pairs: dpo.reply_logprob over the exported token log-probs gives the exported pair_logprobs sums
    pairs = json.loads((dest / "dpo_pairs.json").read_text())["pairs"]
    assert pairs
    for p in pairs:
        for side in ("chosen", "rejected"):
            for name in ("policy", "reference"):
                tlp = torch.tensor([p[f"{name}_{side}_token_logprobs"]])
                total = dpo.reply_logprob(tlp, torch.tensor([p[f"{side}_mask"]])).item()
                assert total == pytest.approx(p[f"{name}_{side}_logp"], rel=2e-3, abs=1e-2)


def test_grpo_groups_are_groups_of_one_problem_with_the_verifiers_verdict(exported):
    from data.tinyworld import check_answer, parse_problem
    dest, _ = exported
    data = json.loads((dest / "grpo_groups.json").read_text())
    G = data["settings"]["group_size"]
    assert data["groups"]
    for group in data["groups"]:
        assert parse_problem(group["problem"])
        for name in ("sft", "grpo"):
            assert len(group[name]) == G
            for r in group[name]:  # solved: ended, and the final answer right
                assert r["solved"] == (r["stop"] == "end" and check_answer(group["problem"], r["text"]))


def test_tools_export_traces_a_call_and_its_result_and_measures_with_and_without_tools(export_module, tiny_out,
                                                                                       tiny_world, tiny_enc, tmp_path):
    """A model scripted to call "calc 2 plus 3" and copy the result: its traces hold the call (mask 1), the result
    the runtime wrote (mask 0, log-prob 0) and the answer; the table counts its calls with tools, none banned."""
    from test_tools import copier, scripted, tiny_gpt

    from data.formats import load_prompt_records
    from tokenizer import RESULT, RESULT_END, special_id
    script = copier(tiny_enc)
    caller = scripted(tiny_gpt(tiny_enc), tiny_enc, lambda row, generated: script(0, generated))  # every row calls
    sft, _ = load_model(tiny_out / "sft")
    records = load_prompt_records(tiny_world / "prompts_test.jsonl")
    export_module.export_tools(caller, sft, tiny_enc, records, tmp_path, seed=0, device="cpu", per_task=2)
    data = json.loads((tmp_path / "tools.json").read_text())
    # the scripted call is right only for "2 plus 3": each task traced once or twice (a right call, a wrong one)
    keys = [(t["task"], t["call_right"]) for t in data["traces"]]
    assert keys and len(set(keys)) == len(keys)
    for t in data["traces"]:
        ids = t["reply_ids"]
        start, end = ids.index(special_id(tiny_enc, RESULT)), ids.index(special_id(tiny_enc, RESULT_END))
        assert t["mask"] == [0 if start <= i <= end else 1 for i in range(len(ids))]
        assert all(lp == 0 for lp, m in zip(t["logprobs"], t["mask"]) if not m)
        assert t["calls"] == [["calc 2 plus 3", "5"]] and t["text"] == "It is 5." and t["stop"] == "end"
        assert len(t["tokens"]) == len(ids)
    table = data["table"]
    assert table["sft_tools"]["tool_calls"] == 1.0 and table["sft_tools, calls banned"]["tool_calls"] == 0.0
    assert table["sft_tools"]["n"] == len(records) == data["split_prompts"]
    assert all(share == 1.0 for share in table["sft_tools"]["calls_by_task"].values())
