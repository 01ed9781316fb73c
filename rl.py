"""
What the two stages that learn by trial and error share, ppo.py and grpo.py. Each iteration they sample replies
from the policy, lay them out as tensors, and read every reply token's log-probability under the policy (the
"old" log-probs of the clipped ratio) and under the frozen SFT model (the reference of the KL term); they
estimate that KL from the samples, and watch how far each update moves the policy:

- `rollout_batch`: the replies to a batch of prompts (replies.generate_replies) and those tensors;
- `reply_logprobs`: which columns of GPT.token_logprobs belong to the reply tokens;
- `masked_mean`: a mean over the reply tokens;
- `kl_estimators`: k1 and k3, two per-token estimates of KL(pi || pi_ref) from samples of pi;
- `ppo_diagnostics`: the clip fraction and the approximate KL of an update of the clipped ratio.

What each stage does with them (a reward model and GAE with a value model; group advantages) stays in its file.
"""

import torch

from replies import generate_replies, reply_batch


def reply_logprobs(token_logprobs, P):
    """(B, P + T - 1) log-probs of prompt + reply rows, column j = log p(token j+1 | tokens <= j), as
    GPT.token_logprobs returns them -> (B, T), the reply tokens' own. The prompt fills columns 0..P-1 and reply
    token t is token P + t, so its log-prob is in column P - 1 + t: the logits at the prompt's last position
    predict the first reply token.

        tokens:     p0 p1 ... p(P-1) | y0    y1    ...
        log-prob:                      col P-1, col P, ...
    """
    return token_logprobs[:, P - 1:]


def masked_mean(x, mask):
    """The mean of x over the entries where mask is 1 (0 if there are none)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def kl_estimators(logprobs, ref_logprobs):
    """Per-token estimates of KL(pi || pi_ref) from tokens sampled from pi (Schulman, "Approximating KL"):
    k1 = log r with r = pi / pi_ref (unbiased, noisy, can be < 0); k3 = (1/r - 1) + log r (unbiased, >= 0)."""
    logr = logprobs - ref_logprobs
    return logr, torch.expm1(-logr) + logr


def ppo_diagnostics(logprobs, old_logprobs, mask, clip_eps):
    """How far an update moved the policy, over the masked tokens -> (clipfrac, approx_kl): the share of tokens
    whose ratio pi_new / pi_old left [1 - clip_eps, 1 + clip_eps], and the k3 estimate of KL(old || new)."""
    logratio = logprobs - old_logprobs
    ratio = torch.exp(logratio)
    return masked_mean(((ratio - 1).abs() > clip_eps).float(), mask), masked_mean((ratio - 1) - logratio, mask)


@torch.no_grad()
def rollout_batch(policy, reference, enc, prompts, *, max_new_tokens, temperature, generator, device, tools=None):
    """One reply per prompt from the policy, sampled at `temperature`, and what an update needs, computed without
    gradients -> dict: replies (replies.Reply, in the prompts' order); ids, attention_mask (B, P + T): prompts
    left-padded, then replies right-padded (replies.reply_batch); P; mask (B, T), 1 on the reply tokens the
    policy sampled (the stop token included; 0 on the results of tool calls, which the runtime wrote: tools runs
    them, see replies.generate_replies); logprobs, ref_logprobs (B, T) under the policy and the reference at the
    sampling temperature, 0 off the mask; finished (B,), True where the reply ended with <|end|>."""
    # no top-k: the log-probs (and so the ratio and the KL) must be those of the distribution that was sampled
    replies = generate_replies(policy, enc, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                               batch_size=len(prompts), generator=generator, device=device, tools=tools)
    ids, attention_mask, mask, P = reply_batch(replies)
    ids, attention_mask, mask = ids.to(device), attention_mask.to(device), mask.to(device).float()
    return dict(replies=replies, ids=ids, attention_mask=attention_mask, P=P, mask=mask,
                logprobs=reply_logprobs(policy.token_logprobs(ids, attention_mask, temperature), P) * mask,
                ref_logprobs=reply_logprobs(reference.token_logprobs(ids, attention_mask, temperature), P) * mask,
                finished=torch.tensor([r.finished for r in replies], device=device))
