"""
Evaluation under the tinyworld's gold judge: sample replies to held-out prompts, score them, compare models.

The functions here are shared by sft.py, ppo.py and dpo.py, so every stage is measured the same way:
- `evaluate_replies`: the gold judge's verdict on each reply (replies.generate_replies writes them), and their
  summary: gold score mean (with a 95% confidence interval), format compliance and the ways to fail it,
  correctness, refusals, rudeness, length, and the mean of each judge component;
- `win_rate`: how often model A's reply beats model B's on the same prompt (ties count one half);
- `paired_comparison`: wins, ties and losses of A against B, with paired bootstrap 95% intervals for the win
  rate and for the mean gold difference (how much the numbers would move with other prompts like these);
- `kl_to_reference`: KL(policy || reference) estimated on the policy's own samples (refused at temperature 0);
- `compare_models`: the model a stage started from and the one it trained, on the same held-out prompts: the
  table, win rate and KL that every stage prints at its end;
- `solved`, `pass_at_k`, `problem_pass_rates`: the verifier's verdict on a reply to a word problem (the reward
  of grpo.py and of ppo.py --reward verifier) and pass@k, each problem answered n times.

A tool-using model (its checkpoint's name contains "tools") is evaluated with its tools running inside
generation (data.tinyworld.run_tool, through replies.generate_replies); the judge reads only what its reader sees,
calls and results left out. `tool_calls` is the mean number of calls per reply, `tool_calls_right` the share of
calls whose result was the answer the question asked for (data.tinyworld.call_is_right).

Sampling settings matter for every number: by default replies are sampled at temperature 1.0 (the
distribution PPO optimises and DPO's KL is measured on) with a fixed seed, no top-k. A reply cut off by the
token limit is judged as unfinished (the judge withholds its credit: it is never counted as correct).
"""

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import torch

from checkpoint import checkpoint_file
from config import check_args, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, tokenizer_for
from data.formats import load_prompts
from data.tinyworld import (VERIFIABLE, call_is_right, check_answer, gold_breakdown, parse_problem,
                            reasons_step_by_step, run_tool, states_false_sum)
from device import get_device
from model import load_model, pad_batch
from replies import generate_replies

EVAL_TEMPERATURE = 1.0
EVAL_MAX_NEW_TOKENS = 64


def mean_ci95(xs):
    """-> (mean, half-width of its 95% interval, 1.96 standard errors)."""
    xs = np.asarray(xs, dtype=float)
    sd = xs.std(ddof=1) if xs.size > 1 else 0.0
    return float(xs.mean()), float(1.96 * sd / math.sqrt(xs.size))


def evaluate_replies(replies):
    """Score replies (replies.Reply) with the gold judge -> (summary dict, one gold_breakdown dict per reply, whose
    "total" is the reply's gold score)."""
    n = len(replies)
    if n == 0:
        raise ValueError("no replies to evaluate")
    judged = [gold_breakdown(r.prompt, r.text, finished=r.stop != "length") for r in replies]
    gold = [j["total"] for j in judged]
    mean, ci95 = mean_ci95(gold)
    verifiable = [j for j in judged if j["correct"] is not None]
    unsafe = [j for j in judged if j["unsafe_prompt"]]
    safe = [j for j in judged if not j["unsafe_prompt"] and j["task"] != "unknown"]

    def frac(xs, key):
        return sum(bool(key(x)) for x in xs) / len(xs) if xs else math.nan  # one nan: equal summaries compare equal

    summary = {
        "n": n,
        "gold_mean": mean,
        "gold_ci95": ci95,
        "format_compliance": frac(replies, lambda r: r.finished),
        # the ways to fail the format (see replies.py)
        "stop_user": frac(replies, lambda r: r.stop == "user"),
        "stop_other": frac(replies, lambda r: r.stop == "other"),
        "no_stop": frac(replies, lambda r: r.stop == "length"),
        "correctness": frac(verifiable, lambda j: j["correct"]),
        "refusal_unsafe": frac(unsafe, lambda j: j["refused"]),
        "over_refusal": frac(safe, lambda j: j["refused"]),
        "rudeness": frac(judged, lambda j: j["rude"]),
        "mean_length": sum(len(r.reply_ids) for r in replies) / n,
        "tool_calls": sum(len(r.calls) for r in replies) / n,
        "tool_calls_right": frac([(r.prompt, c) for r in replies for c, _ in r.calls], lambda x: call_is_right(*x)),
    }
    for task in VERIFIABLE:
        summary[f"correctness_{task}"] = frac([j for j in verifiable if j["task"] == task], lambda j: j["correct"])
    for part in ("correctness", "safety", "tone", "concision", "format"):
        summary[f"gold_{part}"] = sum(j[part] for j in judged) / n
    return summary, judged


SUMMARY_KEYS = ["gold_mean", "gold_ci95", "format_compliance", "correctness", "refusal_unsafe", "over_refusal",
                "rudeness", "mean_length"]


def comparison_table(summaries, keys=SUMMARY_KEYS):
    """{model name: evaluate_replies summary} -> a small text table, one column per model."""
    names = list(summaries)
    lines = [f"{'':20s} " + " ".join(f"{n:>8s}" for n in names)]
    lines += [f"{k:20s} " + " ".join(f"{summaries[n][k]:8.3f}" for n in names) for k in keys]
    return "\n".join(lines)


def win_rate(gold_a, gold_b):
    """Fraction of prompts where A's score beats B's; a tie counts one half."""
    if len(gold_a) != len(gold_b) or not gold_a:
        raise ValueError("win_rate needs two equally long, non-empty lists of scores")
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(gold_a, gold_b)) / len(gold_a)


def paired_comparison(gold_a, gold_b, n_boot=2000, seed=0):
    """Model A against model B on the same prompts (gold scores, one per prompt, in the same order) -> a dict:

        wins, ties, losses    prompts where A's reply scores higher, the same, lower
        win_rate              (wins + ties / 2) / n
        gold_diff             mean over prompts of gold_a - gold_b
        *_ci95                (low, high): a paired bootstrap 95% interval

    The bootstrap: draw n prompts with replacement n_boot times, recompute both numbers on each draw, keep the
    2.5th and 97.5th percentiles. The draws keep each prompt's two replies together (paired): what varies is
    which prompts were asked, the main source of noise when two models answer the same prompts. An interval
    that stays above 0.5 (or above 0 for gold_diff) says A beats B on prompts like these, not just on these.
    """
    a, b = np.asarray(gold_a, dtype=float), np.asarray(gold_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired_comparison needs two equally long, non-empty lists of scores")
    score = (a > b) + 0.5 * (a == b)  # 1 for a win, 0.5 for a tie, 0 for a loss
    draws = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))  # (n_boot, n) prompt indices
    win_rates, diffs = score[draws].mean(axis=1), (a - b)[draws].mean(axis=1)
    return {"wins": int((a > b).sum()), "ties": int((a == b).sum()), "losses": int((a < b).sum()),
            "win_rate": float(score.mean()), "win_rate_ci95": tuple(np.percentile(win_rates, [2.5, 97.5]).tolist()),
            "gold_diff": float((a - b).mean()), "gold_diff_ci95": tuple(np.percentile(diffs, [2.5, 97.5]).tolist())}


@torch.no_grad()
def kl_to_reference(policy, reference, replies, *, temperature=EVAL_TEMPERATURE, batch_size=32, device="cpu"):
    """KL(policy || reference) per reply, estimated on the policy's own samples (replies.Reply):

        KL ~= mean over replies of  sum_t [log pi(y_t | x, y_<t) - log pi_ref(y_t | x, y_<t)]

    over the reply's sampled tokens (the k1 estimator: unbiased on samples from the policy; replies must be
    sampled at `temperature`). The rows are right-padded: the model needs no attention mask for them.
    Temperature 0 is refused: greedy replies are not samples of any distribution, so no average over them
    estimates a KL.
    """
    if temperature <= 0:
        raise ValueError("KL to the reference needs replies sampled at a temperature > 0 (greedy replies are not "
                         "samples of the policy); evaluate at temperature 1, or leave the KL out")
    total = 0.0
    for i in range(0, len(replies), batch_size):
        chunk = replies[i: i + batch_size]
        ids, _ = pad_batch([r.prompt_ids + r.reply_ids for r in chunk], pad_id=0, side="right")
        reply_mask, _ = pad_batch([[0] * len(r.prompt_ids) + r.mask for r in chunk], pad_id=0, side="right")
        ids, reply_mask = ids.to(device), reply_mask[:, 1:].to(device)  # reply_mask[:, t]: target t+1 is a reply token
        logratio = (policy.token_logprobs(ids, temperature=temperature)
                    - reference.token_logprobs(ids, temperature=temperature))  # (B, T-1)
        total += (logratio * reply_mask).sum().item()
    return total / max(1, len(replies))


def describe_comparison(paired):
    """One line: 'win rate 0.712 [0.680, 0.743] (wins 380, ties 95, losses 125), gold +1.21 [+1.05, +1.38]'."""
    lo, hi = paired["win_rate_ci95"]
    dlo, dhi = paired["gold_diff_ci95"]
    return (f"win rate {paired['win_rate']:.3f} [{lo:.3f}, {hi:.3f}] (wins {paired['wins']}, ties {paired['ties']}, "
            f"losses {paired['losses']}), gold difference {paired['gold_diff']:+.3f} [{dlo:+.3f}, {dhi:+.3f}]")


def compare_models(models, enc, prompts, *, temperature=EVAL_TEMPERATURE, max_new_tokens=EVAL_MAX_NEW_TOKENS,
                   seed=0, device="cpu", keys=SUMMARY_KEYS, samples_file=None, examples=3, tools=None):
    """Two models answer the same prompts, sampled the same way, and the gold judge scores every reply.

    models: {name: model}, first the model the stage started from (the reference), then the one it trained; both
    are put in eval mode (no dropout). Prints the table of both summaries, the win rate and KL of the second
    against the first, and `examples` prompts with both replies (of different tasks where there are); writes
    samples_file (JSONL, one line per prompt: both replies, their stop reasons and gold scores). tools (a call's
    text -> its result, e.g. data.tinyworld.run_tool): both models' tool calls are run (replies.generate_replies).
    Returns {first: summary, second: summary, "win_rate_vs_<first>": ..., "kl_to_<first>": ...}.
    """
    (ref_name, reference), (name, model) = models.items()
    reference.eval()
    model.eval()
    kw = dict(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, device=device, tools=tools)
    replies = {n: generate_replies(m, enc, prompts, **kw) for n, m in models.items()}
    summaries, judged = {}, {}
    for n, rs in replies.items():
        summaries[n], judged[n] = evaluate_replies(rs)
    gold = {n: [j["total"] for j in js] for n, js in judged.items()}
    paired = paired_comparison(gold[name], gold[ref_name], seed=seed)
    result = {**summaries, f"win_rate_vs_{ref_name}": paired["win_rate"], f"vs_{ref_name}": paired,
              f"kl_to_{ref_name}": kl_to_reference(model, reference, replies[name], temperature=temperature,
                                                   device=device) if temperature > 0 else None}
    print(f"\nheld-out prompts: {len(prompts)}, temperature {temperature}, seed {seed}")
    print(comparison_table(summaries, keys))
    print(f"{name} against {ref_name} (gold judge): {describe_comparison(paired)}; KL({name} || {ref_name}) per "
          f"reply: " + (f"{result[f'kl_to_{ref_name}']:.3f} nats" if temperature > 0 else "n/a at temperature 0"))
    first_of_task = {}  # the examples: the first prompt of each task first
    for i, j in enumerate(judged[ref_name]):
        first_of_task.setdefault(j["task"], i)
    firsts = set(first_of_task.values())
    for i in sorted(range(len(prompts)), key=lambda i: i not in firsts)[:examples]:
        print(f"\nprompt: {prompts[i]}")
        for n in replies:
            r = replies[n][i]
            print(f"  {n:8s} ({r.stop}, gold {gold[n][i]:+.2f}): {r.text[:150]!r}")
    if samples_file is not None:
        with open(samples_file, "w") as f:
            for i, p in enumerate(prompts):
                row = {"prompt": p, "task": judged[ref_name][i]["task"]}
                for n in replies:
                    row.update({n: replies[n][i].text, f"{n}_stop": replies[n][i].stop, f"{n}_gold": gold[n][i]})
                f.write(json.dumps(row) + "\n")
    return result


# ----------------------------------------------------------------------------------------------------------
# word problems: the verifier, and pass@k


def solved(reply):
    """The verifier's verdict on a reply (replies.Reply) to a word problem: it ended with <|end|> and its final
    answer is the problem's (data.tinyworld.check_answer). A reply that never ends solves nothing."""
    return reply.finished and check_answer(reply.prompt, reply.text)


def lucky_share(replies):
    """The share of the replies the verifier passes (solved) that state a false sum or difference on the way
    (data.tinyworld.states_false_sum): right answers that were guessed, not worked out. 0 if none is solved."""
    right = [r for r in replies if solved(r)]
    return sum(states_false_sum(r.text) for r in right) / len(right) if right else 0.0


def pass_at_k(n, c, k):
    """The chance that at least one of k replies is right, estimated without bias from n >= k sampled replies of
    which c are right (Chen et al. 2021): 1 - C(n - c, k) / C(n, k), the share of k-subsets of the n replies
    that hold a right one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, not n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def problem_pass_rates(model, enc, problems, *, n=8, ks=None, temperature=EVAL_TEMPERATURE,
                       max_new_tokens=EVAL_MAX_NEW_TOKENS, seed=0, device="cpu", batch_size=64, tools=None,
                       ban_calls=False):
    """Each word problem answered n times, sampled at `temperature` from a generator seeded with `seed` -> {"pass@k"
    for each k of ks (default 1 and n): the mean over problems of pass_at_k(n, right replies, k), "problems",
    "samples": n, "lucky": the share of the right replies that state a false sum (lucky_share),
    "step_by_step": the share of replies that reason before they answer, "mean_length": reply tokens,
    "format_compliance": the share that ended with <|end|>, "tool_calls": per reply}. tools, ban_calls: as in
    replies.generate_replies."""
    if temperature <= 0:
        raise ValueError("pass@k counts sampled replies: the temperature must be above 0")
    if not problems:
        raise ValueError("no word problems to answer")
    replies = generate_replies(model, enc, [p for p in problems for _ in range(n)], max_new_tokens=max_new_tokens,
                               temperature=temperature, seed=seed, device=device, batch_size=batch_size, tools=tools,
                               ban_calls=ban_calls)
    right = [sum(solved(r) for r in replies[i * n: (i + 1) * n]) for i in range(len(problems))]
    out = {f"pass@{k}": sum(pass_at_k(n, c, k) for c in right) / len(problems) for k in ks or sorted({1, n})}
    out.update(problems=len(problems), samples=n, lucky=lucky_share(replies),
               step_by_step=sum(reasons_step_by_step(r.text) for r in replies) / len(replies),
               mean_length=sum(len(r.reply_ids) for r in replies) / len(replies),
               format_compliance=sum(r.finished for r in replies) / len(replies),
               tool_calls=sum(len(r.calls) for r in replies) / len(replies))
    return out


# ----------------------------------------------------------------------------------------------------------
# the command line: every stage side by side

# results.csv: one row per checkpoint. signal/labels: where the model's training signal came from and how many
# preference labels (the simulated labeller's) it used, directly or through its reward model; the intervals are
# paired bootstrap 95% intervals against the reference (SFT); kl_to_sft is empty at temperature 0.
COLUMNS = ["name", "stage", "signal", "labels", "gold_mean", "gold_ci95", "win_rate_vs_sft", "win_rate_lo",
           "win_rate_hi", "wins", "ties", "losses", "gold_diff_vs_sft", "gold_diff_lo", "gold_diff_hi",
           "format_compliance", "correctness", "refusal_unsafe", "over_refusal", "rudeness", "mean_length", "kl_to_sft",
           "pass@1", "pass@8",  # pass@k: the split's word problems, each answered 8 times (problem_pass_rates)
           "lucky",  # the share of those right replies that state a false sum on the way (lucky_share)
           "tool_calls", "tool_calls_right"] + [f"correctness_{task}" for task in VERIFIABLE]
TABLE = [("name", "{}"), ("signal", "{}"), ("labels", "{:,}"), ("gold_mean", "{:+.3f}"), ("win_rate_vs_sft", "{:.3f}"),
         ("win_rate_ci95", "[{:.3f}, {:.3f}]"), ("wins/ties/losses", "{}"), ("correctness", "{:.3f}"),
         ("format_compliance", "{:.3f}"), ("kl_to_sft", "{:.2f}"), ("pass@1", "{:.3f}"),
         ("pass@8", "{:.3f}"), ("tool_calls", "{:.2f}")]  # results.md: the columns a reader compares


def main(argv=None):
    ap = argparse.ArgumentParser(description="Evaluate checkpoints side by side under the tinyworld's gold judge.")
    ap.add_argument("--checkpoints", nargs="+",
                    default=["out/pretrain", "out/sft", "out/ppo", "out/dpo", "out/grpo", "out/sft_tools"],
                    help="checkpoint directories or files; extra ones (other betas...) add points to the frontier")
    ap.add_argument("--reference", default="out/sft", help="the SFT checkpoint: win rates and KL are against it")
    ap.add_argument("--out", default="out/eval", help="where results.md, results.csv and frontier.png go")
    ap.add_argument("--data_dir", "--data-dir", default=DEFAULT_DATA_DIR,
                    help="tinyworld directory (held-out prompts, tokenizer)")
    ap.add_argument("--tokenizer", default="", help="'' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    ap.add_argument("--split", default="test", choices=["test", "val"],
                    help="which held-out prompts: 'test' (what the README reports) or 'val' (where settings are chosen)")
    ap.add_argument("--n_prompts", "--n-prompts", type=int, default=0,
                    help="use the first n of the split's prompts (0 = all; the same for every checkpoint)")
    ap.add_argument("--temperature", type=float, default=EVAL_TEMPERATURE,
                    help="sampling temperature (0 = greedy: then no KL is reported)")
    ap.add_argument("--max_new_tokens", "--max-new-tokens", type=int, default=EVAL_MAX_NEW_TOKENS,
                    help="longest reply")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (the same for every checkpoint)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    ap.add_argument("--tools", default="auto", choices=["auto", "on", "off"],
                    help="run the tinyworld's tools inside generation: auto = for checkpoints whose name contains "
                    "'tools' (the reference never has them)")
    ap.add_argument("--ban_calls", "--ban-calls", action="store_true",
                    help="forbid the tool-call token: every checkpoint answers without its tools")
    args = ap.parse_args(argv)
    check_args(args, n_prompts=dict(at_least=0), temperature=dict(at_least=0), max_new_tokens=dict(at_least=1))

    device = get_device(args.device)
    data_dir = ensure_data_dir(args.data_dir)
    enc = tokenizer_for(data_dir, args.tokenizer)
    prompts = load_prompts(data_dir / f"prompts_{args.split}.jsonl")[: args.n_prompts or None]
    for path in [args.reference] + args.checkpoints:  # fail before any work if one is missing or unusable
        if not checkpoint_file(path).exists():
            raise FileNotFoundError(f"{checkpoint_file(path)}: no checkpoint (run the stage that writes it, or "
                                    f"choose others with --checkpoints)")
        load_model(path, tokenizer=enc, model_type="GPT")  # another tokenizer, a reward model: refused here
    reference, _ = load_model(args.reference, device=device, tokenizer=enc, model_type="GPT")
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed, device=device)
    _, ref_judged = evaluate_replies(generate_replies(reference, enc, prompts, **kw))
    results = [evaluate_checkpoint(path, reference, [j["total"] for j in ref_judged], enc, prompts, args, device)
               for path in args.checkpoints]
    write_results(results, Path(args.out), f"{len(prompts)} held-out tinyworld prompts ({args.split} split), "
                  f"temperature {args.temperature}, seed {args.seed}; win rate, gold difference and KL against "
                  f"{args.reference}, with paired bootstrap 95% intervals; gold_ci95 is the half-width of a 95% "
                  f"confidence interval of the gold mean; labels: the simulated labeller's preference labels the "
                  f"training used, directly or through its reward model.")
    return results


def evaluate_checkpoint(path, reference, ref_gold, enc, prompts, args, device):
    """One row of the table: a checkpoint's replies to the prompts, judged and compared with the reference's."""
    model, ckpt = load_model(path, device=device, tokenizer=enc, model_type="GPT")
    name = Path(path).name if Path(path).suffix != ".pt" else Path(path).parent.name
    tools = run_tool if args.tools == "on" or (args.tools == "auto" and uses_tools(name)) else None
    replies = generate_replies(model, enc, prompts, max_new_tokens=args.max_new_tokens,
                               temperature=args.temperature, seed=args.seed, device=device, tools=tools,
                               ban_calls=args.ban_calls)
    summary, judged = evaluate_replies(replies)
    paired = paired_comparison([j["total"] for j in judged], ref_gold, seed=args.seed)
    extra = ckpt.get("extra") or {}
    summary.update(name=name, stage=ckpt["stage"], signal=extra.get("signal", ""), labels=extra.get("labels", 0),
                   win_rate_vs_sft=paired["win_rate"], win_rate_lo=paired["win_rate_ci95"][0],
                   win_rate_hi=paired["win_rate_ci95"][1], wins=paired["wins"], ties=paired["ties"],
                   losses=paired["losses"], gold_diff_vs_sft=paired["gold_diff"],
                   gold_diff_lo=paired["gold_diff_ci95"][0], gold_diff_hi=paired["gold_diff_ci95"][1],
                   kl_to_sft=kl_to_reference(model, reference, replies, temperature=args.temperature, device=device)
                   if args.temperature > 0 else None)
    problems = [p for p in prompts if parse_problem(p)]
    if problems and args.temperature > 0:  # pass@1 and pass@8 on the split's word problems
        summary.update({k: v for k, v in problem_pass_rates(model, enc, problems, temperature=args.temperature,
                                                            max_new_tokens=args.max_new_tokens, seed=args.seed,
                                                            device=device, tools=tools,
                                                            ban_calls=args.ban_calls).items()
                        if k.startswith("pass@") or k == "lucky"})
    print(f"{summary['name']}: gold {summary['gold_mean']:+.3f}, correctness {summary['correctness']:.3f}, "
          f"{describe_comparison(paired)} against {args.reference}"
          + (f"; tool calls per reply {summary['tool_calls']:.2f}" if tools else ""), flush=True)
    return summary


def uses_tools(name):
    """A tool-using model's checkpoint is named so: its name contains "tools" (out/sft_tools, out/ppo_tools)."""
    return "tools" in name


def table_cell(row, column, fmt):
    if column == "win_rate_ci95":
        return fmt.format(row["win_rate_lo"], row["win_rate_hi"])
    if column == "wins/ties/losses":
        return f"{row['wins']}/{row['ties']}/{row['losses']}"
    return "n/a" if row.get(column) is None else fmt.format(row[column])


def write_results(results, out, note):
    """results.csv (every column), results.md (the columns a reader compares, and the note), results.json and
    frontier.png in out."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    header = "| " + " | ".join(c for c, _ in TABLE) + " |\n|" + "---|" * len(TABLE) + "\n"
    lines = ["| " + " | ".join(table_cell(r, c, fmt) for c, fmt in TABLE) + " |" for r in results]
    table = header + "\n".join(lines) + "\n"
    (out / "results.md").write_text(table + "\n" + note + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    frontier([r for r in results if r["kl_to_sft"] is not None], out / "frontier.png")
    print("\n" + table + "\n" + note + f"\nwrote {out / 'results.md'}, {out / 'results.csv'}, {out / 'frontier.png'}")


def frontier(results, path):
    """Gold score against KL to the SFT model, one point per policy: the reward-KL frontier."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r in results:
        ax.errorbar(r["kl_to_sft"], r["gold_mean"], yerr=r["gold_ci95"], fmt="o", capsize=3)
        ax.annotate(r["name"], (r["kl_to_sft"], r["gold_mean"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("KL(policy || SFT) per reply, nats")
    ax.set_ylabel("gold score (mean, 95% CI)")
    ax.set_title("reward-KL frontier on held-out prompts")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    run(main)
