"""
Stage 4a, RLHF with PPO: the model writes replies, the reward model scores them, PPO makes good replies likelier.

One iteration:
  1. rollouts: sample replies to a batch of prompts from the current policy (KV cache, dropout off);
  2. score: the reward model's score of each whole reply, and the log-probs of each reply token under the
     policy and under the frozen SFT model (the reference);
  3. per-token rewards: -kl_coef * (log pi - log pi_ref) on every reply token, plus the reward model's score
     on the last one. Maximising their sum = maximising the RM score while paying for drifting from the
     SFT model (the KL penalty keeps the policy where the reward model is trustworthy);
  4. advantages with GAE, using a value model that predicts the future reward at each token;
  5. a few epochs of minibatch updates of the clipped PPO objective (policy) and a clipped value loss.

The gold judge of the tinyworld scores the same replies (logged, never trained on), so you can watch the proxy
reward (RM) and the true reward (gold) part ways when the KL penalty is too weak: reward over-optimisation.

    python ppo.py                                    # CPU, after sft.py and reward_model.py; ~8 minutes
    python ppo.py --kl_coef 0 --iters 90 --out_dir out/ppo_nokl   # watch over-optimisation
    python ppo.py --device cuda --batch_size 256

Where this departs from InstructGPT / Ziegler et al.:
1. Separate policy and value networks; the value network starts from the reward model (as in InstructGPT):
   at the start it already predicts roughly the final score, so early advantages are not noise.
2. The reward model's score is whitened with the mean/std measured when the RM was trained; a reply that never
   reaches <|end|> (or that emits a user turn) gets NO_END_SCORE instead of an RM score.
3. Dropout is off in every forward pass (rollout, scoring, update), so the first minibatch's ratio is exactly 1.
4. Entropy is logged as the mean of -log pi(sampled token), a sample estimate, instead of the full-softmax entropy.
5. No pretraining-loss mixing (InstructGPT's PPO-ptx).
"""

import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from checkpoint import check_tokenizer, checkpoint_file, save_checkpoint
from config import opt, parse_config
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, tokenizer_for
from device import get_device, set_seed
from logger import MetricsLogger, plot_log
from data.formats import load_prompts
from data.tinyworld import gold_score
from evaluate import compare_models
from model import at_last_token, last_index, load_model
from replies import generate_replies, reply_batch

NO_END_SCORE = -1.5  # whitened score given to a reply that does not end with <|end|>


# ----------------------------------------------------------------------------------------------------------
# the pure functions of PPO for language models. Shapes: B replies, T reply tokens (right-padded);
# mask (B, T) is 1 on real reply tokens.


def per_token_rewards(logprobs, ref_logprobs, scores, mask, kl_coef):
    """The reward each reply token receives.

        kl[t]      = log pi(y_t) - log pi_ref(y_t)            (k1: the sampled log-ratio)
        rewards[t] = -kl_coef * kl[t]  (+ score on the reply's last real token)

    Why k1 in the reward: on tokens sampled from pi its expectation is exactly KL(pi || pi_ref), so the summed
    reward is an unbiased sample of  score - kl_coef * KL, the objective of InstructGPT. It can be negative on a
    single token, which is fine for a reward. k3 (below) is always >= 0 and has lower variance, so it is the
    better *number to look at*, but it is not the log-ratio whose expectation the objective contains.
    logprobs, ref_logprobs, mask: (B, T); scores: (B,). Returns rewards (B, T) and kl (B, T), 0 off the mask.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = last_index(mask)  # (B,) the last real reply token of each row, whatever the padding
    rewards[torch.arange(len(scores)), last] += scores
    return rewards * mask, kl


def gae(rewards, values, mask, gamma, lam):
    """Generalised Advantage Estimation (Schulman et al. 2016), backwards over the reply tokens:

        delta_t = r_t + gamma * V_{t+1} - V_t        (V after the reply's last token = 0: the episode ends)
        A_t     = delta_t + gamma * lam * A_{t+1}
        returns = A + V                              (the value model's regression target)

    rewards, values, mask: (B, T), replies right-padded. Outputs are 0 where mask is 0.
    """
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros(B, device=rewards.device)
    next_advantage = torch.zeros(B, device=rewards.device)
    for t in reversed(range(T)):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_advantage) * m
        # padding after a reply resets the recursion: what comes after the last real token is worth 0
        next_value = values[:, t] * m
        next_advantage = advantages[:, t]
    returns = (advantages + values) * mask
    return advantages, returns


def whiten(x, mask, shift_mean=True):
    """(x - mean) / std over the masked entries (mean kept if shift_mean=False); 0 off the mask."""
    n = mask.sum().clamp(min=1)
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask


def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum().clamp(min=1)


def ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps):
    """The clipped surrogate of PPO (Schulman et al. 2017), averaged over the masked tokens of the batch:

        ratio    = exp(logprobs - old_logprobs)               (pi_new / pi_old for each sampled token)
        pg_loss1 = -advantages * ratio
        pg_loss2 = -advantages * clip(ratio, 1 - clip_eps, 1 + clip_eps)
        loss     = mean over tokens of max(pg_loss1, pg_loss2)   (= -min(ratio*A, clipped ratio*A))

    Clipping removes the incentive to move a token's probability by more than clip_eps per iteration.
    All inputs (B, T); returns a scalar.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return masked_mean(torch.max(pg_loss1, pg_loss2), mask)


def ppo_value_loss(values, old_values, returns, mask, clip_eps_value):
    """Clipped value loss: 0.5 * max((V - R)^2, (V_clipped - R)^2), V_clipped = V_old + clip(V - V_old, +-eps)."""
    values_clipped = old_values + torch.clamp(values - old_values, -clip_eps_value, clip_eps_value)
    vf_loss1 = (values - returns) ** 2
    vf_loss2 = (values_clipped - returns) ** 2
    return 0.5 * masked_mean(torch.max(vf_loss1, vf_loss2), mask)


def kl_estimators(logprobs, ref_logprobs):
    """Per-token estimates of KL(pi || pi_ref) from tokens sampled from pi (Schulman, "Approximating KL"):
    k1 = log r with r = pi / pi_ref (unbiased, noisy, can be < 0); k3 = (1/r - 1) + log r (unbiased, >= 0)."""
    logr = logprobs - ref_logprobs
    return logr, torch.expm1(-logr) + logr


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """RLHF: PPO against the reward model, with a KL penalty to the SFT model."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    policy: str = opt("out/sft", "SFT checkpoint: the starting policy and the frozen reference")
    reward_model: str = opt("out/rm", "reward model checkpoint (also the value model's starting point)")
    out_dir: str = opt("out/ppo", "where the policy, logs, plots and metrics.json go")
    prompts: str = opt("", "prompts JSONL for rollouts; '' = data_dir/prompts_train.jsonl")
    eval_prompts: str = opt("", "held-out prompts for the final evaluation; '' = data_dir/prompts_eval.jsonl")
    iters: int = opt(60, "PPO iterations (rollout batch + updates)")
    batch_size: int = opt(64, "prompts (rollouts) per iteration")
    minibatch_size: int = opt(16, "rollouts per gradient step")
    ppo_epochs: int = opt(4, "passes over each rollout batch")
    max_new_tokens: int = opt(48, "longest reply during rollouts")
    temperature: float = opt(1.0, "sampling temperature, used the same way when re-scoring log-probs")
    kl_coef: float = opt(0.05, "beta of the per-token KL penalty")
    target_kl: float = opt(0.0, "adaptive KL controller: target KL per reply in nats (0 = fixed kl_coef)")
    gamma: float = opt(1.0, "discount of GAE")
    lam: float = opt(0.95, "lambda of GAE")
    clip_eps: float = opt(0.2, "PPO ratio clip")
    clip_eps_value: float = opt(0.2, "value clip")
    lr: float = opt(3e-5, "policy learning rate")
    value_lr: float = opt(1e-4, "value model learning rate")
    grad_clip: float = opt(1.0, "gradient-norm clip")
    n_eval_prompts: int = opt(300, "held-out prompts for the final gold evaluation (0 = skip)")
    eval_temperature: float = opt(1.0, "sampling temperature of the final evaluation (same as sft.py and dpo.py)")
    device: str = opt("auto", "auto | cpu | cuda | mps")
    seed: int = opt(1337, "random seed")


def main(argv=None):
    cfg = parse_config(Config, argv)
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)
    out_dir = Path(cfg.out_dir)
    if cfg.batch_size % cfg.minibatch_size:
        raise ValueError(f"--batch_size {cfg.batch_size} must be a multiple of --minibatch_size {cfg.minibatch_size}")

    # ------------------------------------------------------------------------------------------------------
    # data: prompts, rendered up to <|assistant|>
    prompts = load_prompts(cfg.prompts or str(data_dir / "prompts_train.jsonl"))
    eval_prompts = load_prompts(cfg.eval_prompts or str(data_dir / "prompts_eval.jsonl"))[: cfg.n_eval_prompts]

    # ------------------------------------------------------------------------------------------------------
    # models: policy (trained), reference (frozen SFT), reward model (frozen), value model (trained, from the RM)
    policy, ckpt = load_model(cfg.policy, expected_stage="sft", device=device)
    check_tokenizer(enc, ckpt, cfg.policy)
    reference = copy.deepcopy(policy)
    reward_model, rm_ckpt = load_model(cfg.reward_model, expected_stage="rm", device=device)
    check_tokenizer(enc, rm_ckpt, cfg.reward_model)
    for frozen in (reference, reward_model):
        frozen.eval()
        for p in frozen.parameters():
            p.requires_grad_(False)
    value_model = copy.deepcopy(reward_model)
    for p in value_model.parameters():
        p.requires_grad_(True)
    for m in (policy, value_model):
        m.eval()  # dropout off everywhere (see note 3); gradients still flow in eval mode
    rm_mean, rm_std = rm_ckpt["extra"].get("score_mean", 0.0), rm_ckpt["extra"].get("score_std", 1.0) or 1.0

    # ------------------------------------------------------------------------------------------------------
    # optimizers (the policy's learning rate is small: it starts from a good model and must not fall apart)
    policy_opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
    value_opt = torch.optim.AdamW(value_model.parameters(), lr=cfg.value_lr, betas=(0.9, 0.95), weight_decay=0.0)
    kl_coef = cfg.kl_coef

    # ------------------------------------------------------------------------------------------------------
    # rollouts: sample, then score everything the update needs (all without gradients)
    @torch.no_grad()
    def rollout(batch_prompts, generator):
        # no top-k: the log-probs (and so the KL) must be those of the distribution we actually sample from
        replies = generate_replies(policy, enc, batch_prompts, max_new_tokens=cfg.max_new_tokens,
                                   temperature=cfg.temperature, batch_size=len(batch_prompts), generator=generator,
                                   device=device)
        seq, full_mask, mask, P = (x.to(device) if torch.is_tensor(x) else x for x in reply_batch(replies))
        mask = mask.float()  # (B, T): 1 on the reply's tokens (its stop token included)
        # log pi and log pi_ref of each reply token: the logits at position P-1+t predict reply token t
        logprobs = policy.token_logprobs(seq, full_mask, cfg.temperature)[:, P - 1:]
        ref_logprobs = reference.token_logprobs(seq, full_mask, cfg.temperature)[:, P - 1:]
        # V_t = the value of the state before reply token t is chosen
        values = value_model(seq, attention_mask=full_mask)[:, P - 1: -1] * mask
        finished = torch.tensor([r.finished for r in replies], device=device)
        raw_scores = at_last_token(reward_model(seq, attention_mask=full_mask), full_mask)  # read at <|end|>
        scores = torch.where(finished, (raw_scores - rm_mean) / rm_std, torch.full_like(raw_scores, NO_END_SCORE))
        return dict(seq=seq, full_mask=full_mask, P=P, mask=mask, logprobs=logprobs * mask,
                    ref_logprobs=ref_logprobs * mask, values=values, scores=scores, raw_scores=raw_scores,
                    finished=finished, texts=[r.text for r in replies])

    # ------------------------------------------------------------------------------------------------------
    # training loop
    logger = MetricsLogger(out_dir, "ppo")
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    order_gen = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    for it in range(1, cfg.iters + 1):
        t0 = time.time()
        idx = torch.randint(len(prompts), (cfg.batch_size,), generator=order_gen).tolist()
        batch_prompts = [prompts[i] for i in idx]
        ro = rollout(batch_prompts, gen)
        mask = ro["mask"]
        rewards, kl = per_token_rewards(ro["logprobs"], ro["ref_logprobs"], ro["scores"], mask, kl_coef)
        advantages, returns = gae(rewards, ro["values"], mask, cfg.gamma, cfg.lam)
        advantages = whiten(advantages, mask)
        t_gen = time.time() - t0

        # PPO updates: several epochs of minibatches over this batch of rollouts
        t1 = time.time()
        stats = {"pg_loss": [], "vf_loss": [], "clipfrac": [], "approx_kl": []}
        for epoch in range(cfg.ppo_epochs):
            perm = torch.randperm(cfg.batch_size, generator=order_gen)
            for start in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = perm[start: start + cfg.minibatch_size].to(device)
                seq, full_mask, m = ro["seq"][mb], ro["full_mask"][mb], mask[mb]
                P = ro["P"]
                new_logprobs = policy.token_logprobs(seq, full_mask, cfg.temperature)[:, P - 1:]
                pg_loss = ppo_policy_loss(new_logprobs, ro["logprobs"][mb], advantages[mb], m, cfg.clip_eps)
                new_values = value_model(seq, attention_mask=full_mask)[:, P - 1: -1]
                vf_loss = ppo_value_loss(new_values, ro["values"][mb], returns[mb], m, cfg.clip_eps_value)
                policy_opt.zero_grad(set_to_none=True)
                value_opt.zero_grad(set_to_none=True)
                (pg_loss + vf_loss).backward()  # two separate networks: each gets only its own loss's gradient
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
                torch.nn.utils.clip_grad_norm_(value_model.parameters(), cfg.grad_clip)
                policy_opt.step()
                value_opt.step()
                with torch.no_grad():
                    logratio = new_logprobs - ro["logprobs"][mb]
                    ratio = torch.exp(logratio)
                    stats["pg_loss"].append(pg_loss.item())
                    stats["vf_loss"].append(vf_loss.item())
                    stats["clipfrac"].append(masked_mean(((ratio - 1).abs() > cfg.clip_eps).float(), m).item())
                    stats["approx_kl"].append(masked_mean((ratio - 1) - logratio, m).item())  # k3 of old || new
        t_update = time.time() - t1

        # logs: proxy reward (RM) and true reward (gold judge, never trained on) of this iteration's replies
        k1, k3 = kl_estimators(ro["logprobs"], ro["ref_logprobs"])
        kl_per_reply = (k1 * mask).sum(1).mean().item()
        residual = ((returns - ro["values"]) * mask)
        var_returns = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
        explained_var = 1 - masked_mean(residual ** 2, mask) / var_returns.clamp(min=1e-8)
        gold = [gold_score(p, t) for p, t in zip(batch_prompts, ro["texts"])]
        n_tok = int(ro["full_mask"].sum())
        logger.log(it, rm_score=ro["raw_scores"].mean().item(), gold=sum(gold) / len(gold), kl=kl_per_reply,
                   k3=(k3 * mask).sum(1).mean().item(), kl_coef=kl_coef,
                   entropy=(-masked_mean(ro["logprobs"], mask)).item(), length=mask.sum(1).mean().item(),
                   finished=ro["finished"].float().mean().item(), pg_loss=sum(stats["pg_loss"]) / len(stats["pg_loss"]),
                   vf_loss=sum(stats["vf_loss"]) / len(stats["vf_loss"]),
                   clipfrac=sum(stats["clipfrac"]) / len(stats["clipfrac"]),
                   approx_kl=sum(stats["approx_kl"]) / len(stats["approx_kl"]), explained_var=explained_var.item(),
                   gen_s=t_gen, update_s=t_update, **{"tok/s": n_tok * (1 + 2 * cfg.ppo_epochs) / (t_gen + t_update)})
        if cfg.target_kl > 0:  # adaptive KL controller (Ziegler et al. 2019): steer the KL towards a target
            error = max(-0.2, min(0.2, kl_per_reply / cfg.target_kl - 1))
            kl_coef *= 1 + error * cfg.batch_size / 10_000
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # evaluation: SFT (the reference) vs PPO on held-out prompts, same sampling settings as sft.py / dpo.py
    metrics = {"train_seconds": round(train_seconds, 1), "kl_coef": kl_coef}
    if eval_prompts:
        metrics.update(compare_models({"sft": reference, "ppo": policy}, enc, eval_prompts,
                                      temperature=cfg.eval_temperature, seed=cfg.seed, device=device,
                                      samples_file=out_dir / "samples.jsonl"))

    # ------------------------------------------------------------------------------------------------------
    # save
    save_checkpoint(out_dir, policy, stage="ppo", step=cfg.iters, tokenizer=enc.name, train_config=asdict(cfg),
                    extra={k: v for k, v in metrics.items() if not isinstance(v, dict)})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    plot_log(out_dir / "log.jsonl", out_dir / "reward_vs_gold.png", [["rm_score", "gold"], "kl"],
             title=f"PPO, kl_coef={cfg.kl_coef}: proxy (RM) vs true (gold) reward")
    plot_log(out_dir / "log.jsonl", out_dir / "ppo.png", [["pg_loss", "vf_loss"], ["clipfrac", "approx_kl"],
                                                          "explained_var", ["entropy"], "length"], title="PPO")
    print(f"done in {time.time() - t_start:.0f}s; wrote {checkpoint_file(out_dir)}")
    return metrics


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"ppo.py: {e}")
