"""
The course notebooks' real numbers: a few small files exported from one finished run of the pipeline.

    python notebooks/export.py            # from the repository root, after the pipeline (pretrain ... sft --tools)
    python notebooks/export.py --extra ppo_nokl dpo_plain   # and runs of other settings, out/<name>/

It reads only the pipeline's outputs, out/<stage>/ (ckpt.pt, metrics.json, log.jsonl), and the tinyworld's
held-out prompts, and rewrites notebooks/data/pipeline/ (about 200 KB in all). The notebooks read these files, so
they show what the real models do without needing the checkpoints, and without training anything. A stage that
is missing from out/ is skipped, and said; the notebooks need every file, so export from a complete run.

    metrics.json       each stage's metrics.json (lists of raw scores left out) and the exporter's settings
    <stage>_log.jsonl  each stage's training log, timing columns left out, numbers rounded to 4 digits
    replies.jsonl      the reply of every stage's model to the same held-out prompts (per_task of each task),
                       sampled as the stages evaluate (temperature 1, one seed), judged part by part, and scored
                       by the reward model
    sampling.json      the SFT model's next-token logits after two prompts (and the text of the likeliest
                       tokens); the gold summary of its replies at several temperatures; several samples of one
                       prompt at each temperature
    rm_scores.json     reward-model score and gold score of the SFT model's replies to held-out prompts
    rollout.json       one PPO rollout, token by token: the PPO policy's replies, their log-probs under the policy
                       and the SFT reference, the values (the value model as PPO starts it: the reward model) and
                       the reward model's scores; ppo.py's settings
    dpo_pairs.json     DPO's first-round pairs (two SFT replies to a prompt, ordered by the labeller), with each
                       token's log-prob under the SFT reference and the DPO policy, and dpo.pair_logprobs' sums
    grpo_groups.json   groups of replies to held-out word problems, as grpo.py samples them, from the SFT model
                       and from the GRPO policy, each with the verifier's verdict; grpo.py's settings
    tools.json         the tool-using model (out/sft_tools): replies traced token by token (sampled or written by
                       the runtime), and evaluate.evaluate_replies on the held-out prompts for the SFT model (never
                       shown a tool), the tool-using model with its tools and the same model with calls banned

--extra names runs of other settings in out/ (out/ppo_nokl, ...): their logs and metrics are exported under their
names, and the replies of those that write (not a reward model) join replies.jsonl.

Everything is sampled with fixed seeds: the same run exports the same files.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's modules live in the root

import torch  # noqa: E402

import dpo  # noqa: E402
import grpo  # noqa: E402
import ppo  # noqa: E402
from checkpoint import checkpoint_file  # noqa: E402
from data.datasets import tokenizer_for  # noqa: E402
from data.formats import load_prompt_records  # noqa: E402
from data.tinyworld import (TOOL_TASKS, VERIFIABLE, call_is_right, gold_breakdown, labeller_prefers_a,  # noqa: E402
                            parse_problem, problem_answer, reasons_step_by_step, run_tool)
from evaluate import EVAL_MAX_NEW_TOKENS, evaluate_replies, solved, uses_tools  # noqa: E402
from model import load_model  # noqa: E402
from replies import generate_replies  # noqa: E402
from tokenizer import render_prompt  # noqa: E402

STAGES = ("pretrain", "sft", "rm", "ppo", "dpo", "grpo", "sft_tools")
REPLY_STAGES = ("pretrain", "sft", "ppo", "dpo", "grpo", "sft_tools")  # the models that write replies (rm scores them)
OWN_FILES = ("metrics.json", "replies.jsonl", "sampling.json", "rm_scores.json", "rollout.json", "dpo_pairs.json",
             "grpo_groups.json", "tools.json")  # with the <name>_log.jsonl files: what export writes in dest
SAVED_AS = {"sft_tools": "sft"}  # sft.py --tools saves an SFT checkpoint in out/sft_tools
DEFAULT_DEST = ROOT / "notebooks" / "data" / "pipeline"
PARTS = ("correctness", "safety", "tone", "concision", "format")
DROPPED_LOG_KEYS = {"time", "ms", "tok/s", "lr", "norm", "gen_s", "update_s"}  # timing: machine-dependent
TEMPERATURES = (0.0, 0.3, 0.7, 1.0, 1.5, 2.0)


def rounded(x, digits=4):
    """Floats (also inside lists and dicts) rounded to `digits` significant digits: smaller files, same story."""
    if isinstance(x, float):
        return x if x == 0 or not math.isfinite(x) else round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    return x


def write_json(path, obj):
    path.write_text(json.dumps(rounded(obj), indent=1) + "\n")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(rounded(r)) + "\n" for r in rows))


def pick_prompts(records, per_task):
    """The first per_task prompts of each task, tasks in the order they first appear -> records."""
    picked, count = [], {}
    for r in records:
        task = r.get("task", "unknown")
        if count.get(task, 0) < per_task:
            count[task] = count.get(task, 0) + 1
            picked.append(r)
    return sorted(picked, key=lambda r: list(count).index(r.get("task", "unknown")))


def judged(reply):
    """A reply as the notebooks show it: text, stop reason, length in tokens, the gold judge's parts and total,
    and its tool calls (call, result) if it made any."""
    b = gold_breakdown(reply.prompt, reply.text, finished=reply.stop != "length")
    return {"text": reply.text, "stop": reply.stop, "tokens": len(reply.reply_ids), "gold": b["total"],
            **{p: b[p] for p in PARTS}, **({"calls": reply.calls} if reply.calls else {})}


def summary(replies, keys=("n", "gold_mean", "gold_ci95", "format_compliance", "correctness", "mean_length")):
    """The evaluation summary (evaluate.evaluate_replies) of a list of replies, its headline numbers."""
    s, _ = evaluate_replies(replies)
    return {k: s[k] for k in keys}


def tools_of(name):
    """The tool runtime a model's replies run with: the tinyworld's tools for a tool-using model (its name says
    "tools", as evaluate.py decides), none for the others."""
    return run_tool if uses_tools(name) else None


# ----------------------------------------------------------------------------------------------------------
# the files


def export_metrics(out, models, dest, settings, names):
    metrics = {"exported": settings}
    for stage in names:
        path = out / stage / "metrics.json"
        if path.exists():
            m = json.loads(path.read_text())
            metrics[stage] = {k: v for k, v in m.items() if not (isinstance(v, list) and v and
                                                                  isinstance(v[0], (int, float)))}
        if stage in models:
            metrics.setdefault(stage, {})["checkpoint_step"] = models[stage][1].get("step")
    write_json(dest / "metrics.json", metrics)


def export_logs(out, dest, names):
    written = []
    for stage in names:
        path = out / stage / "log.jsonl"
        if path.exists():
            rows = [{k: v for k, v in json.loads(line).items() if k not in DROPPED_LOG_KEYS}
                    for line in path.read_text().splitlines() if line.strip()]
            write_jsonl(dest / f"{stage}_log.jsonl", rows)
            written.append(stage)
    return written


def export_replies(models, writers, reward_model, enc, prompts, dest, seed, device):
    """Every writing model's reply to the same prompts, sampled with the same seed, as evaluate.py samples them
    (a tool-using model with its tools running)."""
    rows = [{"prompt": p["prompt"], "task": p.get("task", "unknown")} for p in prompts]
    for stage in writers:
        replies = generate_replies(models[stage][0], enc, [p["prompt"] for p in prompts], temperature=1.0,
                                   seed=seed, device=device, tools=tools_of(stage))
        scores = ([None] * len(replies) if reward_model is None else
                  ppo.reward_model_scores(reward_model, enc, replies, device).tolist())
        for row, reply, score in zip(rows, replies, scores):
            row[stage] = {**judged(reply), "rm": score}  # the RM reads what the reader sees (no tool turns)
    write_jsonl(dest / "replies.jsonl", rows)


def export_sampling(sft, reward_model, enc, records, dest, seed, device, n_examples=4):
    """What temperature does to the SFT model: its next-token logits after two prompts, the gold summary of its
    replies at each temperature, and n_examples samples of one prompt at each."""
    prompts = [r["prompt"] for r in records]
    next_token = []
    for p in prompts[:2]:
        ids = render_prompt(enc, p)
        with torch.no_grad():
            logits = sft(torch.tensor([ids], device=device))[0, -1].float().cpu()  # (V,) for the first reply token
        top = torch.topk(logits, min(40, logits.numel())).indices.tolist()  # their text, for display
        next_token.append({"prompt": p, "prompt_ids": ids, "logits": [round(v, 3) for v in logits.tolist()],
                           "top_tokens": {str(i): enc.decode([i]) for i in top}})
    sweep, examples = [], []
    for t in TEMPERATURES:
        replies = generate_replies(sft, enc, prompts, temperature=t, seed=seed, device=device)
        sweep.append({"temperature": t, **summary(replies)})
        if t == 1.0 and reward_model is not None:
            scores = ppo.reward_model_scores(reward_model, enc, replies, device).tolist()
            write_json(dest / "rm_scores.json", {
                "about": "the SFT model's replies to held-out prompts at temperature 1: reward model score "
                         "(raw, at the reply's last token) and gold score",
                "rm": scores, "gold": [judged(r)["gold"] for r in replies],
                "task": [r.get("task", "unknown") for r in records],
                "finished": [r.finished for r in replies]})
        same = generate_replies(sft, enc, [prompts[0]] * n_examples, temperature=t, seed=seed + 1, device=device)
        examples.append({"temperature": t, "replies": [judged(r) for r in same]})
    write_json(dest / "sampling.json", {"model": "sft", "tokenizer": enc.name, "next_token": next_token,
                                        "sweep": sweep, "examples_prompt": prompts[0], "examples": examples})


def run_settings(ckpt, defaults, keys):
    """The options a stage's run used (its checkpoint's train_config), falling back to its defaults -> dict."""
    used = (ckpt or {}).get("train_config") or {}
    return {k: used.get(k, getattr(defaults, k)) for k in keys}


def export_rollout(policy, policy_name, policy_ckpt, reference, reward_model, rm_ckpt, enc, prompts, dest, seed,
                   device):
    """One PPO rollout with ppo.rollout itself, laid out reply by reply (only the real reply tokens), with the
    settings of the PPO run that trained the policy."""
    cfg = run_settings(policy_ckpt if policy_name == "ppo" else None, ppo.Config(),
                       ("kl_coef", "gamma", "lam", "clip_eps", "clip_eps_value", "temperature", "max_new_tokens"))
    extra = rm_ckpt.get("extra") or {}
    score_mean, score_std = extra.get("score_mean", 0.0), extra.get("score_std", 1.0) or 1.0
    ro = ppo.rollout(policy, reference, reward_model, reward_model, enc, prompts, max_new_tokens=cfg["max_new_tokens"],
                     temperature=cfg["temperature"], generator=torch.Generator(device=device).manual_seed(seed),
                     score_mean=score_mean, score_std=score_std, device=device)
    rows = []
    for b, prompt in enumerate(prompts):
        n = int(ro["mask"][b].sum())
        ids = ro["ids"][b, ro["P"]: ro["P"] + n].tolist()
        rows.append({"prompt": prompt, "text": ro["texts"][b], "token_ids": ids,
                     "tokens": [enc.decode([i]) for i in ids],
                     "logprobs": ro["logprobs"][b, :n].tolist(), "ref_logprobs": ro["ref_logprobs"][b, :n].tolist(),
                     "values": ro["values"][b, :n].tolist(), "rm_score": ro["raw_scores"][b].item(),
                     "score": ro["scores"][b].item(), "finished": bool(ro["finished"][b]),
                     "gold": gold_score_of(prompt, ro["texts"][b], not ro["cut_off"][b])})
    write_json(dest / "rollout.json", {
        "about": f"one rollout of ppo.rollout: policy out/{policy_name}, reference out/sft, reward model "
                 "out/rm, and as value model the reward model (PPO's value model at its first iteration; ppo.py "
                 "does not save the trained one)",
        "settings": cfg,
        "score_mean": score_mean, "score_std": score_std, "no_end_score": ppo.NO_END_SCORE, "replies": rows})


def gold_score_of(prompt, text, finished):
    return gold_breakdown(prompt, text, finished=finished)["total"]


def export_dpo_pairs(policy, policy_ckpt, reference, enc, prompts, dest, seed, device, n_pairs=6):
    """DPO's round-1 pairs (dpo.sample_pairs: two SFT replies, the labeller's order) on held-out prompts, with
    every token's log-prob under the reference and the policy, and dpo.pair_logprobs' sums."""
    pairs = dpo.sample_pairs(reference, enc, prompts, labeller_prefers_a, seed=seed, device=device)[:n_pairs]
    with torch.no_grad():
        sums = {name: [x.tolist() for x in dpo.pair_logprobs(m, pairs, device)]
                for name, m in (("policy", policy), ("reference", reference))}
        rows = []
        for i, p in enumerate(pairs):
            row = {"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"],
                   "gold_chosen": gold_score_of(p["prompt"], p["chosen"], True),
                   "gold_rejected": gold_score_of(p["prompt"], p["rejected"], True)}
            for side in ("chosen", "rejected"):
                ids = p[f"{side}_ids"]
                row[f"{side}_ids"], row[f"{side}_mask"] = ids, p[f"{side}_mask"]
                for name, m in (("policy", policy), ("reference", reference)):
                    token_logprobs = m.token_logprobs(torch.tensor([ids], device=device))[0]  # (T-1,)
                    row[f"{name}_{side}_token_logprobs"] = token_logprobs.tolist()
                    row[f"{name}_{side}_logp"] = sums[name][0 if side == "chosen" else 1][i]
            rows.append(row)
    write_json(dest / "dpo_pairs.json", {
        "about": "two replies of out/sft to each held-out prompt, ordered by the tinyworld's labeller "
                 "(dpo.sample_pairs, as dpo.py's first round); token_logprobs[t] = log p(ids[t+1] | ids[:t+1]) "
                 "(GPT.token_logprobs) under the policy out/dpo and the reference out/sft; *_logp: "
                 "dpo.pair_logprobs, the sum over the reply's tokens",
        "settings": run_settings(policy_ckpt, dpo.Config(), ("beta", "rpo_alpha", "rounds", "pairs", "loss_type")),
        "pairs": rows})


def export_grpo_groups(policy, policy_ckpt, reference, enc, records, dest, seed, device, n_problems=4):
    """Groups of replies to held-out word problems, sampled as grpo.py's rollouts sample them (a group of
    group_size replies per problem, at the run's temperature), from the SFT model (GRPO's start) and from the GRPO
    policy, each reply with the verifier's verdict (evaluate.solved)."""
    cfg = run_settings(policy_ckpt, grpo.Config(), ("group_size", "kl_coef", "advantage", "loss_agg", "clip_eps",
                                                    "temperature", "max_new_tokens", "iters", "prompts_per_iter",
                                                    "tools"))
    problems = [r["prompt"] for r in records if parse_problem(r["prompt"])][:n_problems]
    prompts = [p for p in problems for _ in range(cfg["group_size"])]  # rows g*G ... g*G + G - 1 answer problem g
    groups = [{"problem": p, "answer": problem_answer(parse_problem(p))} for p in problems]
    for name, model in (("sft", reference), ("grpo", policy)):
        replies = generate_replies(model, enc, prompts, max_new_tokens=cfg["max_new_tokens"],
                                   temperature=cfg["temperature"], seed=seed, device=device,
                                   tools=run_tool if cfg["tools"] else None)
        for g, group in enumerate(groups):
            group[name] = [{"text": r.text, "stop": r.stop, "tokens": len(r.reply_ids), "solved": solved(r),
                            "step_by_step": reasons_step_by_step(r.text)}
                           for r in replies[g * cfg["group_size"]: (g + 1) * cfg["group_size"]]]
    write_json(dest / "grpo_groups.json", {
        "about": "groups of replies to held-out word problems (the first of the split), sampled as grpo.py's "
                 "rollouts are, from out/sft (GRPO's start and reference) and out/grpo; solved: the verifier's "
                 "reward (evaluate.solved: a right final answer in a reply that ended with <|end|>)",
        "settings": cfg, "groups": groups})


def export_tools(tool_model, sft, enc, records, dest, seed, device, per_task=12):
    """The tool-using model: a few replies traced token by token (for each task whose demonstrations call a tool,
    among the replies to per_task prompts that made a call and ended, the first whose call was right and the first
    whose call was wrong), and correctness with and without tools on all the split's prompts, sampled as
    evaluate.py samples them."""
    candidates = [r["prompt"] for r in pick_prompts([r for r in records if r.get("task") in TOOL_TASKS], per_task)]
    replies = generate_replies(tool_model, enc, candidates, temperature=1.0, seed=seed, device=device,
                               tools=run_tool)
    task_of = {x["prompt"]: x.get("task", "unknown") for x in records}
    traces, traced = [], set()
    for r in replies:
        if not r.calls or r.stop != "end":
            continue
        task, right = task_of[r.prompt], call_is_right(r.prompt, r.calls[0][0])
        if (task, right) in traced:
            continue
        traced.add((task, right))
        b = gold_breakdown(r.prompt, r.text)
        traces.append({"prompt": r.prompt, "task": task, "prompt_ids": r.prompt_ids, "reply_ids": r.reply_ids,
                       "tokens": [enc.decode([i]) for i in r.reply_ids], "mask": r.mask,
                       "logprobs": r.logprobs, "calls": r.calls, "call_right": right, "text": r.text,
                       "stop": r.stop, "gold": b["total"], "correct": b["correct"]})
    prompts = [r["prompt"] for r in records]
    keys = ("n", "gold_mean", "gold_ci95", "format_compliance", "correctness", "tool_calls", "tool_calls_right",
            *(f"correctness_{t}" for t in VERIFIABLE))
    table = {}
    for name, model, tools, ban in (("sft", sft, None, False), ("sft_tools", tool_model, run_tool, False),
                                    ("sft_tools, calls banned", tool_model, None, True)):
        out = generate_replies(model, enc, prompts, max_new_tokens=EVAL_MAX_NEW_TOKENS, temperature=1.0, seed=seed,
                               device=device, tools=tools, ban_calls=ban)
        s, _ = evaluate_replies(out)
        table[name] = {k: s.get(k) for k in keys}
        table[name]["calls_by_task"] = {t: sum(bool(r.calls) for r in out if task_of[r.prompt] == t) /
                                        max(1, sum(task_of[r.prompt] == t for r in out))
                                        for t in sorted(set(task_of.values()))}
    write_json(dest / "tools.json", {
        "about": "out/sft_tools, the SFT model fine-tuned on tool demonstrations (sft.py --tools): traces of replies "
                 "with tool calls (mask 1 on the tokens the model sampled, 0 on those the runtime wrote; logprobs "
                 "0 there), and evaluate.evaluate_replies on every held-out prompt, sampled as evaluate.py does "
                 "(temperature 1, one seed), for out/sft (never shown a tool), out/sft_tools with its tools "
                 "running, and out/sft_tools with the call token banned",
        "split_prompts": len(prompts), "traces": traces, "table": table})


# ----------------------------------------------------------------------------------------------------------
# main


def export(out="out", data_dir="data/tinyworld", dest=DEFAULT_DEST, *, split="test", per_task=2, n_sweep=96,
           seed=0, device="cpu", extra=()):
    """Read out/ (checkpoints, metrics, logs) and write the notebooks' files into dest -> list of file names.
    extra: names of other runs in out/ (out/ppo_nokl, ...) whose logs, metrics and replies are exported too."""
    out, dest = Path(out), Path(dest)
    t0 = time.time()
    enc = tokenizer_for(data_dir)
    for name in extra:
        if name in STAGES:
            raise ValueError(f"--extra {name}: a stage of the pipeline, exported without --extra")
        if not checkpoint_file(out / name).exists():
            raise FileNotFoundError(f"--extra {name}: no checkpoint {checkpoint_file(out / name)}")
    models = {s: load_model(out / s, expected_stage=SAVED_AS.get(s, s), device=device, tokenizer=enc)
              for s in STAGES if checkpoint_file(out / s).exists()}
    models.update({s: load_model(out / s, device=device, tokenizer=enc) for s in extra})
    missing = [s for s in STAGES if s not in models]
    if missing:
        print(f"export: no checkpoint for {', '.join(missing)} in {out}: what needs it is skipped")
    dest.mkdir(parents=True, exist_ok=True)
    for old in list(dest.glob("*_log.jsonl")) + [dest / f for f in OWN_FILES]:  # no stale file of an earlier run
        old.unlink(missing_ok=True)
    records = load_prompt_records(Path(data_dir) / f"prompts_{split}.jsonl")
    shown = pick_prompts(records, per_task)

    reward_model, rm_ckpt = models.get("rm", (None, None))
    writers = [s for s in REPLY_STAGES if s in models] + [s for s in extra if models[s][1]["model_type"] == "GPT"]
    settings = {"out": str(out), "split": split, "per_task": per_task, "n_sweep": n_sweep, "seed": seed,
                "tokenizer": enc.name, "stages": list(models)}
    names = list(STAGES) + list(extra)
    export_metrics(out, models, dest, settings, names)
    export_logs(out, dest, names)
    export_replies(models, writers, reward_model, enc, shown, dest, seed, device)
    if "sft" in models:
        sft = models["sft"][0]
        export_sampling(sft, reward_model, enc, records[:n_sweep], dest, seed, device)
        if reward_model is not None:
            name = "ppo" if "ppo" in models else "sft"
            rollout_prompts = [r["prompt"] for r in pick_prompts(records, 1)][:4]
            export_rollout(models[name][0], name, models[name][1], sft, reward_model, rm_ckpt, enc,
                           rollout_prompts, dest, seed, device)
        if "dpo" in models:
            export_dpo_pairs(models["dpo"][0], models["dpo"][1], sft, enc, [r["prompt"] for r in shown],
                             dest, seed, device)
        if "grpo" in models:
            export_grpo_groups(models["grpo"][0], models["grpo"][1], sft, enc, records, dest, seed, device)
        if "sft_tools" in models:
            export_tools(models["sft_tools"][0], sft, enc, records, dest, seed, device)
    files = sorted(p.name for p in dest.iterdir() if p.is_file())
    size = sum((dest / f).stat().st_size for f in files)
    print(f"export: {len(files)} files, {size / 1024:.0f} KB in {dest} ({time.time() - t0:.0f}s)")
    return files


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export the course notebooks' data from a finished pipeline run.")
    ap.add_argument("--out", default="out", help="the pipeline's output folder (out/<stage>/ckpt.pt, metrics.json, "
                    "log.jsonl)")
    ap.add_argument("--data_dir", "--data-dir", default="data/tinyworld", help="the tinyworld (prompts, tokenizer)")
    ap.add_argument("--dest", default=str(DEFAULT_DEST), help="where the files go")
    ap.add_argument("--split", default="test", choices=["test", "val"], help="which held-out prompts")
    ap.add_argument("--per_task", "--per-task", type=int, default=2, help="prompts of each task in replies.jsonl")
    ap.add_argument("--n_sweep", "--n-sweep", type=int, default=96, help="prompts of the temperature sweep")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    ap.add_argument("--extra", nargs="*", default=[], help="other runs in out/ to export too (ppo_nokl ...): their "
                    "logs, metrics and replies")
    args = ap.parse_args(argv)
    return export(args.out, args.data_dir, args.dest, split=args.split, per_task=args.per_task,
                  n_sweep=args.n_sweep, seed=args.seed, device=args.device, extra=args.extra)


if __name__ == "__main__":
    from config import run
    run(main)
