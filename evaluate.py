"""
Evaluation under the tinyworld's gold judge: sample replies to held-out prompts, score them, compare models.

The functions here are shared by sft.py, ppo.py and dpo.py, so every stage is measured the same way:
- `generate_replies`: replies of a model to prompts (chat template, KV cache, stop at <|end|>);
- `evaluate_replies`: gold score mean (with a 95% confidence interval), format compliance, correctness,
  refusals, rudeness, length, and the mean of each judge component;
- `win_rate`: how often model A's reply beats model B's on the same prompt (ties count one half);
- `kl_to_reference`: KL(policy || reference) estimated on the policy's own samples.

Sampling settings matter for every number: by default replies are sampled at temperature 1.0 (the
distribution PPO optimises and DPO's KL is measured on) with a fixed seed, no top-k.
"""

import math

import torch

from data.tinyworld import gold_breakdown
from model import pad_batch
from tokenizer import ASSISTANT, BOS, END, USER, render_prompt, special_id

EVAL_TEMPERATURE = 1.0
EVAL_MAX_NEW_TOKENS = 64


@torch.no_grad()
def generate_replies(model, enc, prompts, *, max_new_tokens=EVAL_MAX_NEW_TOKENS, temperature=EVAL_TEMPERATURE,
                     top_k=None, batch_size=32, seed=0, device="cpu"):
    """-> one dict per prompt: prompt, reply (text, without the end token), finished (the reply ended with
    <|end|>; stopping on <|user|> or <|endoftext|>, or running out of tokens, is a format failure), n_tokens,
    stop (what ended it: "end" = <|end|>, "user" = it wrote the user's turn itself, "other" = <|endoftext|> or
    <|assistant|>, "length" = no stop token within max_new_tokens),
    prompt_ids, reply_ids (the reply's tokens including the stop token, if any)."""
    end = special_id(enc, END)
    user = special_id(enc, USER)
    stops = [end, user, special_id(enc, BOS), special_id(enc, ASSISTANT)]
    generator = torch.Generator(device=device).manual_seed(seed)
    rows = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i: i + batch_size]
        prompt_ids = [render_prompt(enc, p) for p in chunk]
        ids, mask = pad_batch(prompt_ids, pad_id=0, side="left")  # left padding: every prompt ends at one column
        room = model.config.block_size - max(len(p) for p in prompt_ids)
        if room <= 0:
            raise ValueError(f"a prompt of {max(len(p) for p in prompt_ids)} tokens leaves no room in the "
                             f"model's context of {model.config.block_size}")
        new = model.sample(ids.to(device), min(max_new_tokens, room), temperature=temperature, top_k=top_k,
                           stop_tokens=stops, attention_mask=mask.to(device), generator=generator)
        for p, p_ids, toks, m in zip(chunk, prompt_ids, new.tokens.cpu(), new.mask.cpu()):
            reply_ids = toks[m.bool()].tolist()
            finished = bool(reply_ids) and reply_ids[-1] == end
            text_ids = reply_ids[:-1] if reply_ids and reply_ids[-1] in stops else reply_ids
            last = reply_ids[-1] if reply_ids else None
            stop = ("end" if finished else "user" if last == user else "other" if last in stops else "length")
            rows.append({"prompt": p, "reply": enc.decode(text_ids), "finished": finished, "stop": stop,
                         "n_tokens": len(reply_ids), "prompt_ids": p_ids, "reply_ids": reply_ids})
    return rows


def evaluate_replies(rows):
    """Score rows of generate_replies with the gold judge (adds "gold" and "judge" to each row) -> summary dict."""
    n = len(rows)
    if n == 0:
        raise ValueError("no replies to evaluate")
    for r in rows:
        r["judge"] = gold_breakdown(r["prompt"], r["reply"])
        r["gold"] = r["judge"]["total"]
    gold = [r["gold"] for r in rows]
    mean = sum(gold) / n
    std = math.sqrt(sum((g - mean) ** 2 for g in gold) / max(1, n - 1))
    verifiable = [r for r in rows if r["judge"]["correct"] is not None]
    unsafe = [r for r in rows if r["judge"]["unsafe_prompt"]]
    safe = [r for r in rows if not r["judge"]["unsafe_prompt"] and r["judge"]["task"] != "unknown"]

    def frac(xs, key):
        return sum(bool(key(x)) for x in xs) / len(xs) if xs else float("nan")

    out = {
        "n": n,
        "gold_mean": mean,
        "gold_ci95": 1.96 * std / math.sqrt(n),
        "format_compliance": frac(rows, lambda r: r["finished"]),
        # the ways to fail the format (rows of generate_replies say which; hand-made rows may not)
        "stop_user": frac(rows, lambda r: r.get("stop") == "user"),
        "stop_other": frac(rows, lambda r: r.get("stop") == "other"),
        "no_stop": frac(rows, lambda r: r.get("stop") == "length"),
        "correctness": frac(verifiable, lambda r: r["judge"]["correct"]),
        "refusal_unsafe": frac(unsafe, lambda r: r["judge"]["refused"]),
        "over_refusal": frac(safe, lambda r: r["judge"]["refused"]),
        "rudeness": frac(rows, lambda r: r["judge"]["rude"]),
        "mean_length": sum(r["n_tokens"] for r in rows) / n,
    }
    for part in ("correctness", "safety", "tone", "concision", "format"):
        out[f"gold_{part}"] = sum(r["judge"][part] for r in rows) / n
    return out


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


@torch.no_grad()
def kl_to_reference(policy, reference, rows, *, temperature=EVAL_TEMPERATURE, batch_size=32, device="cpu"):
    """KL(policy || reference) per reply, estimated on the policy's own samples (rows of generate_replies):

        KL ~= mean over replies of  sum_t [log pi(y_t | x, y_<t) - log pi_ref(y_t | x, y_<t)]

    (the k1 estimator: unbiased on samples from the policy; replies must be sampled at `temperature`).
    """
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        chunk = rows[i: i + batch_size]
        seqs = [r["prompt_ids"] + r["reply_ids"] for r in chunk]
        ids, mask = pad_batch(seqs, pad_id=0, side="right")
        ids, mask = ids.to(device), mask.to(device)
        # reply_mask[:, t] = 1 where target token t+1 belongs to the reply
        reply_mask = torch.zeros_like(mask)
        for j, r in enumerate(chunk):
            reply_mask[j, len(r["prompt_ids"]): len(r["prompt_ids"]) + len(r["reply_ids"])] = 1
        reply_mask = reply_mask[:, 1:]
        logratio = policy.token_logprobs(ids, mask, temperature) - reference.token_logprobs(ids, mask, temperature)
        total += (logratio * reply_mask).sum().item()
        count += len(chunk)
    return total / max(1, count)


# ----------------------------------------------------------------------------------------------------------
# the command line: every stage side by side

COLUMNS = ["name", "stage", "gold_mean", "gold_ci95", "win_rate_vs_sft", "format_compliance", "correctness",
           "refusal_unsafe", "over_refusal", "rudeness", "mean_length", "kl_to_sft"]


def main(argv=None):
    import argparse
    import csv
    import json
    from pathlib import Path

    from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, tokenizer_for
    from device import get_device
    from data.formats import load_prompts
    from model import load_model

    ap = argparse.ArgumentParser(description="Evaluate checkpoints side by side under the tinyworld's gold judge.")
    ap.add_argument("--checkpoints", nargs="+", default=["out/pretrain", "out/sft", "out/ppo", "out/dpo"],
                    help="checkpoint directories or files; extra ones (other betas...) add points to the frontier")
    ap.add_argument("--reference", default="out/sft", help="the SFT checkpoint: win rates and KL are against it")
    ap.add_argument("--out", default="out/eval", help="where results.md, results.csv and frontier.png go")
    ap.add_argument("--data_dir", "--data-dir", default=DEFAULT_DATA_DIR, help="tinyworld directory (held-out prompts, tokenizer)")
    ap.add_argument("--tokenizer", default="", help="'' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    ap.add_argument("--n_prompts", type=int, default=300, help="held-out prompts (the same for every checkpoint)")
    ap.add_argument("--temperature", type=float, default=EVAL_TEMPERATURE, help="sampling temperature (0 = greedy)")
    ap.add_argument("--max_new_tokens", type=int, default=EVAL_MAX_NEW_TOKENS, help="longest reply")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (the same for every checkpoint)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    args = ap.parse_args(argv)

    device = get_device(args.device)
    data_dir = ensure_data_dir(args.data_dir)
    enc = tokenizer_for(data_dir, args.tokenizer)
    prompts = load_prompts(data_dir / "prompts_eval.jsonl")[: args.n_prompts]
    for path in [args.reference] + args.checkpoints:  # fail before any work if one is missing
        from checkpoint import checkpoint_file
        if not checkpoint_file(path).exists():
            raise FileNotFoundError(f"{checkpoint_file(path)}: no checkpoint (run the stage that writes it, or "
                                    f"choose others with --checkpoints)")
    reference, _ = load_model(args.reference, device=device)
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed, device=device)
    ref_rows = generate_replies(reference, enc, prompts, **kw)
    evaluate_replies(ref_rows)
    results = []
    for path in args.checkpoints:
        model, ckpt = load_model(path, device=device)
        if ckpt.get("tokenizer") not in (None, enc.name):
            raise ValueError(f"{path} was trained with tokenizer {ckpt['tokenizer']}, not {enc.name}")
        rows = generate_replies(model, enc, prompts, **kw)
        summary = evaluate_replies(rows)
        summary.update(name=Path(path).name if Path(path).suffix != ".pt" else Path(path).parent.name,
                       stage=ckpt["stage"],
                       win_rate_vs_sft=win_rate([r["gold"] for r in rows], [r["gold"] for r in ref_rows]),
                       kl_to_sft=kl_to_reference(model, reference, rows, temperature=args.temperature, device=device))
        results.append(summary)
        print(" | ".join(f"{c} {summary[c]:.3f}" if isinstance(summary[c], float) else f"{c} {summary[c]}"
                         for c in COLUMNS), flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    header = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    lines = ["| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS) + " |"
             for r in results]
    table = header + "\n".join(lines) + "\n"
    note = (f"\n{len(prompts)} held-out tinyworld prompts, temperature {args.temperature}, seed {args.seed}; "
            f"win rate and KL against {args.reference}; gold_ci95 is the half-width of a 95% confidence interval.\n")
    (out / "results.md").write_text(table + note)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    frontier(results, out / "frontier.png")
    print("\n" + table + note + f"wrote {out / 'results.md'}, {out / 'results.csv'}, {out / 'frontier.png'}")
    return results


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
    import sys
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"evaluate.py: {e}")
