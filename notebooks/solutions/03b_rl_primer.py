"""Solutions to the exercises of notebook 3b (the RL primer). Run from the repository root:

    python notebooks/solutions/03b_rl_primer.py
"""
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from grpo import group_advantages  # noqa: E402
from ppo import ppo_policy_loss  # noqa: E402

# 1. A baseline adds no bias: E[b grad log pi(y)] = b sum_y pi(y) grad log pi(y) = b sum_y grad pi(y)
#    = b grad sum_y pi(y) = b grad 1 = 0. Checked on a toy policy like the notebook's: a table of logits
#    theta[previous piece, next piece], replies of up to L pieces ending in <end>, every reply enumerated.
print("1. sum over every reply of pi(y) * grad log pi(y)")
A, L = 5, 3
END, BOS = A - 1, A
torch.manual_seed(0)
theta = torch.randn(A + 1, A, requires_grad=True)  # a random policy, not the uniform one
replies = [list(s) for n in range(1, L + 1) for s in itertools.product(range(A), repeat=n)
           if END not in s[:-1] and (n == L or s[-1] == END)]
total_prob, score = 0.0, torch.zeros_like(theta)
for y in replies:
    prevs = [BOS] + y[:-1]
    logp = sum(torch.log_softmax(theta[p], -1)[a] for p, a in zip(prevs, y))
    grad, = torch.autograd.grad(logp, theta)
    total_prob += logp.exp().item()
    score += logp.exp().detach() * grad
print(f"  {len(replies)} replies, total probability {total_prob:.6f}; "
      f"largest entry of sum pi * grad log pi: {score.abs().max().item():.2e} (zero up to rounding)")
print("  So any constant b times it is zero too: subtracting b changes no expectation, only the noise.")

# 2. GRPO's advantages: A_i = (R_i - mean(R)) / std(R), with the sample standard deviation (divide by G - 1).
print("\n2. GRPO group advantages")
R = torch.tensor([2.5, 0.4, -2.0, 2.5])
mean, std = R.mean(), R.std()  # torch's std is the sample one (unbiased=True)
print(f"  rewards {[round(r, 2) for r in R.tolist()]}: mean {mean:.3f}, std {std:.3f}, "
      f"advantages {[round(a, 3) for a in ((R - mean) / std).tolist()]}")
print(f"  grpo.group_advantages gives {[round(a, 3) for a in group_advantages(R, 4, eps=0).tolist()]}")
same = torch.full((4,), 1.7)
adv = group_advantages(same, 4)  # (R - mean) / (std + eps), eps = 1e-4
print(f"  all equal {[round(r, 2) for r in same.tolist()]}: std 0, advantages {adv.tolist()} "
      f"(the small eps avoids 0/0)")
print("  Every reply of that group gets advantage 0: the prompt contributes no gradient at all. When all G\n"
      "  replies are right (or all wrong) the group says nothing about what to change; GRPO learns only from\n"
      "  prompts on which the model sometimes succeeds.")

# 3. The clip: objective per token min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A), loss = its negative.
print("\n3. Gradient of ppo_policy_loss with respect to the new log-prob (clip_eps 0.2)")
mask = torch.ones(1, 1)
for ratio in (1.3, 0.7):
    for A_ in (+1.0, -1.0):
        new = torch.tensor([[float(torch.log(torch.tensor(ratio)))]], requires_grad=True)
        loss = ppo_policy_loss(new, torch.zeros(1, 1), torch.tensor([[A_]]), mask, clip_eps=0.2)
        grad, = torch.autograd.grad(loss, new)
        print(f"  ratio {ratio}, A = {A_:+.0f}: d loss / d log pi_new = {grad.item():+.3f}")
print("  Zero where the token has already moved by more than eps in the direction its advantage asks for:\n"
      "  ratio 1.3 with A > 0 (already made likelier enough) and ratio 0.7 with A < 0 (already made rarer\n"
      "  enough). Where the ratio moved the wrong way (1.3 with A < 0, 0.7 with A > 0), the gradient stays, so\n"
      "  the update can still undo a step that went against the advantage: the clip limits gains, never repairs.")
