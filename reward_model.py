"""
Stage 3, the reward model: learn which of two replies a human prefers, as a number per reply.

People are bad at giving a reply a score out of 10 but good at saying which of two replies is better. So we
collect pairs (prompt, chosen, rejected) and fit a model r(prompt, reply) -> a number, such that

    P(chosen is preferred over rejected) = sigmoid(r(chosen) - r(rejected))        (Bradley-Terry, 1952)

Maximising the likelihood of the labels gives the loss below: logistic regression on reward differences. Only
differences matter, so the scale's zero is arbitrary. The model is the SFT GPT with its vocabulary head
replaced by one number (model.ScalarGPT), read at the reply's last token, the <|end|> (by then the model has
seen the whole prompt and reply). Here the "humans" are the tinyworld's simulated labeller, noisy on purpose,
and we can check the reward model against the noise-free gold judge, which real projects never can.

    python reward_model.py                              # CPU, after sft.py; ~2-3 minutes
    python reward_model.py --device cuda
    python reward_model.py --train_file my_prefs.jsonl  # {"prompt", "chosen", "rejected"} per line

Where this departs from InstructGPT's reward model:
1. Pairs, not K-way rankings (InstructGPT shows K=4..9 replies and uses all K*(K-1)/2 pairs of a prompt in one
   batch element).
2. No reward normalisation inside training; the mean and std of the scores on training replies are stored in the
   checkpoint, and ppo.py may use them to whiten scores.
3. One epoch-ish of training (a fixed number of steps) on ~10k pairs; it overfits quickly beyond that.
"""

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from common import (MetricsLogger, autocast, check_tokenizer, ensure_data_dir, get_device, lr_at, opt, pad_batch,
                    parse_config, plot_log, set_seed, tokenizer_for)
from data.formats import load_preferences
from data.tinyworld import gold_score
from model import ScalarGPT, checkpoint_file, load_model, save_checkpoint
from tokenizer import render_conversation

GOLD_MARGIN = 0.5  # accuracy vs gold is also reported on pairs whose gold scores differ by at least this


# ----------------------------------------------------------------------------------------------------------
# loss


def bradley_terry_loss(r_chosen, r_rejected):
    """-log sigmoid(r_chosen - r_rejected), averaged over pairs. r_chosen, r_rejected: (B,).

    It is the negative log-likelihood of the labels under P(chosen > rejected) = sigmoid(r_c - r_r): ln 2 when
    the two rewards are equal (a coin flip), -> 0 as the chosen reply's reward pulls ahead. logsigmoid is the
    numerically stable way to write log(sigmoid(.)).
    """
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def score_at_last_token(values, attention_mask):
    """values (B, T), attention_mask (B, T) -> (B,): the value at each row's last real token (any padding side)."""
    T = attention_mask.size(1)
    positions = torch.arange(T, device=attention_mask.device).expand_as(attention_mask)
    last = torch.where(attention_mask.bool(), positions, -1).max(dim=1).values  # (B,)
    return values.gather(1, last[:, None]).squeeze(1)


def reward_scores(model, ids, attention_mask):
    """A reward model's score of each sequence (B, T) -> (B,), read at its last real token (the <|end|>)."""
    return score_at_last_token(model(ids, attention_mask=attention_mask), attention_mask)


def render_reply(enc, prompt, reply):
    """The token ids the reward model reads: the conversation (prompt, reply) ending with <|end|>."""
    ids, _ = render_conversation(enc, [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}])
    return ids


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """Train a reward model on preference pairs with the Bradley-Terry loss."""
    data_dir: str = opt("data/tinyworld", "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    init: str = opt("out/sft", "SFT checkpoint whose trunk the reward model starts from")
    out_dir: str = opt("out/rm", "where the reward model, logs, metrics.json and rm_vs_gold.png go")
    train_file: str = opt("", "preference JSONL (prompt/chosen/rejected); '' = data_dir/prefs_train.jsonl")
    eval_file: str = opt("", "held-out preference JSONL; '' = data_dir/prefs_eval.jsonl")
    batch_size: int = opt(32, "pairs per step")
    max_iters: int = opt(400, "optimizer steps")
    lr: float = opt(3e-4, "peak learning rate")
    min_lr: float = opt(3e-5, "final learning rate (cosine decay)")
    warmup: int = opt(20, "warm-up steps")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    grad_clip: float = opt(1.0, "gradient-norm clip (0 = off)")
    eval_interval: int = opt(100, "held-out accuracy every this many steps")
    log_interval: int = opt(10, "log line every this many steps")
    device: str = opt("auto", "auto | cpu | cuda | mps")
    seed: int = opt(1337, "random seed")


def main(argv=None):
    cfg = parse_config(Config, argv)
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)
    out_dir = Path(cfg.out_dir)

    # ------------------------------------------------------------------------------------------------------
    # model: the SFT trunk + a scalar head
    sft_model, ckpt = load_model(cfg.init, expected_stage="sft", device=device)
    check_tokenizer(enc, ckpt, cfg.init)
    model = ScalarGPT.from_gpt(sft_model).to(device)
    del sft_model
    block_size = model.config.block_size

    # ------------------------------------------------------------------------------------------------------
    # data: each pair rendered into two token sequences that end with <|end|>
    def render_all(path):
        pairs, dropped = [], 0
        for p in load_preferences(path):
            c, r = render_reply(enc, p["prompt"], p["chosen"]), render_reply(enc, p["prompt"], p["rejected"])
            if max(len(c), len(r)) > block_size:
                dropped += 1
                continue
            pairs.append({**p, "chosen_ids": c, "rejected_ids": r})
        if not pairs:
            raise ValueError(f"{path}: no pair fits in the model's context of {block_size} tokens")
        return pairs, dropped

    train_file = cfg.train_file or str(data_dir / "prefs_train.jsonl")
    eval_file = cfg.eval_file or str(data_dir / "prefs_eval.jsonl")
    train, dropped = render_all(train_file)
    val, _ = render_all(eval_file)
    print(f"{len(train)} training pairs from {train_file} ({dropped} too long, dropped), {len(val)} held out")

    def scores_of(pairs):
        """Chosen and rejected of a batch in one forward: (2B, T) -> r_chosen (B,), r_rejected (B,)."""
        ids, mask = pad_batch([p["chosen_ids"] for p in pairs] + [p["rejected_ids"] for p in pairs], side="right")
        with autocast(device):
            r = reward_scores(model, ids.to(device), mask.to(device)).float()
        return r[: len(pairs)], r[len(pairs):]

    # ------------------------------------------------------------------------------------------------------
    # optimizer and schedule
    optimizer = model.gpt.configure_optimizer(cfg.weight_decay, cfg.lr, (0.9, 0.95), device.split(":")[0])
    optimizer.add_param_group({"params": list(model.head.parameters()), "weight_decay": 0.0})

    # ------------------------------------------------------------------------------------------------------
    # evaluation: accuracy vs the labeller's labels and vs the noise-free gold ordering; score vs gold
    @torch.no_grad()
    def evaluate(pairs):
        model.eval()
        rc, rr = [], []
        for i in range(0, len(pairs), 64):
            c, r = scores_of(pairs[i: i + 64])
            rc += c.tolist()
            rr += r.tolist()
        model.train()
        gold_c = [p.get("gold_chosen", gold_score(p["prompt"], p["chosen"])) for p in pairs]
        gold_r = [p.get("gold_rejected", gold_score(p["prompt"], p["rejected"])) for p in pairs]
        label_acc = sum(c > r for c, r in zip(rc, rr)) / len(pairs)
        differ = [(c > r) == (gc > gr) for c, r, gc, gr in zip(rc, rr, gold_c, gold_r) if gc != gr]
        clear = [(c > r) == (gc > gr) for c, r, gc, gr in zip(rc, rr, gold_c, gold_r) if abs(gc - gr) >= GOLD_MARGIN]
        return {"accuracy": label_acc, "gold_accuracy": sum(differ) / max(1, len(differ)),
                "gold_accuracy_clear": sum(clear) / max(1, len(clear)), "n_clear": len(clear),
                "margin": sum(c - r for c, r in zip(rc, rr)) / len(pairs),
                "scores": rc + rr, "gold": gold_c + gold_r,
                "lengths": [len(p["chosen_ids"]) for p in pairs] + [len(p["rejected_ids"]) for p in pairs]}

    # ------------------------------------------------------------------------------------------------------
    # training loop
    logger = MetricsLogger(out_dir, "rm")
    model.train()
    t_start = time.time()
    for step in range(cfg.max_iters):
        t0 = time.time()
        lr = lr_at(step, cfg.max_iters, cfg.lr, cfg.warmup, cfg.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        batch = [train[i] for i in torch.randint(len(train), (cfg.batch_size,), generator=g).tolist()]
        r_chosen, r_rejected = scores_of(batch)
        loss = bradley_terry_loss(r_chosen, r_rejected)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
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
            ev = evaluate(val)
            logger.log(step + 1, val_accuracy=ev["accuracy"], val_gold_accuracy=ev["gold_accuracy"])
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # final evaluation
    ev = evaluate(val)
    logger.log(cfg.max_iters, val_accuracy=ev["accuracy"], val_gold_accuracy=ev["gold_accuracy"])
    scores, gold, lengths = ev.pop("scores"), ev.pop("gold"), ev.pop("lengths")
    ev["pearson_gold"] = pearson(scores, gold)
    ev["spearman_gold"] = pearson(ranks(scores), ranks(gold))
    ev["pearson_length"] = pearson(scores, lengths)
    train_scores = []
    with torch.no_grad():
        model.eval()
        for i in range(0, min(len(train), 1024), 64):
            c, r = scores_of(train[i: i + 64])
            train_scores += c.tolist() + r.tolist()
    mean = sum(train_scores) / len(train_scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in train_scores) / max(1, len(train_scores) - 1))
    metrics = {**ev, "gold_margin": GOLD_MARGIN, "score_mean": mean, "score_std": std,
               "train_seconds": round(train_seconds, 1)}
    print(f"\nheld-out pairs: {len(val)}\n"
          f"  accuracy vs labeller labels          {ev['accuracy']:.3f}\n"
          f"  accuracy vs gold ordering            {ev['gold_accuracy']:.3f}\n"
          f"  ... on pairs with gold gap >= {GOLD_MARGIN}    {ev['gold_accuracy_clear']:.3f} ({ev['n_clear']} pairs)\n"
          f"  correlation with gold (Pearson)      {ev['pearson_gold']:.3f}  (Spearman {ev['spearman_gold']:.3f})\n"
          f"  correlation with length (Pearson)    {ev['pearson_length']:.3f}  (a reward-hacking warning sign if high)")
    scatter(scores, gold, out_dir / "rm_vs_gold.png")

    # ------------------------------------------------------------------------------------------------------
    # save
    save_checkpoint(out_dir, model, stage="rm", step=cfg.max_iters, tokenizer=enc.name, train_config=asdict(cfg),
                    extra=metrics)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    plot_log(out_dir / "log.jsonl", out_dir / "loss.png", ["loss", ["accuracy", "val_accuracy", "val_gold_accuracy"],
                                                            ["r_chosen", "r_rejected"]], title="reward model")
    print(f"done in {time.time() - t_start:.0f}s; wrote {checkpoint_file(out_dir)}")
    return metrics


def pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else 0.0


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    for rank, i in enumerate(order):
        r[i] = float(rank)
    return r


def scatter(scores, gold, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(gold, scores, s=6, alpha=0.4)
    ax.set_xlabel("gold score (tinyworld judge)")
    ax.set_ylabel("reward model score")
    ax.set_title("held-out replies")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"reward_model.py: {e}")
