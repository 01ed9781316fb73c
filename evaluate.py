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

from common import pad_batch
from data.tinyworld import gold_breakdown
from tokenizer import ASSISTANT, BOS, END, USER, render_prompt, special_id

EVAL_TEMPERATURE = 1.0
EVAL_MAX_NEW_TOKENS = 64


@torch.no_grad()
def generate_replies(model, enc, prompts, *, max_new_tokens=EVAL_MAX_NEW_TOKENS, temperature=EVAL_TEMPERATURE,
                     top_k=None, batch_size=32, seed=0, device="cpu"):
    """-> one dict per prompt: prompt, reply (text, without the end token), finished (the reply ended with
    <|end|>; stopping on <|user|> or <|endoftext|>, or running out of tokens, is a format failure), n_tokens,
    prompt_ids, reply_ids (the reply's tokens including the stop token, if any)."""
    end = special_id(enc, END)
    stops = [end, special_id(enc, USER), special_id(enc, BOS), special_id(enc, ASSISTANT)]
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
        seq, _, new_mask = model.generate(ids.to(device), min(max_new_tokens, room), temperature=temperature,
                                          top_k=top_k, stop_tokens=stops, attention_mask=mask.to(device),
                                          generator=generator, return_logprobs=True)
        new = seq[:, ids.size(1):].cpu()
        for p, p_ids, toks, m in zip(chunk, prompt_ids, new, new_mask.cpu()):
            reply_ids = toks[m.bool()].tolist()
            finished = bool(reply_ids) and reply_ids[-1] == end
            text_ids = reply_ids[:-1] if reply_ids and reply_ids[-1] in stops else reply_ids
            rows.append({"prompt": p, "reply": enc.decode(text_ids), "finished": finished,
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
        "correctness": frac(verifiable, lambda r: r["judge"]["correct"]),
        "refusal_unsafe": frac(unsafe, lambda r: r["judge"]["refused"]),
        "over_refusal": frac(safe, lambda r: r["judge"]["refused"]),
        "rudeness": frac(rows, lambda r: r["judge"]["rude"]),
        "mean_length": sum(r["n_tokens"] for r in rows) / n,
    }
    for part in ("correctness", "safety", "tone", "concision", "format"):
        out[f"gold_{part}"] = sum(r["judge"][part] for r in rows) / n
    return out


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
        logratio = policy.sequence_logprobs(ids, mask, temperature) - reference.sequence_logprobs(ids, mask, temperature)
        total += (logratio * reply_mask).sum().item()
        count += len(chunk)
    return total / max(1, count)
