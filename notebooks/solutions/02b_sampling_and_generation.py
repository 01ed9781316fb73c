"""Solutions to the exercises of notebook 2b (sampling and generation). Run from the repository root:

    python notebooks/solutions/02b_sampling_and_generation.py
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from model import sample_token  # noqa: E402

first = json.loads((ROOT / "notebooks" / "data" / "pipeline" / "sampling.json").read_text())["next_token"][0]
logits = torch.tensor(first["logits"])  # (V,) the SFT model's logits for the first reply token
argmax = logits.argmax().item()

# 1. top_k = 1 keeps one token; renormalised, it has probability 1, so its log-prob is 0 at any temperature.
print("1. top_k = 1")
g = torch.Generator().manual_seed(0)
for T in (0.5, 1.0, 3.0):
    tokens, logp = sample_token(logits.expand(1000, -1), temperature=T, top_k=1, generator=g)
    print(f"  T = {T}: all 1000 draws are the argmax: {bool((tokens == argmax).all())}; log-probs returned: "
          f"{sorted(set(logp.tolist()))} (the distribution has one token left, with probability 1)")
print("  So top_k=1 writes the greedy reply, but its log-probs are 0, not log softmax(logits): a PPO or KL\n"
      "  computed from them would treat the model as certain of every token.")

# 2. p_T(i) / p_T(j) = exp(l_i / T) / exp(l_j / T) = exp((l_i - l_j) / T) = (p_1(i) / p_1(j)) ** (1 / T):
#    the normaliser cancels in a ratio, and dividing the logit gap by T raises the ratio to the power 1/T.
print("\n2. Temperature raises probability ratios to the power 1/T")
i, j = torch.topk(logits, 2).indices.tolist()
r1 = (torch.softmax(logits, -1)[i] / torch.softmax(logits, -1)[j]).item()
for T in (0.5, 2.0):
    pT = torch.softmax(logits / T, -1)
    print(f"  T = {T}: p_T(i)/p_T(j) = {(pT[i] / pT[j]).item():.5f}; (p_1(i)/p_1(j))**(1/T) = {r1 ** (1 / T):.5f}")

# 3. KL(p_T || p_1) = sum_i p_T(i) (log p_T(i) - log p_1(i)), exactly, over the vocabulary.
print("\n3. How far sampling at T moves the first token's distribution")
logp1 = torch.log_softmax(logits, -1)
for T in (0.5, 0.7, 1.5):
    logpT = torch.log_softmax(logits / T, -1)
    print(f"  T = {T}: KL(p_T || p_1) = {(logpT.exp() * (logpT - logp1)).sum().item():.4f} nats, for this one token")
print("  A reply has many tokens, so these add up. Replies sampled at T = 0.7 are samples of p_0.7, another\n"
      "  distribution than the policy PPO trained (p_1); averaging log pi - log pi_ref over them estimates\n"
      "  neither KL(pi || pi_ref) nor anything PPO penalised. The KL estimator is unbiased only on samples of pi\n"
      "  itself, scored with the same temperature they were drawn at.")
