"""
Stage 6, reasoning with verifiable rewards (GRPO): the model answers word problems, a program checks the final
answers and each step, and the replies (and steps) that got them right become likelier than the others written
for the same problem.

"Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?" A tiny model that
answers at once must do two sums in one forward pass; one that first writes "3 plus 4 is 7. 7 minus 2 is 5."
does one sum at a time, each a fact it learned in pre-training (chain of thought). SFT showed both kinds of reply
(data.tinyworld's annotators: most reason step by step, the terse ones answer at once, some slip or refuse);
GRPO keeps what the verifier rewards. One iteration:

  1. rollouts: for each of N word problems, a group of G replies sampled from the policy at temperature 1, and
     their tokens' log-probs, at the same temperature, under the policy and under the frozen SFT model
     (rl.rollout_batch);
  2. rewards: the verifier, 1 for a right final answer (the last number the reply states) in a reply that ended
     with <|end|>, 0 otherwise (evaluate.solved). It reads only that number, so a right number reached through a
     false sum ("3 plus 4 is 8. 8 minus 3 is 5.") is rewarded like a worked one: the log's `lucky` is the share
     of the rewarded replies that are such guesses. So a second program checks each step the reply states
     (data.tinyworld.check_steps: the problem's next step, from the count so far, summed right): 1 or 0 per step;
  3. advantages from the group alone, no value model: each reply's reward against its group's (group_advantages),
     and each step's against the same step of the group's other replies (process credit, token_advantages). A
     group that is all right or all wrong gets advantage 0 on every reply: it cannot say which one was better;
  4. minibatch updates of grpo_loss: the clipped ratio objective of PPO with each token's advantage (its reply's,
     plus its step's), plus kl_coef times the k3 estimate of KL(pi || pi_ref) per token (kl_coef 0 by default).

The objective is the three pure functions below: group_advantages (GRPO, Dr. GRPO, RLOO), token_advantages (the
step's advantage added on the step's tokens) and grpo_loss (with its three ways to aggregate the tokens' terms).
The gold judge is never trained on; at the end the SFT model and the policy each answer every test problem
n_samples times (pass@1 and pass@8, the unbiased estimator) and the ordinary held-out prompts once (the gold
judge's mean: does reasoning RL cost tone or safety?).

    python grpo.py                                   # after sft.py; ~1.7 minutes on 2 CPU cores
    python grpo.py --step_credit 0                   # the final answer alone (outcome rewards, the paper's)
    python grpo.py --advantage dr_grpo               # Dr. GRPO: no std, token sums over a constant
    python grpo.py --advantage rloo --kl_coef 0      # RLOO's leave-one-out baseline, no KL term
    python grpo.py --device cuda --prompts_per_iter 64
    python grpo.py --tools --policy out/sft_tools --out_dir out/grpo_tools   # a tool-using policy, tools running

Where this departs from DeepSeekMath's GRPO (Shao et al. 2024), and why:
1. By default the loss averages the terms of all the tokens of a minibatch (each token weighs the same, as in
   DAPO and as sft.py's loss does), not each reply's tokens and then the replies: the paper's per-reply mean
   gives a token of a short reply more weight than a token of a long one, so a long wrong reply is pushed down
   less per token (the length bias Dr. GRPO points out). --loss_agg sequence is the paper's; constant is Dr. GRPO's.
2. Rewards are checked by programs: the final answer (a reply that never ends gets 0, whatever it says) and
   each step. The paper's process supervision scores steps with a trained reward model, normalises all the
   step rewards of a group together and gives a token the sum of the normalised rewards of its step and the
   steps after it; here a step's reward is compared only with the same step of the other replies (step s with
   step s), and the token gets its step's advantage plus its reply's outcome advantage. Measured with today's
   defaults (seed 1337): pass@1 on the test problems 0.145 -> 0.190 with the final answer alone (--step_credit
   0), 0.145 -> 0.306 with step credit. The paper's way did no better in one run (docs/results.md).
   With --tools there is no step credit: a tool-using policy's sums are its calculator's.
3. The reference stays the SFT model for the whole run (the paper's iterative GRPO refreshes it).
4. A group whose rewards are all equal stays in the batch (DAPO's dynamic sampling drops it and samples more):
   its replies feel only their steps' advantages and the KL term.
5. Dropout is off in every forward pass (rollout, scoring, update), so the first minibatch's ratio is exactly 1.
6. Small: N = 16 problems x G = 8 replies per iteration, a model of about a million parameters.
7. With --tools, the policy's tool calls run inside its replies (replies.py): the results the runtime wrote have
   mask 0, so they are in no ratio, KL or mean; the verifier reads what the reader sees.
8. No KL term by default (kl_coef 0), lr 1e-4 and rollouts at temperature 1, the evaluation's. With the outcome
   reward alone, rollouts at 0.7 did better (fewer garbled replies, more groups that teach); with step credit,
   1 did (0.293 against 0.266, one run each of 40 iterations), because the evaluation samples at 1 and only
   rollouts at 1 push down the unlikely tokens that spoil its replies. kl_coef 0.04 gained less (two seeds, 50
   iterations: +0.119 and +0.144 against +0.154 and +0.185 with none). The cost: trained on word problems alone,
   with nothing to keep it near SFT elsewhere, the policy stops refusing unsafe requests (docs/results.md).

Ctrl-C or SIGTERM stops the run after the current iteration and saves out_dir/ckpt.pt; `python grpo.py --resume`
continues it exactly (the policy, its optimizer and the two random generators: rollout samples, problem order).
"""

import copy
import time
from dataclasses import asdict, dataclass

import torch

from config import opt, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, prompts_that_fit, tokenizer_for, word_problems_that_fit
from data.tinyworld import check_steps, parse_problem, reasons_step_by_step, run_tool
from device import get_device, set_seed
from evaluate import compare_models, lucky_share, problem_pass_rates, solved
from logger import MetricsLogger
from model import load_model
from rl import kl_estimators, masked_mean, ppo_diagnostics, reply_logprobs, rollout_batch
from training import (StopRequest, clip_gradients, frozen, prepare_out_dir, restore, resume_state, save_progress,
                      save_run, start_or_resume)

# ----------------------------------------------------------------------------------------------------------
# loss: the objective of GRPO, as pure functions. Shapes: N prompts with G replies each, B = N * G replies in
# a batch, grouped consecutively (rows g*G ... g*G + G - 1 answer prompt g); T reply tokens, right-padded;
# mask (B, T) is 1 on the tokens the policy sampled.

ESTIMATORS = ("grpo", "dr_grpo", "rloo")
AGGREGATIONS = ("token", "sequence", "constant")


def group_advantages(rewards, group_size, estimator="grpo", eps=1e-4):
    """One advantage per reply, from the rewards of the G replies to the same prompt: the group is the baseline.

        grpo     (DeepSeekMath):    A_i = (r_i - mean_j r_j) / (std_j r_j + eps)
        dr_grpo  (Dr. GRPO):        A_i =  r_i - mean_j r_j                  (no division by the std)
        rloo     (Ahmadian et al.): A_i =  r_i - mean_{j != i} r_j  =  G / (G - 1) * (r_i - mean_j r_j)

    std is the sample standard deviation (divided by G - 1). A group whose replies all got the same reward (all
    right, or all wrong) gets 0 for every reply: it says nothing about which reply is better, so it teaches
    nothing (eps keeps GRPO's 0 / 0 from being NaN). rewards (B,) -> advantages (B,).
    """
    B = rewards.numel()
    if group_size < 2 or B % group_size:
        raise ValueError(f"group_size must be at least 2 and divide the batch ({B} rewards), not {group_size}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"the advantage estimator is one of {ESTIMATORS}, not {estimator!r}")
    r = rewards.float().view(-1, group_size)  # (N, G)
    centred = r - r.mean(dim=1, keepdim=True)
    if estimator == "grpo":
        advantages = centred / (r.std(dim=1, keepdim=True) + eps)
    elif estimator == "dr_grpo":
        advantages = centred
    else:
        advantages = centred * group_size / (group_size - 1)
    return advantages.reshape(B)


def token_advantages(outcome, step_rewards, step_ends, group_size, T, estimator="grpo", step_credit=1.0):
    """Each reply token's advantage: the outcome's, plus step_credit times its step's (process credit).

        A_t = A_outcome + step_credit * A_step(s(t)),  A_step(s) = group_advantages(column s of step_rewards)

    outcome (B,): each reply's advantage from the final answer (group_advantages). step_rewards (B, S): 1 where
    reply b's s-th step is right (data.tinyworld.check_steps), 0 where it is wrong or where the reply stated
    fewer than s + 1 steps; each column is compared within the groups like the outcome, so a step is credited
    for being right where the group's other replies went wrong at that step. step_ends (B, S): the index of the
    reply token that ends step s (-1: no such step); s(t) is the step whose tokens hold t (those after the
    previous step's end, up to its own end). Tokens after the last step (the answer) have the outcome's
    advantage alone. -> (B, T).
    """
    B, S = step_rewards.shape
    A = outcome.float()[:, None].expand(B, T).clone()
    if S == 0 or step_credit == 0:
        return A
    steps = torch.stack([group_advantages(step_rewards[:, s], group_size, estimator) for s in range(S)], dim=1)
    t = torch.arange(T, device=A.device)
    held = step_ends >= 0  # (B, S): the reply has step s
    ended_before = (step_ends[:, :, None] < t[None, None, :]) & held[:, :, None]  # (B, S, T)
    s_of_t = ended_before.sum(1)  # (B, T): how many steps ended before token t = the index of t's step
    in_a_step = s_of_t < held.sum(1, keepdim=True)
    return A + step_credit * steps.gather(1, s_of_t.clamp(max=S - 1)) * in_a_step


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps, kl_coef, aggregation="token",
              max_tokens=None):
    """The clipped surrogate of PPO with each token's advantage (its reply's, or token_advantages'), and the KL to
    the reference inside the loss:

        ratio_t  = exp(log pi(y_t) - log pi_old(y_t))
        pg_loss1 = -A * ratio_t
        pg_loss2 = -A * clip(ratio_t, 1 - clip_eps, 1 + clip_eps)
        k3_t     = pi_ref(y_t) / pi(y_t) - 1 - log(pi_ref(y_t) / pi(y_t))      (>= 0, rl.kl_estimators)
        l_t      = max(pg_loss1, pg_loss2) + kl_coef * k3_t

    and the way the terms l_t of the batch become one number, the aggregation:
        "token"     sum over every sampled token / their number: each token weighs the same (DAPO);
        "sequence"  mean over replies of (each reply's mean over its tokens): each reply weighs the same, so a
                    token of a long reply weighs less (DeepSeekMath's GRPO);
        "constant"  sum over every sampled token / (B * max_tokens): one fixed denominator, no normalisation by
                    length at all (Dr. GRPO; max_tokens is the longest a reply may be, the padded T if None).
    k3 rather than k1 = log(pi / pi_ref): both are unbiased estimates of the KL on tokens sampled from pi, but k1
    is negative on some tokens, and as a loss term it would push those tokens further from the reference.
    logprobs (B, T) with gradients; old_logprobs, ref_logprobs, mask (B, T); advantages (B,) or (B, T) -> scalar.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"the loss aggregation is one of {AGGREGATIONS}, not {aggregation!r}")
    mask = mask.to(logprobs.dtype)
    # (B, 1): every token of a reply has the reply's advantage; or (B, T), one per token (token_advantages)
    A = (advantages[:, None] if advantages.dim() == 1 else advantages).to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs)
    pg_loss1 = -A * ratio
    pg_loss2 = -A * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    _, k3 = kl_estimators(logprobs, ref_logprobs)
    terms = (torch.max(pg_loss1, pg_loss2) + kl_coef * k3) * mask  # (B, T)
    if aggregation == "token":
        return terms.sum() / mask.sum().clamp(min=1)
    if aggregation == "sequence":
        return (terms.sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()
    return terms.sum() / (mask.size(0) * (max_tokens or mask.size(1)))


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """GRPO: word problems, a verifier's reward, advantages within groups of replies, a KL term in the loss."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    policy: str = opt("out/sft", "SFT checkpoint: the starting policy and the frozen reference")
    tools: bool = opt(False, "run the tinyworld's tools in rollouts and evaluation (a tool-using policy: "
                      "--policy out/sft_tools --out_dir out/grpo_tools)")
    out_dir: str = opt("out/grpo", "where the policy, logs, plots and metrics.json go")
    resume: bool = opt(False, "continue the stopped run in out_dir (Ctrl-C, SIGTERM) with its saved options")
    prompts: str = opt("", "prompts JSONL whose word problems are trained on; '' = data_dir/prompts_train.jsonl")
    test_prompts: str = opt("", "prompts JSONL whose word problems measure pass@k; '' = data_dir/prompts_test.jsonl")
    eval_prompts: str = opt("", "held-out prompts whose ordinary ones (not problems) the gold judge scores before and "
                                "after; '' = data_dir/prompts_val.jsonl")
    iters: int = opt(50, "iterations (a batch of groups of replies, then updates)", at_least=1)
    prompts_per_iter: int = opt(16, "N: word problems per iteration", at_least=1)
    group_size: int = opt(8, "G: replies sampled per problem (2 or more: a group of one has no baseline)", at_least=2)
    minibatch_size: int = opt(32, "replies per gradient step", at_least=1)
    epochs: int = opt(1, "passes over each batch of replies", at_least=1)
    max_new_tokens: int = opt(64, "longest reply (in rollouts and in the pass@k evaluation)", at_least=1)
    temperature: float = opt(1.0, "the rollouts' sampling temperature, used the same way when re-scoring their "
                                  "log-probs (the pass@k evaluation samples at 1)", above=0)
    advantage: str = opt("grpo", "grpo: (r - mean) / std in the group | dr_grpo: r - mean | rloo: leave-one-out",
                         choices=("grpo", "dr_grpo", "rloo"))
    loss_agg: str = opt("", "how the tokens' terms make the loss: token | sequence | constant; '' = the "
                            "estimator's own: constant for dr_grpo, token otherwise",
                        choices=("",) + AGGREGATIONS)
    step_credit: float = opt(1.0, "weight of each step's own advantage on its tokens (process credit: "
                                  "data.tinyworld.check_steps; 0 = the final answer's alone; always 0 with --tools)",
                             at_least=0)
    clip_eps: float = opt(0.2, "ratio clip", above=0)
    kl_coef: float = opt(0.0, "coefficient of the k3 KL term in the loss (0 = none)", at_least=0)
    lr: float = opt(1e-4, "learning rate", at_least=0)
    grad_clip: float = opt(1.0, "gradient-norm clip (0 = off)", at_least=0)
    n_samples: int = opt(8, "replies per test problem for pass@k (temperature 1)", at_least=1)
    n_test_problems: int = opt(0, "the first n test problems (0 = all)", at_least=0)
    n_eval_prompts: int = opt(300, "ordinary held-out prompts for the gold judge's before/after (0 = skip)", at_least=0)
    device: str = opt("auto", "auto | cpu | cuda | mps")
    seed: int = opt(1337, "random seed")


# ----------------------------------------------------------------------------------------------------------
# data


def step_rewards(replies, enc):
    """The steps of each reply, checked (data.tinyworld.check_steps) -> (rewards (B, S), ends (B, S)): 1 where
    reply b's s-th stated sum or difference is the problem's next step done right, else 0; the index of the
    reply token that ends that step's sentence, -1 where the reply stated fewer steps. S: the most steps any
    reply stated. A reply's text is its tokens decoded, so a character offset maps onto the first token whose
    decoded prefix reaches it."""
    checked, ends = [], []
    for r in replies:
        steps = check_steps(r.prompt, r.text)
        reached = [len(enc.decode(r.reply_ids[: k + 1])) for k in range(len(r.reply_ids))] if steps else []
        checked.append([float(right) for _, right in steps])
        ends.append([next((k for k, n in enumerate(reached) if n >= end), len(reached) - 1) for end, _ in steps])
    S = max(map(len, checked), default=0)
    rewards = torch.tensor([c + [0.0] * (S - len(c)) for c in checked])  # (B, S), S may be 0
    return rewards, torch.tensor([e + [-1] * (S - len(e)) for e in ends], dtype=torch.long)


# ----------------------------------------------------------------------------------------------------------
# evaluation


def rollout_stats(ro, rewards, group_size, tools=False):
    """The log line's view of one iteration's rollouts: the reward (the share of right replies), the share of
    groups that teach (both right and wrong replies in them), the share of the right replies that got there
    through a false sum (lucky: guesses the verifier rewards, evaluate.lucky_share), the share of replies that
    reason step by step, reply length in tokens, the share that ended, the KL to the reference per reply (k1 and
    k3) and the entropy as the mean of -log pi(sampled token); with tools, the tool calls per reply."""
    mask = ro["mask"]
    k1, k3 = kl_estimators(ro["logprobs"], ro["ref_logprobs"])
    groups = rewards.view(-1, group_size)
    return dict(reward=rewards.mean().item(), mixed=(groups.max(1).values > groups.min(1).values).float().mean().item(),
                lucky=lucky_share(ro["replies"]),
                step_by_step=sum(reasons_step_by_step(r.text) for r in ro["replies"]) / len(ro["replies"]),
                length=mask.sum(1).mean().item(), finished=ro["finished"].float().mean().item(),
                kl=(k1 * mask).sum(1).mean().item(), k3=(k3 * mask).sum(1).mean().item(),
                entropy=(-masked_mean(ro["logprobs"], mask)).item(),
                **({"tool_calls": sum(len(r.calls) for r in ro["replies"]) / len(ro["replies"])} if tools else {}))


def evaluate_policy(reference, policy, enc, test_problems, ordinary, cfg, device, out_dir):
    """The SFT model (before) and the policy (after): pass@1 and pass@n on the test problems, each answered
    n = cfg.n_samples times at temperature 1, and the gold judge on the ordinary held-out prompts (compare_models:
    the table, win rate, KL) -> {"before": {...}, "after": {...}, "sft": ..., "grpo": ..., ...}."""
    tools = run_tool if cfg.tools else None
    kw = dict(n=cfg.n_samples, temperature=1.0, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, device=device,
              tools=tools)
    metrics = {"before": problem_pass_rates(reference, enc, test_problems, **kw),
               "after": problem_pass_rates(policy, enc, test_problems, **kw)}
    print(f"\n{len(test_problems)} test problems, {cfg.n_samples} replies each at temperature 1:")
    for key in ("pass@1", f"pass@{cfg.n_samples}", "lucky", "step_by_step", "mean_length", "format_compliance"):
        print(f"  {key:18s} {metrics['before'][key]:8.3f} -> {metrics['after'][key]:8.3f}")
    if ordinary:
        metrics.update(compare_models({"sft": reference, "grpo": policy}, enc, ordinary, temperature=1.0,
                                      max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, device=device,
                                      samples_file=f"{out_dir}/samples.jsonl", tools=tools))
        metrics["before"]["gold_ordinary"], metrics["after"]["gold_ordinary"] = (
            metrics["sft"]["gold_mean"], metrics["grpo"]["gold_mean"])
    return metrics


# ----------------------------------------------------------------------------------------------------------
# main


def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config
    cfg, ckpt = start_or_resume(Config, argv, "grpo", last_step="iters")  # ckpt: the stopped run --resume continues
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)
    loss_agg = cfg.loss_agg or ("constant" if cfg.advantage == "dr_grpo" else "token")
    step_credit = 0.0 if cfg.tools else cfg.step_credit  # a tool-using policy's sums are its calculator's

    # ------------------------------------------------------------------------------------------------------
    # model: the policy (trained) and the reference (the frozen SFT model); both in eval mode: dropout is off
    # (note 5), and gradients still flow in eval mode. No value model, no reward model.
    policy, _ = load_model(cfg.policy, expected_stage="sft", device=device, tokenizer=enc)
    reference = frozen(copy.deepcopy(policy))

    # ------------------------------------------------------------------------------------------------------
    # data: word problems to train on, held-out ones for pass@k, and the ordinary held-out prompts
    block_size = policy.config.block_size
    problems = word_problems_that_fit(enc, cfg.prompts or str(data_dir / "prompts_train.jsonl"), block_size,
                                      "--prompts: grpo.py needs the tinyworld's")
    test_file = cfg.test_prompts or str(data_dir / "prompts_test.jsonl")
    test_problems = word_problems_that_fit(enc, test_file, block_size, "--test_prompts: grpo.py needs the tinyworld's")
    test_problems = test_problems[: cfg.n_test_problems or None]
    eval_file = cfg.eval_prompts or str(data_dir / "prompts_val.jsonl")
    ordinary = [p for p in prompts_that_fit(enc, eval_file, block_size) if not parse_problem(p)][: cfg.n_eval_prompts]
    print(f"{len(problems)} word problems to train on, {len(test_problems)} to test on, {len(ordinary)} ordinary "
          f"held-out prompts; advantage {cfg.advantage}, step credit {step_credit}, loss aggregated by {loss_agg}")

    # ------------------------------------------------------------------------------------------------------
    # optimizer
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)

    # ------------------------------------------------------------------------------------------------------
    # training loop (Ctrl-C / SIGTERM: it stops after the iteration, saves, and --resume goes on from there)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)  # the rollouts' samples
    order_gen = torch.Generator().manual_seed(cfg.seed)  # which problems, and the minibatches
    done = restore(ckpt, policy, optimizer, gen=gen, order_gen=order_gen)  # 0 for a new run
    out_dir = prepare_out_dir(cfg.out_dir, resume=ckpt is not None)  # a new run moves an earlier one aside
    logger = MetricsLogger(out_dir, "grpo", resume_from=done if ckpt else None)
    t_start = time.time()
    with StopRequest() as stop:
        for it in range(done + 1, cfg.iters + 1):
            t0 = time.time()
            # 1. a group of G replies to each of N problems: rows g*G ... g*G + G - 1 answer problem g
            idx = torch.randint(len(problems), (cfg.prompts_per_iter,), generator=order_gen).tolist()
            group_prompts = [problems[i] for i in idx for _ in range(cfg.group_size)]
            ro = rollout_batch(policy, reference, enc, group_prompts, max_new_tokens=cfg.max_new_tokens,
                               temperature=cfg.temperature, generator=gen, device=device,
                               tools=run_tool if cfg.tools else None)
            # 2. the verifier's reward; 3. each reply's advantage within its group, and each step's (process credit)
            rewards = torch.tensor([float(solved(r)) for r in ro["replies"]], device=device)
            advantages = group_advantages(rewards, cfg.group_size, cfg.advantage)
            if step_credit:
                checked, ends = step_rewards(ro["replies"], enc)
                advantages = token_advantages(advantages, checked.to(device), ends.to(device), cfg.group_size,
                                              ro["mask"].size(1), cfg.advantage, step_credit)
            t_gen = time.time() - t0

            # 4. updates: minibatches of replies (a group may be split across them: its advantages are fixed)
            t1 = time.time()
            stats = {"loss": [], "clipfrac": [], "approx_kl": []}
            for epoch in range(cfg.epochs):
                perm = torch.randperm(len(group_prompts), generator=order_gen)
                for start in range(0, len(group_prompts), cfg.minibatch_size):
                    mb = perm[start: start + cfg.minibatch_size].to(device)
                    m = ro["mask"][mb]
                    logprobs = reply_logprobs(policy.token_logprobs(ro["ids"][mb], ro["attention_mask"][mb],
                                                                    cfg.temperature), ro["P"])
                    loss = grpo_loss(logprobs, ro["logprobs"][mb], ro["ref_logprobs"][mb], advantages[mb], m,
                                     cfg.clip_eps, cfg.kl_coef, loss_agg, max_tokens=cfg.max_new_tokens)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    clip_gradients(policy.parameters(), cfg.grad_clip)
                    optimizer.step()
                    clipfrac, approx_kl = ppo_diagnostics(logprobs.detach(), ro["logprobs"][mb], m, cfg.clip_eps)
                    for key, value in zip(stats, (loss, clipfrac, approx_kl)):
                        stats[key].append(value.item())
            t_update = time.time() - t1

            n_tok = int(ro["attention_mask"].sum()) * (2 + 2 * cfg.epochs)  # forward passes over every token
            logger.log(it, **rollout_stats(ro, rewards, cfg.group_size, cfg.tools),
                       **{k: sum(v) / len(v) for k, v in stats.items()}, gen_s=t_gen, update_s=t_update,
                       **{"tok/s": n_tok / (t_gen + t_update)})
            done = it
            if stop.requested:
                break
    save_progress(stop, out_dir, policy, "grpo.py", stage="grpo", step=done, tokenizer=enc.name, optimizer=optimizer,
                  train_config=asdict(cfg), resume=resume_state(gen=gen, order_gen=order_gen))
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # evaluation: SFT (the reference) and GRPO on the test problems (pass@k) and the ordinary held-out prompts
    verified = "final answers and steps" if step_credit else "final answers"
    metrics = {"train_seconds": round(train_seconds, 1), "labels": 0, "signal": f"verifier (word problems' {verified})",
               "advantage": cfg.advantage, "loss_agg": loss_agg, "step_credit": step_credit,
               "sampled_replies": cfg.iters * cfg.prompts_per_iter * cfg.group_size}
    metrics.update(evaluate_policy(reference, policy, enc, test_problems, ordinary, cfg, device, out_dir))

    # ------------------------------------------------------------------------------------------------------
    # save
    save_run(out_dir, metrics, [("grpo.png", [["reward", "mixed", "lucky", "step_by_step"], "length", ["kl", "k3"],
                                                  ["clipfrac", "approx_kl"], "entropy"],
                                     f"GRPO ({cfg.advantage}, {loss_agg}), kl_coef={cfg.kl_coef}")],
             model=policy, stage="grpo", step=cfg.iters, tokenizer=enc.name, train_config=asdict(cfg),
             started=t_start)
    return metrics


if __name__ == "__main__":
    run(main)
