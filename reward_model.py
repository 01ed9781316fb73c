"""
Stage 3, the reward model: learn which of two replies a human prefers, as a number per reply.

People are bad at giving a reply a score out of 10 but good at saying which of two replies is better. So we
collect pairs (prompt, chosen, rejected) and fit a model r(prompt, reply) -> a number, such that

    P(chosen is preferred over rejected) = sigmoid(r(chosen) - r(rejected))        (Bradley-Terry, 1952)

Maximising the likelihood of the labels gives the loss below: logistic regression whose one input is the
difference of two rewards. Only differences matter, so the scale's zero is arbitrary. The model is the SFT GPT
with its vocabulary head replaced by one number (model.ScalarGPT), read at the reply's last token, the <|end|>
of prompt + reply + <|end|> (by then the model has seen the whole conversation; model.at_last_token finds it).
Here the "humans" are the tinyworld's simulated labeller, noisy on purpose (it agrees with the noise-free gold
ordering about 92% of the time), and we can check the reward model against the gold judge itself, which real
projects never can:

- accuracy against the labeller's held-out labels (capped by the labeller's own noise),
- accuracy against the gold ordering, on all pairs and on pairs whose gold scores differ by >= GOLD_MARGIN,
- Pearson and Spearman correlation of the score with the gold score, on held-out (prompt, reply) pairs,
- correlation of the score with the reply's length in tokens: a reward model that likes long replies can be
  "hacked" by a policy that just writes more,
- out_dir/rm_vs_gold.png, the score against the gold score, one dot per held-out reply.

    python reward_model.py                              # CPU, after sft.py; ~1 minute on 2 cores
    python reward_model.py --device cuda --compile      # one GPU
    python reward_model.py --train_file my_prefs.jsonl --eval_file my_prefs_eval.jsonl
                                                        # your own {"prompt", "chosen", "rejected"} per line

The checkpoint (out_dir/ckpt.pt, stage "rm") stores in extra the final metrics and the score's mean and std
(score_mean, score_std) over the chosen and rejected replies of the first 1024 training pairs: ppo.py whitens
the reward model's scores with them, (r - score_mean) / score_std.

Where this departs from InstructGPT's reward model (Ouyang et al., 2022):
1. Pairs, not K-way rankings (InstructGPT shows K=4..9 replies and puts all K*(K-1)/2 pairs of a prompt in one
   batch element, so each reply is scored once per prompt).
2. The reward model starts from the same small SFT model that PPO fine-tunes (InstructGPT used a 6B reward
   model for a 175B policy); the scalar head starts small and random, the trunk is not frozen.
3. No normalisation during training: InstructGPT shifts the reward so that demonstrations score 0 on average;
   here the mean and std of the scores are stored in the checkpoint instead, for ppo.py to whiten with.
4. A fixed number of steps, not epochs: 200 steps of 32 pairs drawn with replacement from the tinyworld's
   20,000 training pairs, a third of one pass; InstructGPT found one pass best, as the reward model overfits
   after it, and here the held-out accuracy is flat after the first 100 steps.

Ctrl-C or SIGTERM stops the loop after the current step and saves out_dir/ckpt.pt with its optimizer and random
state; `python reward_model.py --resume` continues it exactly (batches are drawn by step). An exact resume costs
only the optimizer's state in the file; restarting from the saved weights instead would need --init to accept
a reward model, and would warm up and decay the learning rate again.
"""

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from config import opt, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, render_preferences, tokenizer_for
from data.tinyworld import gold_breakdown
from device import autocast, get_device, set_seed
from logger import MetricsLogger
from model import ScalarGPT, at_last_token, evaluating, load_model, pad_batch
from training import (StopRequest, clip_gradients, draw_batch, lr_at, prepare_out_dir, restore, resume_state,
                      save_progress, save_run, set_lr, start_or_resume)

GOLD_MARGIN = 0.5  # "clear" pairs: gold scores differ by at least this (the labeller is right 73% of the time
#                    at a gap of 0.5, 95% at 1.5); accuracy vs gold is reported on all pairs and on these


# ----------------------------------------------------------------------------------------------------------
# loss


def bradley_terry_loss(r_chosen, r_rejected):
    """The Bradley-Terry loss: r_chosen, r_rejected (B,) rewards of the two replies of B pairs -> scalar.

        loss = mean_b  -log sigmoid(r_chosen[b] - r_rejected[b])

    It is the negative log-likelihood of the labels under P(chosen > rejected) = sigmoid(r_c - r_r), i.e.
    logistic regression with the reward difference as the logit and "chosen won" as the label: ln 2 when the
    two rewards are equal (a coin flip), -> 0 as the chosen reply pulls ahead, ~ (r_r - r_c) when it falls
    far behind. The gradient is -sigmoid(r_r - r_c) / B for r_c and the opposite for r_r: it pushes the two
    apart, hardest on the pairs the model gets wrong. logsigmoid is log(sigmoid(.)) without overflow.
    """
    return -F.logsigmoid(r_chosen - r_rejected).mean()


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """Train a reward model on preference pairs with the Bradley-Terry loss."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    init: str = opt("out/sft", "SFT checkpoint whose trunk the reward model starts from")
    out_dir: str = opt("out/rm", "where the reward model, logs, metrics.json and rm_vs_gold.png go")
    resume: bool = opt(False, "continue the stopped run in out_dir (Ctrl-C, SIGTERM) with its saved options")
    train_file: str = opt("", "preference JSONL (prompt/chosen/rejected); '' = data_dir/prefs_train.jsonl")
    eval_file: str = opt("", "held-out preference JSONL; '' = data_dir/prefs_val.jsonl")
    batch_size: int = opt(32, "pairs per step (chosen and rejected: 2 x this many sequences per forward)",
                          at_least=1)
    max_iters: int = opt(200, "optimizer steps", at_least=1)
    lr: float = opt(3e-4, "peak learning rate", at_least=0)
    min_lr: float = opt(3e-5, "final learning rate (cosine decay)", at_least=0)
    warmup: int = opt(20, "warm-up steps", at_least=0)
    weight_decay: float = opt(0.0, "AdamW weight decay", at_least=0)
    grad_clip: float = opt(1.0, "gradient-norm clip (0 = off)", at_least=0)
    eval_interval: int = opt(100, "held-out accuracy every this many steps", at_least=1)
    log_interval: int = opt(10, "log line every this many steps", at_least=1)
    device: str = opt("auto", "auto | cpu | cuda | mps")
    compile: bool = opt(False, "torch.compile the model for training (the saved weights are the plain model's)")
    seed: int = opt(1337, "random seed")


# ----------------------------------------------------------------------------------------------------------
# data


def pair_rewards(model, pairs, device):
    """The reward of both replies of each pair, chosen and rejected in one forward pass: (2B, T) -> r_chosen (B,),
    r_rejected (B,), each the scalar at the reply's <|end|>, the row's last real token. The rows are right-padded,
    so the model needs no attention mask; the mask only says where each row ends."""
    ids, mask = pad_batch([p["chosen_ids"] for p in pairs] + [p["rejected_ids"] for p in pairs], side="right")
    ids, mask = ids.to(device), mask.to(device)
    with autocast(device):
        r = at_last_token(model(ids), mask).float()  # (2B,)
    return r[: len(pairs)], r[len(pairs):]


# ----------------------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def evaluate_pairs(model, pairs, enc, device, batch_size=64):
    """Accuracy against the labels and against the noise-free gold ordering on held-out pairs -> dict; also the
    scores, gold scores and reply lengths (tokens) of every (prompt, reply) the gold judge knows, for the
    correlations. Dropout is off while scoring."""
    rc, rr = [], []
    with evaluating(model):
        for i in range(0, len(pairs), batch_size):
            c, r = pair_rewards(model, pairs[i: i + batch_size], device)
            rc += c.tolist()
            rr += r.tolist()
    out = {"accuracy": sum(c > r for c, r in zip(rc, rr)) / len(pairs),  # vs the labels (ties count wrong)
           "margin": sum(c - r for c, r in zip(rc, rr)) / len(pairs),
           "r_chosen": sum(rc) / len(rc), "r_rejected": sum(rr) / len(rr)}
    # the gold judge only knows the tinyworld's prompts: a user's own pairs get no gold figures
    judged = [(p, c, r, gold_breakdown(p["prompt"], p["chosen"]), gold_breakdown(p["prompt"], p["rejected"]))
              for p, c, r in zip(pairs, rc, rr)]
    judged = [(p, c, r, gc["total"], gr["total"]) for p, c, r, gc, gr in judged if gc["task"] != "unknown"]
    differ = [(c > r) == (gc > gr) for p, c, r, gc, gr in judged if gc != gr]
    clear = [(c > r) == (gc > gr) for p, c, r, gc, gr in judged if abs(gc - gr) >= GOLD_MARGIN]
    out.update(n_gold_pairs=len(judged), n_clear=len(clear),
               gold_accuracy=sum(differ) / len(differ) if differ else None,
               gold_accuracy_clear=sum(clear) / len(clear) if clear else None,
               labeller_gold_agreement=sum(gc > gr for *_, gc, gr in judged if gc != gr) / len(differ)
               if differ else None)  # how often the labels themselves follow gold: the labels' ceiling
    out["scores"] = [c for _, c, *_ in judged] + [r for _, _, r, *_ in judged]  # one per (prompt, reply)
    out["gold"] = [gc for *_, gc, _ in judged] + [gr for *_, gr in judged]
    out["lengths"] = ([len(enc.encode_ordinary(p["chosen"])) for p, *_ in judged]  # reply tokens
                      + [len(enc.encode_ordinary(p["rejected"])) for p, *_ in judged])
    return out


@torch.no_grad()
def score_scale(model, pairs, device, batch_size=64):
    """Mean and standard deviation of the scores of both replies of the pairs: ppo.py whitens the reward
    model's score with them."""
    scores = []
    with evaluating(model):
        for i in range(0, len(pairs), batch_size):
            c, r = pair_rewards(model, pairs[i: i + batch_size], device)
            scores += c.tolist() + r.tolist()
    mean = sum(scores) / len(scores)
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / max(1, len(scores) - 1))


def final_report(model, train, val, enc, device, out_dir):
    """The reward model against the labels and the gold judge on the held-out pairs, its correlation with the
    gold score and with reply length, and its score's scale on the first 1024 training pairs (stored for
    ppo.py) -> metrics; printed, and the score against gold drawn in out_dir/rm_vs_gold.png."""
    ev = evaluate_pairs(model, val, enc, device)
    scores, gold, lengths = ev.pop("scores"), ev.pop("gold"), ev.pop("lengths")
    ev["pearson_gold"] = pearson(scores, gold) if scores else None
    ev["spearman_gold"] = pearson(ranks(scores), ranks(gold)) if scores else None
    ev["pearson_length"] = pearson(scores, lengths) if scores else None
    ev["spearman_length"] = pearson(ranks(scores), ranks(lengths)) if scores else None
    score_mean, score_std = score_scale(model, train[:1024], device)
    metrics = {**ev, "gold_margin": GOLD_MARGIN, "n_train": len(train), "n_eval": len(val),
               "signal": f"{len(train):,} labelled pairs", "labels": len(train),
               "score_mean": score_mean, "score_std": score_std}

    def fmt(x):
        return "n/a (prompts unknown to the gold judge)" if x is None else f"{x:.3f}"
    print(f"\nheld-out pairs: {len(val)} ({ev['n_gold_pairs']} judged by the gold judge)\n"
          f"  accuracy vs labeller labels          {fmt(ev['accuracy'])}"
          f"   (the labels agree with gold on {fmt(ev['labeller_gold_agreement'])})\n"
          f"  accuracy vs gold ordering            {fmt(ev['gold_accuracy'])}\n"
          f"  ... on pairs with gold gap >= {GOLD_MARGIN}    {fmt(ev['gold_accuracy_clear'])} ({ev['n_clear']} pairs)\n"
          f"  correlation with gold                {fmt(ev['pearson_gold'])} Pearson, "
          f"{fmt(ev['spearman_gold'])} Spearman\n"
          f"  correlation with reply length        {fmt(ev['pearson_length'])} Pearson "
          f"(a reward-hacking warning sign if high)\n"
          f"  score on training replies            mean {score_mean:.3f}, std {score_std:.3f} (stored for ppo.py)")
    if scores:
        scatter(scores, gold, f"{out_dir}/rm_vs_gold.png", metrics)
    return metrics


# small statistics helpers (pure python: a few thousand numbers)


def pearson(x, y):
    """Pearson correlation of two equal-length lists (0.0 if either is constant)."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else 0.0


def ranks(x):
    """Ranks 0..n-1, ties sharing their average rank (gold scores tie often); Spearman = pearson(ranks, ranks)."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def scatter(scores, gold, path, metrics):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(gold, scores, s=6, alpha=0.4)
    ax.set_xlabel("gold score (tinyworld judge)")
    ax.set_ylabel("reward model score")
    ax.set_title(f"held-out replies: Pearson {metrics['pearson_gold']:.2f}, Spearman {metrics['spearman_gold']:.2f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------------
# main


def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config
    cfg, ckpt = start_or_resume(Config, argv, "rm")  # ckpt: the stopped run that --resume continues
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)

    # ------------------------------------------------------------------------------------------------------
    # model: the SFT trunk + a scalar head (the SFT model's vocabulary head is not used)
    sft_model, _ = load_model(cfg.init, expected_stage="sft", device=device, tokenizer=enc)
    model = ScalarGPT.from_gpt(sft_model).to(device)
    del sft_model
    forward_model = torch.compile(model) if cfg.compile else model  # train with it; evaluate and save `model`
    block_size = model.config.block_size
    print(f"reward model from {cfg.init}: {model.gpt.num_params() / 1e6:.2f}M parameters in the trunk")

    # ------------------------------------------------------------------------------------------------------
    # data: each pair rendered into two token sequences, both ending with <|end|>
    train_file = cfg.train_file or str(data_dir / "prefs_train.jsonl")
    eval_file = cfg.eval_file or str(data_dir / "prefs_val.jsonl")
    train, dropped = render_preferences(enc, train_file, block_size)
    val, val_dropped = render_preferences(enc, eval_file, block_size)
    print(f"{len(train)} training pairs from {train_file} ({dropped} longer than {block_size} tokens, dropped); "
          f"{len(val)} held-out pairs from {eval_file} ({val_dropped} dropped)")

    # ------------------------------------------------------------------------------------------------------
    # optimizer and schedule: AdamW on the trunk (decay on matrices only) and the head; warm-up then cosine
    optimizer = model.gpt.configure_optimizer(cfg.weight_decay, cfg.lr, (0.9, 0.95), device.split(":")[0])
    optimizer.add_param_group({"params": list(model.head.parameters()), "weight_decay": 0.0})

    # ------------------------------------------------------------------------------------------------------
    # training loop (Ctrl-C / SIGTERM: it stops after the step, saves, and --resume goes on from there)
    start = restore(ckpt, model, optimizer)  # 0 for a new run
    out_dir = prepare_out_dir(cfg.out_dir, resume=ckpt is not None)  # a new run moves an earlier one aside
    logger = MetricsLogger(out_dir, "rm", resume_from=start if ckpt else None)
    model.train()
    t_start = time.time()
    done = start  # steps completed
    with StopRequest() as stop:
        for step in range(start, cfg.max_iters):
            t0 = time.time()
            lr = lr_at(step, cfg.max_iters, cfg.lr, cfg.warmup, cfg.min_lr)
            set_lr(optimizer, lr)
            batch = draw_batch(train, cfg.batch_size, seed=cfg.seed * 1_000_003 + step)
            r_chosen, r_rejected = pair_rewards(forward_model, batch, device)  # (B,), (B,)
            loss = bradley_terry_loss(r_chosen, r_rejected)
            loss.backward()
            clip_gradients(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            dt = time.time() - t0
            if (step + 1) % cfg.log_interval == 0 or step == 0:
                n_tok = sum(len(p["chosen_ids"]) + len(p["rejected_ids"]) for p in batch)
                logger.log(step + 1, loss=loss.item(), lr=lr, ms=1000 * dt, **{"tok/s": n_tok / dt},
                           accuracy=(r_chosen > r_rejected).float().mean().item(),
                           margin=(r_chosen - r_rejected).mean().item(), r_chosen=r_chosen.mean().item(),
                           r_rejected=r_rejected.mean().item())
            if (step + 1) % cfg.eval_interval == 0 and step + 1 < cfg.max_iters:
                ev = evaluate_pairs(model, val, enc, device)
                logger.log(step + 1, val_accuracy=ev["accuracy"], val_gold_accuracy=ev["gold_accuracy"])
            done = step + 1
            if stop.requested:
                break
    save_progress(stop, out_dir, model, "reward_model.py", stage="rm", step=done, tokenizer=enc.name,
                  optimizer=optimizer, train_config=asdict(cfg), resume=resume_state())  # an interrupt exits here
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # evaluation: held-out pairs against the labels and the gold judge; the score's scale (for ppo.py)
    metrics = {**final_report(model, train, val, enc, device, out_dir), "train_seconds": round(train_seconds, 1)}
    logger.log(cfg.max_iters, val_accuracy=metrics["accuracy"], val_gold_accuracy=metrics["gold_accuracy"])

    # ------------------------------------------------------------------------------------------------------
    # save
    save_run(out_dir, metrics, [("loss.png", ["loss", ["accuracy", "val_accuracy", "val_gold_accuracy"],
                                                  ["r_chosen", "r_rejected"]], "reward model")],
             model=model, stage="rm", step=cfg.max_iters, tokenizer=enc.name, train_config=asdict(cfg), extra=metrics,
             started=t_start)
    return metrics


if __name__ == "__main__":
    run(main)
