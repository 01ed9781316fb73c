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

The objective, every piece of it, is the pure functions at the top of this file: whitened_scores (the RM
score a reply earns), per_token_rewards, reply_values (which position scores which reply token), gae, whiten,
ppo_policy_loss and ppo_value_loss; adapt_kl_coef when --target_kl is set. What ppo.py shares with grpo.py is
in rl.py: the rollouts with their log-probs under policy and reference (rl.reply_logprobs says which position
scores which reply token), the KL estimators k1 and k3, and the update's clip fraction and approximate KL.

The gold judge of the tinyworld scores the same replies (logged, never trained on), so you can watch the proxy
reward (RM) and the true reward (gold) part ways when the KL penalty is too weak: reward over-optimisation.

With --reward verifier, the reward is no model but a program: 1 for a right final answer to a word problem in a
reply that ended with <|end|>, else 0 (evaluate.solved, grpo.py's reward), the rollouts use only the word
problems among the prompts, and the value model starts from the SFT model with a new head (no reward model is
read). That is PPO next to GRPO on the same task, at the same number of sampled replies.

    python ppo.py                                    # CPU, after sft.py and reward_model.py; ~2 minutes on 2 cores
    python ppo.py --kl_coef 0 --iters 90 --out_dir out/ppo_nokl   # watch over-optimisation
    python ppo.py --reward verifier --out_dir out/ppo_verifier      # word problems, as grpo.py trains on
    python ppo.py --device cuda --batch_size 256
    python ppo.py --tools --policy out/sft_tools --out_dir out/ppo_tools   # a tool-using policy, tools running

Where this departs from InstructGPT / Ziegler et al.:
1. Separate policy and value networks; the value network starts from the reward model (as in InstructGPT):
   at the start it already predicts roughly the final score, so early advantages are not noise (with
   --reward verifier there is no reward model: it starts from the SFT model, with a new head).
2. The reward model's score is whitened with the mean/std measured when the RM was trained; a reply that never
   reaches <|end|> (or that emits a user turn) gets NO_END_SCORE instead of an RM score.
3. Dropout is off in every forward pass (rollout, scoring, update), so the first minibatch's ratio is exactly 1.
4. Entropy is logged as the mean of -log pi(sampled token), a sample estimate, instead of the full-softmax entropy.
5. No pretraining-loss mixing (InstructGPT's PPO-ptx).
6. With --tools, a reply holds tool results the runtime wrote (replies.py): their tokens are not actions (mask
   0), so no ratio, KL or reward counts them, GAE skips them (`gae`), and the reward model, which never saw a
   tool, scores what the reader sees (the reply without its calls and results, as the gold judge does).

Ctrl-C or SIGTERM stops the run after the current iteration and saves out_dir/ckpt.pt; `python ppo.py --resume`
continues it exactly. Beside the policy it keeps what the next iteration depends on: both optimizers, the value
model, the KL coefficient and the states of the two random generators (rollout samples, prompt order). Restarting
from the saved policy instead (--init) could not work here: the policy checkpoint also gives the frozen reference,
and the value model and the KL controller would start over.
"""

import copy
import time
from dataclasses import asdict, dataclass

import torch

from config import opt, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, prompts_that_fit, tokenizer_for, word_problems_that_fit
from data.tinyworld import gold_score, reasons_step_by_step, run_tool
from device import get_device, set_seed
from evaluate import compare_models, solved
from logger import MetricsLogger
from model import ScalarGPT, at_last_token, last_index, load_model
from replies import seen_batch
from rl import kl_estimators, masked_mean, ppo_diagnostics, reply_logprobs, rollout_batch
from training import (StopRequest, clip_gradients, frozen, prepare_out_dir, restore, resume_state, save_progress,
                      save_run, start_or_resume)

NO_END_SCORE = -1.5  # whitened score given to a reply that does not end with <|end|>


# ----------------------------------------------------------------------------------------------------------
# loss: the objective of PPO for language models, as pure functions. Shapes: B replies, T reply tokens
# (right-padded); mask (B, T) is 1 on the reply tokens the policy sampled (0 on padding, and on tool results).


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


def whitened_scores(raw_scores, finished, score_mean, score_std):
    """The score each reply earns, (B,) -> (B,): the reward model's score whitened with the mean and std it had on
    training replies (stored by reward_model.py), (r - score_mean) / score_std; a reply that did not end with
    <|end|> (finished False) gets NO_END_SCORE instead, whatever the reward model says of it."""
    return torch.where(finished, (raw_scores - score_mean) / score_std, torch.full_like(raw_scores, NO_END_SCORE))


def reply_values(values, P):
    """(B, P + T) values of prompt + reply rows, one per position -> (B, T): V_t, the value of the state before
    reply token t is chosen, read where that choice is made: position P - 1 + t (the value after the last reply
    token is not needed: the episode ends there)."""
    return values[:, P - 1: -1]


def gae(rewards, values, mask, gamma, lam):
    """Generalised Advantage Estimation (Schulman et al. 2016), backwards over the reply tokens:

        delta_t = r_t + gamma * V_{t+1} - V_t        (V after the reply's last token = 0: the episode ends)
        A_t     = delta_t + gamma * lam * A_{t+1}
        returns = A + V                              (the value model's regression target)

    rewards, values, mask: (B, T), replies right-padded. Outputs are 0 where mask is 0.
    The steps t, t+1 are the policy's actions, the tokens where mask is 1: a token it did not sample (padding,
    or a tool's result inside a reply) is skipped, so the step after a token is the next sampled one, the same
    as GAE on the sampled tokens alone, compacted to the left. After the last sampled token the value is 0.
    """
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros(B, device=rewards.device)  # V and A of the next sampled token (0 after the last)
    next_advantage = torch.zeros(B, device=rewards.device)
    for t in reversed(range(T)):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_advantage) * m
        # only a sampled token becomes "the next one"; across the others, the next sampled token's V and A carry
        next_value = torch.where(m.bool(), values[:, t], next_value)
        next_advantage = torch.where(m.bool(), advantages[:, t], next_advantage)
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


def adapt_kl_coef(kl_coef, kl, target_kl, batch_size, horizon=10_000):
    """The adaptive KL controller of Ziegler et al. (2019): steer the measured KL per reply towards target_kl,

        kl_coef <- kl_coef * (1 + clip(kl / target_kl - 1, -0.2, 0.2) * batch_size / horizon)
    """
    error = max(-0.2, min(0.2, kl / target_kl - 1))
    return kl_coef * (1 + error * batch_size / horizon)


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """RLHF: PPO against the reward model, with a KL penalty to the SFT model."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    policy: str = opt("out/sft", "SFT checkpoint: the starting policy and the frozen reference")
    reward_model: str = opt("out/rm", "reward model checkpoint (also the value model's starting point)")
    reward: str = opt("rm", "what scores a reply: 'rm' (the reward model) or 'verifier' (1 for a right final answer "
                            "to a word problem, else 0; rollouts then use the word problems among the prompts)",
                      choices=("rm", "verifier"))
    out_dir: str = opt("out/ppo", "where the policy, logs, plots and metrics.json go")
    resume: bool = opt(False, "continue the stopped run in out_dir (Ctrl-C, SIGTERM) with its saved options")
    prompts: str = opt("", "prompts JSONL for rollouts; '' = data_dir/prompts_train.jsonl")
    eval_prompts: str = opt("", "held-out prompts for the final evaluation; '' = data_dir/prompts_val.jsonl")
    tools: bool = opt(False, "run the tinyworld's tools in rollouts and evaluation (a tool-using policy: "
                      "--policy out/sft_tools --out_dir out/ppo_tools)")
    iters: int = opt(40, "PPO iterations (rollout batch + updates)", at_least=1)
    batch_size: int = opt(64, "prompts (rollouts) per iteration", at_least=1)
    minibatch_size: int = opt(16, "rollouts per gradient step", at_least=1)
    ppo_epochs: int = opt(4, "passes over each rollout batch", at_least=1)
    max_new_tokens: int = opt(48, "longest reply during rollouts", at_least=1)
    temperature: float = opt(1.0, "sampling temperature, used the same way when re-scoring log-probs", above=0)
    kl_coef: float = opt(0.05, "beta of the per-token KL penalty", at_least=0)
    target_kl: float = opt(0.0, "adaptive KL controller: target KL per reply in nats (0 = fixed kl_coef)",
                           at_least=0)
    gamma: float = opt(1.0, "discount of GAE", at_least=0, at_most=1)
    lam: float = opt(0.95, "lambda of GAE", at_least=0, at_most=1)
    clip_eps: float = opt(0.2, "PPO ratio clip", above=0)
    clip_eps_value: float = opt(0.2, "value clip", above=0)
    lr: float = opt(3e-5, "policy learning rate", at_least=0)
    value_lr: float = opt(1e-4, "value model learning rate", at_least=0)
    grad_clip: float = opt(1.0, "gradient-norm clip (0 = off)", at_least=0)
    n_eval_prompts: int = opt(300, "held-out prompts for the final gold evaluation (0 = skip)", at_least=0)
    eval_temperature: float = opt(1.0, "sampling temperature of the final evaluation (same as sft.py and dpo.py)",
                                  at_least=0)
    device: str = opt("auto", "auto | cpu | cuda | mps")
    seed: int = opt(1337, "random seed")

    def __post_init__(self):
        if self.batch_size % self.minibatch_size:
            raise ValueError(f"--batch_size {self.batch_size} must be a multiple of --minibatch_size "
                             f"{self.minibatch_size}")


# ----------------------------------------------------------------------------------------------------------
# data: rollouts


@torch.no_grad()
def reward_model_scores(reward_model, enc, replies, device="cpu"):
    """The reward model's raw score of each reply (replies.Reply) -> (B,): read at the last token of what the
    reader sees (replies.seen_batch: the reply without tool calls and results; the <|end|> of one that ended)."""
    seen, seen_mask = (t.to(device) for t in seen_batch(replies, enc))
    return at_last_token(reward_model(seen, attention_mask=seen_mask), seen_mask)


@torch.no_grad()
def rollout(policy, reference, reward_model, value_model, enc, prompts, *, max_new_tokens, temperature, generator,
            score_mean, score_std, device, tools=None):
    """One reply per prompt from the policy, and everything the update needs, computed without gradients -> dict:
    what rl.rollout_batch returns (replies; ids, attention_mask (B, P + T); P; mask, logprobs, ref_logprobs (B, T);
    finished (B,)), and values (B, T); raw_scores (B,) the reward model's (reward_model_scores), or with
    reward_model None the verifier's 1 or 0 (evaluate.solved); scores (B,): the RM's whitened (whitened_scores), or the verifier's as
    they are; texts; cut_off (stopped by the token limit); calls (tool calls per reply; None without tools).
    tools: runs the policy's tool calls (replies.generate_replies); their results have mask 0."""
    ro = rollout_batch(policy, reference, enc, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                       generator=generator, device=device, tools=tools)
    ids, attention_mask, P, finished = ro["ids"], ro["attention_mask"], ro["P"], ro["finished"]
    if reward_model is None:  # the verifier: a right final answer in a reply that ended, or nothing
        raw_scores = scores = torch.tensor([float(solved(r)) for r in ro["replies"]], device=device)
    else:
        raw_scores = reward_model_scores(reward_model, enc, ro["replies"], device)
        scores = whitened_scores(raw_scores, finished, score_mean, score_std)
    return dict(ro, values=reply_values(value_model(ids, attention_mask=attention_mask), P) * ro["mask"],
                raw_scores=raw_scores, scores=scores, texts=[r.text for r in ro["replies"]],
                cut_off=[r.stop == "length" for r in ro["replies"]],
                calls=[len(r.calls) for r in ro["replies"]] if tools is not None else None)


# ----------------------------------------------------------------------------------------------------------
# evaluation


def rollout_stats(ro, returns, prompts, reward="rm"):
    """The log line's view of one iteration's rollouts: the reward (rm_score, the RM's: a proxy; or, with the
    verifier, reward: the share of right answers, and step_by_step: the share of replies that reason first) and
    the true reward (the gold judge, never trained on), the KL to the reference per reply (k1, the one in the
    reward, and k3), the entropy as the mean of -log pi(sampled token), reply length, the share of finished
    replies, and how much of the returns' variance the value model explains; with tools, the calls per reply."""
    mask = ro["mask"]
    k1, k3 = kl_estimators(ro["logprobs"], ro["ref_logprobs"])
    var_returns = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    explained_var = 1 - masked_mean(((returns - ro["values"]) * mask) ** 2, mask) / var_returns.clamp(min=1e-8)
    gold = [gold_score(p, t, finished=not cut) for p, t, cut in zip(prompts, ro["texts"], ro["cut_off"])]
    scores = {"rm_score": ro["raw_scores"].mean().item()} if reward == "rm" else {
        "reward": ro["raw_scores"].mean().item(),
        "step_by_step": sum(map(reasons_step_by_step, ro["texts"])) / len(ro["texts"])}
    return dict(scores, gold=sum(gold) / len(gold),
                kl=(k1 * mask).sum(1).mean().item(), k3=(k3 * mask).sum(1).mean().item(),
                entropy=(-masked_mean(ro["logprobs"], mask)).item(), length=mask.sum(1).mean().item(),
                finished=ro["finished"].float().mean().item(), explained_var=explained_var.item(),
                **({"tool_calls": sum(ro["calls"]) / len(ro["calls"])} if ro["calls"] is not None else {}))


# ----------------------------------------------------------------------------------------------------------
# main


def load_models(cfg, enc, device):
    """The four models of PPO -> (policy, reference, reward_model, value_model, the RM checkpoint's extra):
    the policy (trained) and a frozen copy of it, the reference; the reward model (frozen) and the value model
    (trained), which starts as a copy of the reward model, or with --reward verifier (no reward model: None) as
    the SFT model with a new scalar head. All in eval mode: dropout is off (note 3); gradients still flow."""
    policy, _ = load_model(cfg.policy, expected_stage="sft", device=device, tokenizer=enc)
    reference = frozen(copy.deepcopy(policy))
    if cfg.reward == "verifier":
        return policy, reference, None, ScalarGPT.from_gpt(policy).eval(), {}
    reward_model, rm_ckpt = load_model(cfg.reward_model, expected_stage="rm", device=device, tokenizer=enc)
    value_model = copy.deepcopy(reward_model)
    return policy, reference, frozen(reward_model), value_model, rm_ckpt["extra"]



def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config
    cfg, ckpt = start_or_resume(Config, argv, "ppo", last_step="iters")  # ckpt: the stopped run --resume continues
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)

    # ------------------------------------------------------------------------------------------------------
    # model: policy (trained), reference (frozen SFT), reward model (frozen), value model (trained)
    policy, reference, reward_model, value_model, rm_extra = load_models(cfg, enc, device)
    score_mean, score_std = rm_extra.get("score_mean", 0.0), rm_extra.get("score_std", 1.0) or 1.0

    # ------------------------------------------------------------------------------------------------------
    # data: prompts for the rollouts, and held-out ones for the evaluation (those that fill the context: dropped)
    train_file, block_size = cfg.prompts or str(data_dir / "prompts_train.jsonl"), policy.config.block_size
    prompts = (prompts_that_fit(enc, train_file, block_size) if cfg.reward == "rm" else  # the verifier: word problems
               word_problems_that_fit(enc, train_file, block_size, "--reward verifier checks only those"))
    eval_prompts = prompts_that_fit(enc, cfg.eval_prompts or str(data_dir / "prompts_val.jsonl"), block_size,
                                    limit=cfg.n_eval_prompts)

    # ------------------------------------------------------------------------------------------------------
    # optimizer (the policy's learning rate is small: it starts from a good model and must not fall apart)
    policy_opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
    value_opt = torch.optim.AdamW(value_model.parameters(), lr=cfg.value_lr, betas=(0.9, 0.95), weight_decay=0.0)
    kl_coef = ckpt["resume"]["kl_coef"] if ckpt else cfg.kl_coef

    # ------------------------------------------------------------------------------------------------------
    # training loop (Ctrl-C / SIGTERM: it stops after the iteration, saves, and --resume goes on from there)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)  # the rollouts' samples
    order_gen = torch.Generator().manual_seed(cfg.seed)  # which prompts, and the minibatches
    done = restore(ckpt, policy, policy_opt, value_model=value_model, value_opt=value_opt, gen=gen, order_gen=order_gen)
    out_dir = prepare_out_dir(cfg.out_dir, resume=ckpt is not None)  # a new run moves an earlier one aside
    logger = MetricsLogger(out_dir, "ppo", resume_from=done if ckpt else None)
    t_start = time.time()
    with StopRequest() as stop:
        for it in range(done + 1, cfg.iters + 1):
            t0 = time.time()
            idx = torch.randint(len(prompts), (cfg.batch_size,), generator=order_gen).tolist()
            batch_prompts = [prompts[i] for i in idx]
            ro = rollout(policy, reference, reward_model, value_model, enc, batch_prompts, generator=gen,
                         max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, score_mean=score_mean,
                         score_std=score_std, device=device, tools=run_tool if cfg.tools else None)
            mask, P = ro["mask"], ro["P"]
            rewards, _ = per_token_rewards(ro["logprobs"], ro["ref_logprobs"], ro["scores"], mask, kl_coef)
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
                    ids, attention_mask, m = ro["ids"][mb], ro["attention_mask"][mb], mask[mb]
                    new_logprobs = reply_logprobs(policy.token_logprobs(ids, attention_mask, cfg.temperature), P)
                    pg_loss = ppo_policy_loss(new_logprobs, ro["logprobs"][mb], advantages[mb], m, cfg.clip_eps)
                    new_values = reply_values(value_model(ids, attention_mask=attention_mask), P)
                    vf_loss = ppo_value_loss(new_values, ro["values"][mb], returns[mb], m, cfg.clip_eps_value)
                    policy_opt.zero_grad(set_to_none=True)
                    value_opt.zero_grad(set_to_none=True)
                    (pg_loss + vf_loss).backward()  # two separate networks: each gets only its own loss's gradient
                    clip_gradients(policy.parameters(), cfg.grad_clip)
                    clip_gradients(value_model.parameters(), cfg.grad_clip)
                    policy_opt.step()
                    value_opt.step()
                    clipfrac, approx_kl = ppo_diagnostics(new_logprobs.detach(), ro["logprobs"][mb], m, cfg.clip_eps)
                    for key, value in zip(stats, (pg_loss, vf_loss, clipfrac, approx_kl)):
                        stats[key].append(value.item())
            t_update = time.time() - t1

            log = rollout_stats(ro, returns, batch_prompts, cfg.reward)
            n_tok = int(ro["attention_mask"].sum()) * (1 + 2 * cfg.ppo_epochs)  # forward passes over every token
            logger.log(it, **log, kl_coef=kl_coef, **{k: sum(v) / len(v) for k, v in stats.items()}, gen_s=t_gen,
                       update_s=t_update, **{"tok/s": n_tok / (t_gen + t_update)})
            if cfg.target_kl > 0:
                kl_coef = adapt_kl_coef(kl_coef, log["kl"], cfg.target_kl, cfg.batch_size)
            done = it
            if stop.requested:
                break
    save_progress(stop, out_dir, policy, "ppo.py", stage="ppo", step=done, tokenizer=enc.name, optimizer=policy_opt,
                  train_config=asdict(cfg), resume=resume_state(value_model=value_model, value_opt=value_opt,
                                                                gen=gen, order_gen=order_gen, kl_coef=kl_coef))
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # evaluation: SFT (the reference) and PPO on the same held-out prompts, sampled as in sft.py and dpo.py
    rm_labels = rm_extra.get("labels", 0)  # what PPO's reward signal rests on: the RM's labelled pairs, or none
    metrics = {"train_seconds": round(train_seconds, 1), "kl_coef": kl_coef, "labels": rm_labels,
               "signal": f"reward model ({rm_labels:,} labelled pairs)" if cfg.reward == "rm" else
               "verifier (word problems' final answers)"}
    if eval_prompts:
        metrics.update(compare_models({"sft": reference, "ppo": policy}, enc, eval_prompts,
                                      temperature=cfg.eval_temperature, seed=cfg.seed, device=device,
                                      samples_file=f"{out_dir}/samples.jsonl",
                                      tools=run_tool if cfg.tools else None))

    # ------------------------------------------------------------------------------------------------------
    # save
    save_run(out_dir, metrics, [("reward_vs_gold.png", [["rm_score", "gold"], "kl"] if cfg.reward == "rm" else
                                 [["reward", "gold"], "kl", "step_by_step"],
                                 f"PPO, kl_coef={cfg.kl_coef}: {cfg.reward} reward vs true (gold) reward"),
                                    ("ppo.png", [["pg_loss", "vf_loss"], ["clipfrac", "approx_kl"], "explained_var",
                                                 ["entropy"], "length"], "PPO")],
             model=policy, stage="ppo", step=cfg.iters, tokenizer=enc.name, train_config=asdict(cfg),
             started=t_start)
    return metrics


if __name__ == "__main__":
    run(main)
