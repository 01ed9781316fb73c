"""
What the training loops of every stage share: the learning-rate schedule.
"""

import math


def lr_at(step, max_steps, lr, warmup, min_lr):
    """Linear warm-up for `warmup` steps, then cosine decay from lr to min_lr at max_steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    progress = (step - warmup) / max(1, max_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
