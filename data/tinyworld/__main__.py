"""The command line: `python -m data.tinyworld --seed S --out DIR` writes the world's files (see build.py).

    python -m data.tinyworld                                            # the default world, in data/tinyworld
    python -m data.tinyworld --seed 1 --out /tmp/tw --corpus_mb 0.2     # a small one

Options are spelled with underscores like every script of the project; dashes are accepted too. Sizes must be
positive (a vocabulary of at least the 256 byte values), and a bad one is refused in one line that names it.
"""

import argparse

from config import check_args, run

from .build import BPE_SAMPLE_MB, DEFAULT_DIR, generate


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m data.tinyworld",
                                 description="Generate the tinyworld: corpus, tokenizer, prompt/SFT/preference files.",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    def option(name, **kw):
        ap.add_argument(f"--{name}", *([f"--{name.replace('_', '-')}"] if "_" in name else []), dest=name, **kw)

    option("seed", type=int, default=1337, help="random seed (the world's facts are fixed; the draws change)")
    option("out", default=str(DEFAULT_DIR), help="output directory")
    option("corpus_mb", type=float, default=4.0, help="size of the pre-training corpus in MB")
    option("vocab_size", type=int, default=2048, help="BPE vocabulary size, special tokens excluded "
           "(the tinyworld runs out of merges near 1,100: every word becomes one token)")
    option("bpe_sample_mb", type=float, default=BPE_SAMPLE_MB, help="MB of corpus the BPE is trained on")
    option("n_sft", type=int, default=10_000, help="SFT training conversations")
    option("n_sft_val", type=int, default=500, help="SFT validation conversations (validation combinations)")
    option("n_sft_tools", type=int, default=4000, help="tool-use demonstrations (sft_tools_train.jsonl)")
    option("n_sft_tools_val", type=int, default=300, help="held-out tool-use demonstrations (validation combinations)")
    option("n_pairs", type=int, default=20_000, help="training preference pairs")
    option("n_pairs_val", type=int, default=1000, help="validation preference pairs (validation combinations)")
    option("n_prompts", type=int, default=5000, help="training prompts (PPO rollouts)")
    option("n_prompts_val", type=int, default=300, help="validation prompts (choosing hyperparameters)")
    option("n_prompts_test", type=int, default=600, help="test prompts (the reported figures)")
    args = ap.parse_args(argv)
    check_args(args, corpus_mb=dict(above=0), bpe_sample_mb=dict(above=0), vocab_size=dict(at_least=256),
               **{name: dict(at_least=1) for name in ("n_sft", "n_sft_val", "n_pairs", "n_pairs_val", "n_prompts",
                                                       "n_prompts_val", "n_prompts_test")})
    args = vars(args)
    return generate(args.pop("out"), **args)


if __name__ == "__main__":
    run(main, name="data.tinyworld")
