"""
Stage 4b, Direct Preference Optimisation (DPO): preference tuning with no reward model and no RL loop.

RLHF maximises reward minus beta * KL(policy || reference). Rafailov et al. (2023) noticed that the best policy
for that objective has a closed form, pi*(y|x) ~ pi_ref(y|x) * exp(r(x, y) / beta), so a reward can be written
with the policy itself: r(x, y) = beta * log(pi(y|x) / pi_ref(y|x)) + (a term that cancels in comparisons).
Put that "implicit reward" into the reward model's Bradley-Terry loss and the policy is trained directly on the
preference pairs:

    loss = -log sigmoid( beta * [ (log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x)) ] )

The default run adds the chosen replies' negative log-likelihood per token (RPO, note 1 below):

    objective = dpo_loss + rpo_alpha * rpo_nll,    rpo_nll = -mean over pairs of log pi(y_c|x) / |y_c|

log pi(y|x) is the log-probability of the WHOLE reply: the SUM of its tokens' log-probs (prompt and padding
excluded). Summing is what the derivation says (the probability of a sequence is the product of its tokens'
probabilities); averaging over tokens optimises a different objective that is no longer the KL-regularised
optimum (and changes how reply length counts). Two options, with their equations:
- label_smoothing eps (conservative DPO): assume a fraction eps of labels is flipped;
      loss = (1 - eps) * -log sigmoid(beta * h) + eps * -log sigmoid(-beta * h),   h = the bracket above;
- loss_type "ipo" (Azar et al. 2023): loss = (h - 1 / (2 * beta))^2, with h computed from log-probs AVERAGED
  over reply tokens, as in the IPO paper's experiments and common implementations.

It is normal that log pi(chosen) goes DOWN during DPO: the loss only asks the chosen reply to gain relative to
the rejected one (and relative to the reference); both often lose probability mass to replies that appear in
neither, while the margin grows. That is not a bug, but it is why DPO needs a small beta-controlled step.

Where the pairs come from. The DPO paper samples two replies to each prompt from the SFT model and has people
pick the better one, so the pairs are replies the reference itself would write. `python dpo.py` does the same
(--pairs sampled), with the tinyworld's labeller, the simulated human who also labelled the reward model's
pairs, as the people: two replies (T = 1) to each of 2,500 training prompts. It does it in 3 rounds
(--rounds 3): at the start of each third of the steps, the next third of the prompts is answered by the policy
as it is then (at the first, the policy is still the SFT model), so the pairs stay close
to what the policy now writes (online, or iterative, DPO). The reference stays the SFT model throughout, and
no reward model is involved. --rounds 1 is the paper's recipe: every pair from the SFT model.
--pairs prefs trains on the tinyworld's preference file instead: replies written by the annotator styles, not by
this model (off-policy, like reusing a public preference dataset).

    python dpo.py                                      # CPU, after sft.py; about 2 minutes on 2 cores
    python dpo.py --rounds 1                           # all pairs from the SFT model, as in the paper
    python dpo.py --pairs prefs                        # the off-policy preference file instead
    python dpo.py --beta 0.25 --out_dir out/dpo_b025   # another point of the reward-KL frontier
    python dpo.py --rpo_alpha 0                        # the paper's loss, without the NLL term
    python dpo.py --device cuda

Where this departs from the DPO paper:
1. The chosen replies' negative log-likelihood (per token) is added to the loss with weight rpo_alpha = 1, as
   in RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization"). On this 1M-parameter model plain
   DPO pushes probability off the chosen replies as well as the rejected ones, and the policy drifts far from
   SFT and gets worse: in a measured run (--rounds 1 --rpo_alpha 0 --beta 0.1, docs/results.md) the KL to SFT
   reached 14.5 nats and the win rate over SFT was 0.48 (with the NLL term and beta 0.5: 1.1 nats, 0.66). The NLL
   term keeps the chosen replies likely. --rpo_alpha 0 gives the paper's loss.
2. beta = 0.5 by default, larger than the paper's 0.1: with the NLL term it gave the best win rate here.
3. Pairs are sampled again from the policy in later rounds (--rounds 3), as in online and iterative DPO (Guo et
   al. 2024, "Direct Language Model Alignment from Online AI Feedback"; Pang et al. 2024), not once from SFT.
   Over three seeds it raised the win rate over SFT from 0.69 to 0.72, at the same sampling cost (measured with
   the tinyworld's former, keyword-matching judge: docs/results.md, "Earlier measurements").
4. The reference log-probs are computed per batch with the frozen reference (no pre-computation pass): simpler
   to read, and the cost is one extra forward without gradients.
5. Evaluation with the tinyworld's gold judge: win rate against the SFT model, KL to the reference.

Ctrl-C or SIGTERM stops the loop after the current step and saves out_dir/ckpt.pt; `python dpo.py --resume`
continues it exactly: beside the policy the checkpoint keeps its optimizer, the random state, and with
--pairs sampled the current round's pairs (they were sampled from the policy as it was when the round began,
which no longer exists). Restarting from the saved policy instead (--init) could not work here: the policy
checkpoint also gives the frozen reference.
"""

import copy
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from config import opt, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, prompts_that_fit, render_preferences, tokenizer_for
from data.tinyworld import labeller_prefers_a
from device import autocast, get_device, set_seed
from evaluate import compare_models
from logger import MetricsLogger
from model import evaluating, load_model, pad_batch
from replies import generate_replies
from training import (StopRequest, clip_gradients, draw_batch, frozen, lr_at, prepare_out_dir, restore,
                      resume_state, save_progress, save_run, set_lr, start_or_resume)


# ----------------------------------------------------------------------------------------------------------
# loss: the objective, dpo_loss + rpo_alpha * rpo_nll, over log pi(y|x) as reply_logprob computes it


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta,
             label_smoothing=0.0, loss_type="sigmoid"):
    """The DPO loss over a batch of pairs. Every input is (B,): the log-probability of each reply (summed over
    its tokens for "sigmoid", averaged for "ipo") under the policy and the frozen reference.

        h = (pi_c - ref_c) - (pi_r - ref_r)                      (policy log-ratio minus reference log-ratio)
        sigmoid: loss = (1 - eps) * -log sigmoid(beta * h) + eps * -log sigmoid(-beta * h)
        ipo:     loss = (h - 1 / (2 * beta))^2

    Returns (mean loss, chosen_rewards, rejected_rewards), the implicit rewards beta * (pi - ref) (detached).
    When policy = reference, h = 0 and the sigmoid loss is exactly ln 2.
    """
    h = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"loss_type must be 'sigmoid' or 'ipo', not {loss_type!r}")
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps).detach()
    return losses.mean(), chosen_rewards, rejected_rewards


def reply_logprob(token_logprobs, reply_mask, average=False):
    """log pi(y|x) of each row's reply: token_logprobs (B, T-1), out[:, t] = log p(token t+1 | tokens <= t) (as
    GPT.token_logprobs returns them); reply_mask (B, T), 1 on the reply's tokens (the chat template's mask) -> (B,).

        log pi(y|x) = sum over reply tokens t of log p(y_t | x, y_<t)        (average: divided by |y|)

    Token t's log-prob sits at column t-1, so the mask is shifted the same way: reply_mask[:, 1:]. Prompt and
    padding never count.
    """
    mask = reply_mask[:, 1:].to(token_logprobs.dtype)
    total = (token_logprobs * mask).sum(dim=1)
    return total / mask.sum(dim=1).clamp(min=1) if average else total


def rpo_nll(policy_chosen_logps, chosen_lengths, averaged=False):
    """RPO's term: the chosen replies' negative log-likelihood per token, an SFT loss on them. (B,) inputs:

        rpo_nll = -mean_b  log pi(y_c|x)[b] / chosen_lengths[b]

    With averaged=True the log-probs are already per-token averages (IPO), and are not divided again.
    """
    if averaged:
        return -policy_chosen_logps.mean()
    return -(policy_chosen_logps / chosen_lengths).mean()


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """Direct Preference Optimisation from the SFT model on preference pairs."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    init: str = opt("out/sft", "SFT checkpoint: the starting policy and the frozen reference")
    out_dir: str = opt("out/dpo", "where the policy, logs and metrics.json go")
    resume: bool = opt(False, "continue the stopped run in out_dir (Ctrl-C, SIGTERM) with its saved options")
    pairs: str = opt("sampled", "training pairs: 'sampled' = two replies of the policy to each training prompt "
                     "(the SFT model's in round 1), labelled by the tinyworld's labeller; 'prefs' = the preference "
                     "file (train_file)", choices=("sampled", "prefs"))
    train_file: str = opt("", "--pairs prefs: preference JSONL (prompt/chosen/rejected); "
                          "'' = data_dir/prefs_train.jsonl")
    train_prompts: str = opt("", "prompts for --pairs sampled; '' = data_dir/prompts_train.jsonl")
    rounds: int = opt(3, "--pairs sampled: the sampled prompts are split into this many rounds, each round's pairs "
                      "sampled from the policy as it is then (1 = all from the SFT model, as in the paper)", at_least=1)
    n_sampled_pairs: int = opt(2500, "--pairs sampled: how many training prompts get two replies", at_least=1)
    eval_file: str = opt("", "held-out preference JSONL; '' = data_dir/prefs_val.jsonl")
    eval_prompts: str = opt("", "held-out prompts for the generation evaluation; '' = data_dir/prompts_val.jsonl")
    beta: float = opt(0.5, "strength of the pull towards the reference (smaller = further from SFT)", above=0)
    label_smoothing: float = opt(0.0, "conservative DPO: assumed fraction of flipped labels (sigmoid loss only)",
                                 at_least=0, below=0.5)
    rpo_alpha: float = opt(1.0, "weight of the chosen replies' per-token NLL added to the loss (RPO); 0 = plain DPO",
                           at_least=0)
    loss_type: str = opt("sigmoid", "'sigmoid' (DPO) or 'ipo'", choices=("sigmoid", "ipo"))
    batch_size: int = opt(32, "pairs per step", at_least=1)
    max_iters: int = opt(200, "optimizer steps", at_least=1)
    lr: float = opt(1e-4, "peak learning rate", at_least=0)
    min_lr: float = opt(1e-5, "final learning rate (cosine decay)", at_least=0)
    warmup: int = opt(20, "warm-up steps", at_least=0)
    grad_clip: float = opt(1.0, "gradient-norm clip (0 = off)", at_least=0)
    eval_interval: int = opt(100, "held-out reward accuracy every this many steps", at_least=1)
    log_interval: int = opt(10, "log line every this many steps", at_least=1)
    n_eval_prompts: int = opt(300, "held-out prompts for the gold evaluation (0 = skip)", at_least=0)
    eval_temperature: float = opt(1.0, "sampling temperature of the evaluation (same as sft.py and ppo.py)",
                                  at_least=0)
    max_new_tokens: int = opt(64, "longest reply in the evaluation", at_least=1)
    device: str = opt("auto", "auto | cpu | cuda | mps")
    seed: int = opt(1337, "random seed")


def check_options(cfg, data_dir):
    """Refuse option combinations that would be silently ignored or cannot work."""
    if cfg.pairs == "sampled":
        if cfg.train_file:
            raise ValueError("--train_file is read with --pairs prefs; with --pairs sampled the pairs are sampled")
        if "labeller_agreement" not in json.loads((data_dir / "meta.json").read_text()):
            raise ValueError(f"--pairs sampled needs the tinyworld's labeller, and {data_dir} is not a tinyworld: "
                             f"use --pairs prefs --train_file YOUR_PAIRS.jsonl")
        if not 1 <= cfg.rounds <= cfg.max_iters:
            raise ValueError(f"--rounds must be between 1 and --max_iters ({cfg.max_iters}), not {cfg.rounds}")


# ----------------------------------------------------------------------------------------------------------
# data: pairs of the policy's own replies (--pairs sampled), or the preference file (--pairs prefs)


def sample_pairs(model, enc, prompts, prefers_a, *, seed, max_new_tokens=64, device="cpu"):
    """The DPO paper's way of making pairs: two replies of the model to each prompt, sampled at temperature 1,
    ordered by prefers_a(prompt, reply_a, reply_b, rng) -> bool, the labeller.

    Returns pairs in render_preferences' format: prompt, chosen, rejected (texts) and chosen_ids, chosen_mask,
    rejected_ids, rejected_mask: the exact sampled tokens after the prompt (the stop token included; none if the
    reply ran out of room), mask 1 on the reply's tokens. Re-encoding the text instead could tokenize it
    differently from how it was sampled. Two identical replies carry no preference and are skipped.
    """
    rng = random.Random(seed)
    kw = dict(max_new_tokens=max_new_tokens, temperature=1.0, device=device)
    first = generate_replies(model, enc, prompts, seed=seed + 1, **kw)
    second = generate_replies(model, enc, prompts, seed=seed + 2, **kw)
    pairs = []
    for a, b in zip(first, second):
        if a.reply_ids == b.reply_ids:
            continue
        if not prefers_a(a.prompt, a.text, b.text, rng):
            a, b = b, a
        pairs.append({"prompt": a.prompt, "chosen": a.text, "rejected": b.text,
                      "chosen_ids": a.prompt_ids + a.reply_ids, "chosen_mask": [0] * len(a.prompt_ids) + a.mask,
                      "rejected_ids": b.prompt_ids + b.reply_ids, "rejected_mask": [0] * len(b.prompt_ids) + b.mask})
    return pairs


def round_of(step, rounds, max_iters):
    """The round a step belongs to, 0 .. rounds - 1: the steps are cut into `rounds` equal shares."""
    return step * rounds // max_iters


def sample_round(model, enc, prompts, r, rounds, *, seed, max_new_tokens, device):
    """Round r's pairs: two replies of `model` (as it is now) to each of the r-th share of the prompts, labelled
    by the tinyworld's labeller."""
    t0 = time.time()
    per_round = max(1, len(prompts) // rounds)
    pairs = sample_pairs(model, enc, prompts[r * per_round: (r + 1) * per_round], labeller_prefers_a,
                         seed=seed + 100 * r, max_new_tokens=max_new_tokens, device=device)
    if not pairs:
        raise ValueError(f"round {r + 1}: no pair to train on (every pair of replies was identical, or no "
                         f"prompt was left for it): use fewer --rounds or more --n_sampled_pairs")
    print(f"round {r + 1}/{rounds}: {len(pairs)} pairs, two replies of the {'SFT model' if r == 0 else 'policy'} "
          f"to each of {per_round} prompts, labelled by the labeller ({per_round - len(pairs)} identical pairs "
          f"skipped; {time.time() - t0:.0f}s)")
    return pairs


def pair_logprobs(model, pairs, device, average=False):
    """log pi(y|x) of the chosen and the rejected reply of each pair, in ONE batched forward: (2B, T) ->
    logp_chosen (B,), logp_rejected (B,). The rows are right-padded: the model needs no attention mask."""
    ids, _ = pad_batch([p["chosen_ids"] for p in pairs] + [p["rejected_ids"] for p in pairs], side="right")
    mask, _ = pad_batch([p["chosen_mask"] for p in pairs] + [p["rejected_mask"] for p in pairs], side="right")
    with autocast(device):
        lp = reply_logprob(model.token_logprobs(ids.to(device)), mask.to(device), average).float()  # (2B,)
    return lp[: len(pairs)], lp[len(pairs):]


# ----------------------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def reward_accuracy(policy, reference, pairs, device, average=False, batch_size=64):
    """How often the implicit reward beta * (log pi - log pi_ref) of the chosen reply beats the rejected one's
    (beta > 0 does not change the order), on held-out pairs; the policy without dropout."""
    correct = 0
    with evaluating(policy):
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i: i + batch_size]
            pc, pr = pair_logprobs(policy, chunk, device, average)
            rc, rr = pair_logprobs(reference, chunk, device, average)
            correct += ((pc - rc) > (pr - rr)).sum().item()
    return correct / len(pairs)


# ----------------------------------------------------------------------------------------------------------
# main


def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config
    cfg, ckpt = start_or_resume(Config, argv, "dpo")  # ckpt: the stopped run that --resume continues
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    check_options(cfg, data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)
    average = cfg.loss_type == "ipo"  # IPO's log-probs are per-token averages, DPO's sums

    # ------------------------------------------------------------------------------------------------------
    # model: the policy starts as the SFT model; the reference is a frozen copy of it
    policy, _ = load_model(cfg.init, expected_stage="sft", device=device, tokenizer=enc)
    reference = frozen(copy.deepcopy(policy))

    # ------------------------------------------------------------------------------------------------------
    # data: sampled pairs come at the start of each round, in the training loop; the file's are rendered now
    if cfg.pairs == "prefs":
        train_file = cfg.train_file or str(data_dir / "prefs_train.jsonl")
        train, dropped = render_preferences(enc, train_file, policy.config.block_size)
        print(f"{len(train)} training pairs from {train_file} ({dropped} too long, dropped)")
        n_labels, signal = len(train), f"{len(train):,} labelled pairs from {Path(train_file).name}"
    else:
        train_prompts = cfg.train_prompts or str(data_dir / "prompts_train.jsonl")
        pair_prompts = prompts_that_fit(enc, train_prompts, policy.config.block_size, limit=cfg.n_sampled_pairs)
        print(f"{len(pair_prompts)} prompts from {train_prompts} for the sampled pairs, in {cfg.rounds} round(s)")
        n_labels, signal = 0, "pairs of its own replies, labelled as it trains"
    val, _ = render_preferences(enc, cfg.eval_file or str(data_dir / "prefs_val.jsonl"), policy.config.block_size)
    prompts = prompts_that_fit(enc, cfg.eval_prompts or str(data_dir / "prompts_val.jsonl"), policy.config.block_size,
                               limit=cfg.n_eval_prompts)
    print(f"{len(val)} held-out pairs")

    # ------------------------------------------------------------------------------------------------------
    # optimizer and schedule: AdamW (no weight decay), warm-up then cosine decay
    optimizer = policy.configure_optimizer(0.0, cfg.lr, (0.9, 0.95), device.split(":")[0])

    # ------------------------------------------------------------------------------------------------------
    # training loop (Ctrl-C / SIGTERM: it stops after the step, saves, and --resume goes on from there)
    start = restore(ckpt, policy, optimizer)  # 0 for a new run
    if ckpt and cfg.pairs == "sampled":  # the round's pairs, and the labels counted so far
        train, n_labels = ckpt["resume"]["pairs"], ckpt["resume"]["n_labels"]
    out_dir = prepare_out_dir(cfg.out_dir, resume=ckpt is not None)  # a new run moves an earlier one aside
    logger = MetricsLogger(out_dir, "dpo", resume_from=start if ckpt else None)
    policy.train()
    t_start = time.time()
    done = start  # steps completed
    with StopRequest() as stop:
        for step in range(start, cfg.max_iters):
            this_round = round_of(step, cfg.rounds, cfg.max_iters)
            if cfg.pairs == "sampled" and (step == 0 or this_round != round_of(step - 1, cfg.rounds, cfg.max_iters)):
                train = sample_round(policy, enc, pair_prompts, this_round, cfg.rounds, seed=cfg.seed,  # the policy now
                                     max_new_tokens=cfg.max_new_tokens, device=device)
                n_labels += len(train)  # one label per pair
            t0 = time.time()
            lr = lr_at(step, cfg.max_iters, cfg.lr, cfg.warmup, cfg.min_lr)
            set_lr(optimizer, lr)
            batch = draw_batch(train, cfg.batch_size, seed=cfg.seed * 1_000_003 + step)
            policy_c, policy_r = pair_logprobs(policy, batch, device, average)  # (B,) each: log pi(y|x)
            with torch.no_grad():
                ref_c, ref_r = pair_logprobs(reference, batch, device, average)
            loss, rewards_c, rewards_r = dpo_loss(policy_c, policy_r, ref_c, ref_r, cfg.beta, cfg.label_smoothing,
                                                  cfg.loss_type)
            chosen_lengths = torch.tensor([sum(p["chosen_mask"]) for p in batch], dtype=torch.float, device=device)
            nll = rpo_nll(policy_c, chosen_lengths, averaged=average) if cfg.rpo_alpha > 0 else torch.zeros(())
            (loss + cfg.rpo_alpha * nll).backward()
            clip_gradients(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            dt = time.time() - t0
            if (step + 1) % cfg.log_interval == 0 or step == 0:
                n_tok = sum(len(p["chosen_ids"]) + len(p["rejected_ids"]) for p in batch)
                logger.log(step + 1, loss=loss.item(), lr=lr, ms=1000 * dt, **{"tok/s": n_tok / dt},
                           reward_accuracy=(rewards_c > rewards_r).float().mean().item(),
                           reward_chosen=rewards_c.mean().item(), reward_rejected=rewards_r.mean().item(),
                           margin=(rewards_c - rewards_r).mean().item(), nll_chosen=nll.item(),
                           logp_chosen=policy_c.mean().item(), logp_rejected=policy_r.mean().item())
            if (step + 1) % cfg.eval_interval == 0 and step + 1 < cfg.max_iters:
                logger.log(step + 1, val_reward_accuracy=reward_accuracy(policy, reference, val, device, average))
            done = step + 1
            if stop.requested:
                break
    save_progress(stop, out_dir, policy, "dpo.py", stage="dpo", step=done, tokenizer=enc.name, optimizer=optimizer,
                  train_config=asdict(cfg), resume=resume_state(pairs=train if cfg.pairs == "sampled" else None,
                                                                n_labels=n_labels))
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # evaluation: held-out implicit-reward accuracy; SFT (= the reference) and DPO on the same held-out prompts
    metrics = {"val_reward_accuracy": reward_accuracy(policy, reference, val, device, average),
               "train_seconds": round(train_seconds, 1), "beta": cfg.beta, "labels": n_labels,
               "signal": signal if cfg.pairs == "prefs" else f"{n_labels:,} {signal}"}
    logger.log(cfg.max_iters, val_reward_accuracy=metrics["val_reward_accuracy"])
    print(f"held-out reward accuracy (implicit rewards): {metrics['val_reward_accuracy']:.3f}")
    if prompts:
        metrics.update(compare_models({"sft": reference, "dpo": policy}, enc, prompts, temperature=cfg.eval_temperature,
                                      max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, device=device,
                                      samples_file=f"{out_dir}/samples.jsonl"))

    # ------------------------------------------------------------------------------------------------------
    # save
    save_run(out_dir, metrics, [("dpo.png", ["loss", ["reward_chosen", "reward_rejected", "margin"],
                                                 ["logp_chosen", "logp_rejected"],
                                                 ["reward_accuracy", "val_reward_accuracy"]], "DPO")],
             model=policy, stage="dpo", step=cfg.max_iters, tokenizer=enc.name, train_config=asdict(cfg),
             started=t_start)
    return metrics


if __name__ == "__main__":
    run(main)
