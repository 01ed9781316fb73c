"""The simulated labeller: a noisy human who prefers the reply the gold judge scores higher, most of the time.

It prefers reply A with probability sigmoid((gold(A) - gold(B)) / TAU), the Bradley-Terry model with known
rewards. The preference pairs of the world are labelled by it.

    >>> round(preference_probability(2.5, 2.0), 3)
    0.731
"""

import math
import random

from .judge import gold_score
from .prompts import TASK_WEIGHTS, make_prompt
from .styles import sample_style, style_reply

TAU = 0.5  # labeller noise: a gold gap of 0.5 is labelled right 73% of the time, a gap of 1.5 95%, 3.0 99.8%
# How often the labeller agrees with the noise-free gold ordering, on preference pairs as sample_pair draws them
# (training prompts, two different styles from the mixtures; pairs with equal gold scores left out). Measured
# with measure_labeller_agreement(LABELLER_AGREEMENT_N, seed=0); tests/test_tinyworld.py re-measures it on
# 10,000 other draws and checks it is within 4 binomial standard deviations.
LABELLER_AGREEMENT = 0.927
LABELLER_AGREEMENT_N = 40_000


def preference_probability(gold_a, gold_b, tau=TAU):
    """P(the labeller prefers a) = sigmoid((gold_a - gold_b) / tau)."""
    gap = max(-50.0, min(50.0, (gold_a - gold_b) / tau))
    return 1.0 / (1.0 + math.exp(-gap))


def labeller_prefers_a(prompt, a, b, rng, tau=TAU):
    """A noisy human: True (prefers reply a over reply b) with probability sigmoid((gold(a) - gold(b)) / tau)."""
    return rng.random() < preference_probability(gold_score(prompt, a), gold_score(prompt, b), tau)


def sample_task(rng):
    """A task drawn by TASK_WEIGHTS."""
    return rng.choices(list(TASK_WEIGHTS), weights=list(TASK_WEIGHTS.values()))[0]


def sample_pair(rng, prompt):
    """Two replies to a prompt in two different styles of the mixture -> (reply1, style1, reply2, style2)."""
    s1 = sample_style(rng, prompt)
    s2 = s1
    while s2 == s1:
        s2 = sample_style(rng, prompt)
    return style_reply(rng, prompt, s1), s1, style_reply(rng, prompt, s2), s2


def measure_labeller_agreement(n, seed=0):
    """-> (agreement rate, expected rate by the formula, tie fraction) over n labelled pairs with different gold
    scores, drawn like the preference data (training prompts)."""
    rng = random.Random(seed)
    agree, expected, ties, done = 0, 0.0, 0, 0
    while done < n:
        prompt = make_prompt(rng, sample_task(rng), "train")[0]
        a, _, b, _ = sample_pair(rng, prompt)
        ga, gb = gold_score(prompt, a), gold_score(prompt, b)
        if ga == gb:
            ties += 1
            continue
        done += 1
        expected += preference_probability(max(ga, gb), min(ga, gb))
        agree += labeller_prefers_a(prompt, a, b, rng) == (ga > gb)
    return agree / n, expected / n, ties / (n + ties)
