"""
The reward-KL frontier: how much true reward each method buys per nat of KL from the SFT model.

Every preference-tuning method moves the policy away from the SFT model and, on the way, raises the reward it
is steered by. The reward model is only a proxy: push hard enough on it and the true reward (here the gold
judge, which no method is trained on) stops following it (Gao et al. 2022, "Scaling Laws for Reward Model
Overoptimization"). KL(policy || SFT) is the distance travelled; a method is better than another when it reaches
a higher gold score at the same KL (the DPO paper, Rafailov et al. 2023, Fig. 2). This script puts every method
of the project on those axes, measured the same way:

- best-of-n: n replies of the SFT model to each prompt, the one the reward model scores highest kept, for
  n = 1, 2, 4, ..., 64; with the simulated labeller, and with the gold judge itself, choosing instead, as
  references (what a perfect reward model could buy at the same KL);
- PPO at several KL coefficients, and without a KL penalty (ppo.main, shortened runs);
- DPO at several betas, with the paper's loss (rpo_alpha 0) and with dpo.py's default NLL term (rpo_alpha 1);
- GRPO (grpo.py), where it applies: it optimises no preference but the verifier of the word problems (a right
  final answer), so its point shows what reasoning RL does to the preference measures, at its KL, and the
  `solved` column (the share of the test word problems answered right) shows what it is trained for.

Each policy is measured on the same held-out prompts: replies sampled at temperature 1 with one seed, the gold
judge's mean score (evaluate.evaluate_replies), the reward model's mean score as PPO sees it (whitened with the
reward model's training mean and std; a reply without <|end|> gets ppo.NO_END_SCORE), and the KL to the SFT
model estimated on the policy's own replies (evaluate.kl_to_reference); the share of the word problems among
the prompts whose reply the verifier passes (evaluate.solved). Best-of-n's KL is the closed form of
`best_of_n_kl` (as in Gao et al.), not an estimate.

    python frontier.py                   # the sweep (shortened runs): 28 minutes on 2 shared CPU cores
    python frontier.py --redraw          # results.csv and the figures again, from the runs in out/frontier
    python frontier.py --methods bon     # only best-of-n (bon, ppo, dpo, grpo, comma-separated)

On a machine shared with other jobs, OMP_NUM_THREADS=1 python frontier.py: two threads per process fighting
for the same cores made PPO's iterations 5-15x slower here. A run whose result is already in out_dir/points/
(measured with the same checkpoints and settings) is not run again, so an interrupted sweep continues where it
stopped. It writes out_dir/results.csv (one row per point: method, setting, kl, gold_mean, rm_mean, their 95%
intervals, n_prompts, labels, solved, n_problems), frontier.png (gold against KL, every method) and
proxy_vs_gold.png (RM and gold against sqrt(KL), best-of-n and PPO: Gao et al.'s figure).

The shortened runs (options below): PPO 30 iterations of 64 rollouts (the default run has 60), at kl_coef
0.2, 0.05 (the default), 0.01 and 0; DPO 150 steps (the default 300) on pairs sampled for 1,200 prompts (2,500)
in 3 rounds, at beta 0.1, 0.5 (the default) and 2, each with rpo_alpha 0 and 1; GRPO 20 iterations of 16 word
problems x 8 replies (the default run has 40) at its default kl_coef 0.04. The runs are stage runs like any
other (each stage's main with its options, out_dir out_dir/runs/<method>_<setting>), so a run keeps its own
guarantees: one stopped part-way goes on with the stage's --resume, and a run started again with other options
moves the earlier one's files to previous/run-N (so does a run whose SFT model, reward model or data changed).

Where this departs from the papers:
1. One seed per point, and shortened runs: a point's interval is over prompts (1.96 standard errors of the
   mean), not over training seeds, which move a point more.
2. Gao et al. fit functional forms to many runs (d * (alpha - beta * d) for best-of-n, with d = sqrt(KL));
   here the points are drawn as measured.
3. The RL curves of Gao et al. are over training; here each PPO run is one measured point at its end, and its
   training log (rollouts on training prompts, 64 per iteration) is drawn as a thin line beside it.
4. Best-of-n's n replies per prompt are the first n of the same 64 (nested): one sampling pass instead of
   seven, and the curve cannot zigzag because a smaller n got luckier draws.
"""

import contextlib
import csv
import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import data.tinyworld
import dpo
import grpo
import ppo
from checkpoint import checkpoint_file, load_checkpoint, write_text_atomically
from config import opt, parse_config, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, prompts_that_fit, tokenizer_for
from data.tinyworld import TAU, parse_problem, preference_probability
from device import get_device
from evaluate import EVAL_TEMPERATURE, evaluate_replies, kl_to_reference, mean_ci95, solved
from logger import read_log
from model import load_model
from replies import generate_replies
from training import RESUME_MAY_CHANGE

# ----------------------------------------------------------------------------------------------------------
# best-of-n, as pure functions


def best_of_n_kl(n):
    """KL(best-of-n || base) in nats: log n - (n - 1) / n.

    Why. Let s be the score that chooses (the reward model's) and F(v) = P(s(y) <= v) under the base model p,
    continuous (no two replies score the same). Best-of-n returns y when y is one of the n draws (n ways to
    say which) and the other n - 1 score lower, so the chosen reply has probability

        q(y) = n p(y) F(s(y))^(n-1),       log q(y) / p(y) = log n + (n - 1) log F(s(y)).

    Under q, U = F(s(y)) is the largest of n uniform numbers, with density n u^(n-1) on [0, 1], and
    E[log U] = integral of n u^(n-1) log u du = -1/n. So KL(q || p) = E_q[log q / p] = log n - (n - 1) / n,
    whatever p and s are: 0 at n = 1, 0.31 nats at n = 2, 3.17 at n = 64, growing like log n.

    With ties (two draws of the same reply, a score with round values like the gold judge's) it is an upper
    bound: give each draw an independent uniform tie-breaker v; choosing the largest (s, v) is best-of-n with a
    continuous score on pairs (y, v), whose KL is exactly the formula, and the reply alone is the pair with v
    forgotten, which can only lower a KL (the data processing inequality). Taking the first of tied draws
    chooses the same distribution as a random tie-break, as the draws are exchangeable. Any other rule that
    returns one of n independent draws, the labeller's noisy comparisons included, stays under it too: it can
    put at most 1 - (1 - p(S))^n of its mass on any set S of replies (one draw at least must fall in S), and the
    maximum of a continuous score reaches that limit on every set of top-scoring replies, so its q is the most
    concentrated one allowed, and KL grows with concentration.
    """
    if n < 1:
        raise ValueError(f"best-of-n needs n >= 1, not {n}")
    return math.log(n) - (n - 1) / n


def best_of_n(scores, n):
    """scores (P, N): N replies to each of P prompts, scored -> (P,) the index of the best of the first n replies
    of each prompt (the first of them where several share the best score)."""
    return np.asarray(scores)[:, :n].argmax(axis=1)  # numpy's argmax returns the first maximum


def labeller_best_of_n(gold, prefers_a):
    """The labeller's best of n, comparing two replies at a time as it labels preference pairs: the first reply
    is kept, then each next one replaces it when preferred.

    gold (P, N): gold scores of N replies to each of P prompts; prefers_a(gold_a, gold_b) -> bool, the labeller's
    (noisy) verdict. -> (P, N) indices: column n - 1 holds the reply kept from the first n, which cost n - 1 labels.
    """
    gold = np.asarray(gold)
    P, N = gold.shape
    kept = np.zeros((P, N), dtype=int)
    for p in range(P):
        best = 0
        for j in range(1, N):
            if not prefers_a(gold[p, best], gold[p, j]):
                best = j
            kept[p, j] = best
    return kept


# ----------------------------------------------------------------------------------------------------------
# config


METHODS = ("bon", "ppo", "dpo", "grpo")  # bon: best-of-n, sampled from the SFT model


@dataclass
class Config:
    """The reward-KL frontier: best-of-n, PPO, DPO and GRPO measured alike against KL to the SFT model."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing)")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    sft: str = opt("out/sft", "the SFT checkpoint: every method starts from it, every KL is to it")
    reward_model: str = opt("out/rm", "the reward model: best-of-n's chooser, PPO's reward, every RM mean")
    out_dir: str = opt("out/frontier", "results.csv, the figures, points/ (measured results), runs/ (trained policies)")
    split: str = opt("test", "held-out prompts measured: 'test' (reported) or 'val' (for choosing settings)",
                     choices=("test", "val"))
    n_prompts: int = opt(300, "the first n prompts of the split (0 = all)", at_least=0)
    max_new_tokens: int = opt(64, "longest reply when measuring (evaluate.py's)", at_least=1)
    seed: int = opt(0, "the sampling seed of every measurement (training runs keep their own default seeds)")
    methods: str = opt("bon,ppo,dpo,grpo", "which methods to run, comma-separated (bon = best-of-n)")
    max_n: int = opt(64, "best-of-n: the largest n, a power of 2 (n = 1, 2, 4, ... up to it)", at_least=1)
    ppo_kl_coefs: str = opt("0.2,0.05,0.01,0", "PPO: one run per KL coefficient (0 = no KL penalty)")
    ppo_iters: int = opt(30, "PPO: iterations of each run", at_least=1)
    ppo_args: str = opt("", "PPO: more options for every run, e.g. '--batch_size 32'")
    dpo_betas: str = opt("0.1,0.5,2", "DPO: one run per beta, for each rpo_alpha")
    dpo_rpo_alphas: str = opt("0,1", "DPO: weight of the chosen replies' NLL (0 = the paper's loss, 1 = dpo.py's)")
    dpo_steps: int = opt(150, "DPO: optimizer steps of each run", at_least=1)
    dpo_pairs: int = opt(1200, "DPO: training prompts that get two sampled, labelled replies", at_least=1)
    dpo_args: str = opt("", "DPO: more options for every run, e.g. '--rounds 1'")
    grpo_kl_coefs: str = opt("0.04", "GRPO: one run per coefficient of its k3 KL term (trained on word problems)")
    grpo_iters: int = opt(20, "GRPO: iterations of each run", at_least=1)
    grpo_args: str = opt("", "GRPO: more options for every run, e.g. '--advantage dr_grpo'")
    redraw: bool = opt(False, "train and sample nothing: results.csv and the figures from the points already there")
    device: str = opt("auto", "auto | cpu | cuda | mps")


# ----------------------------------------------------------------------------------------------------------
# measuring a policy: gold, RM and KL on the same prompts, sampled the same way


@torch.no_grad()
def rm_scores(reward_model, enc, replies, score_mean, score_std, batch_size=64, device="cpu"):
    """The reward model's score of each reply as PPO's reward sees it (ppo.reward_model_scores), whitened with the
    reward model's training mean and std; ppo.NO_END_SCORE for a reply that did not end with <|end|>. -> a list
    of floats."""
    out = []
    for i in range(0, len(replies), batch_size):
        chunk = replies[i: i + batch_size]
        raw = ppo.reward_model_scores(reward_model, enc, chunk, device)  # (B,)
        finished = torch.tensor([r.finished for r in chunk], device=device)
        out += ppo.whitened_scores(raw, finished, score_mean, score_std).tolist()
    return out


def verdicts(replies):
    """The verifier on each reply -> (len,) floats: 1.0 or 0.0 for a reply to a word problem (evaluate.solved:
    grpo.py's reward), nan for a reply to any other prompt."""
    return np.array([float(solved(r)) if parse_problem(r.prompt) else math.nan for r in replies])


def point(method, setting, gold, rm, kl, labels, right=(), **extra):
    """One row of results.csv: the means of the chosen replies' gold and RM scores with their 95% intervals, and
    the share of the word problems solved (right: verdicts() of the chosen replies; '' when there is none)."""
    gold_mean, gold_ci = mean_ci95(gold)
    rm_mean, rm_ci = mean_ci95(rm)
    right = np.asarray(right, dtype=float)
    right = right[~np.isnan(right)]
    return dict(method=method, setting=setting, kl=kl, gold_mean=gold_mean, gold_ci95=gold_ci, rm_mean=rm_mean,
                rm_ci95=rm_ci, n_prompts=len(gold), labels=labels, solved=float(right.mean()) if right.size else "",
                n_problems=int(right.size), **extra)


def measure_policy(policy, ctx):
    """A trained policy's replies to the prompts (temperature 1, the measuring seed) -> (gold, rm, kl, right): each
    reply's gold and RM score, KL(policy || SFT) per reply, estimated on these replies, and verdicts()."""
    replies = generate_replies(policy, ctx["enc"], ctx["prompts"], max_new_tokens=ctx["max_new_tokens"],
                               temperature=EVAL_TEMPERATURE, seed=ctx["seed"], device=ctx["device"])
    _, judged = evaluate_replies(replies)
    rm = rm_scores(ctx["rm"], ctx["enc"], replies, *ctx["rm_scale"], device=ctx["device"])
    kl = kl_to_reference(policy, ctx["sft"], replies, temperature=EVAL_TEMPERATURE, device=ctx["device"])
    return [j["total"] for j in judged], rm, kl, verdicts(replies)


def measure_best_of_n(ctx, max_n):
    """max_n replies of the SFT model to every prompt, sampled once; for n = 1, 2, 4, ... the best of the first
    n by the reward model, by the labeller and by the gold judge -> rows of results.csv."""
    prompts, P = ctx["prompts"], len(ctx["prompts"])
    # each prompt max_n times in a row: a batch of max_n is one prompt, so the rows need no padding
    replies = generate_replies(ctx["sft"], ctx["enc"], [p for p in prompts for _ in range(max_n)],
                               max_new_tokens=ctx["max_new_tokens"], temperature=EVAL_TEMPERATURE, seed=ctx["seed"],
                               batch_size=max_n, device=ctx["device"])
    _, judged = evaluate_replies(replies)
    gold = np.array([j["total"] for j in judged]).reshape(P, max_n)  # (P, N)
    rm = np.array(rm_scores(ctx["rm"], ctx["enc"], replies, *ctx["rm_scale"], device=ctx["device"])).reshape(P, max_n)
    right = verdicts(replies).reshape(P, max_n)
    rng = random.Random(ctx["seed"])
    kept_by_labeller = labeller_best_of_n(gold, lambda a, b: rng.random() < preference_probability(a, b, TAU))
    rows, every_prompt = [], np.arange(P)
    ns = [2 ** k for k in range(int(math.log2(max_n)) + 1)]
    for n in ns:
        kl = best_of_n_kl(n)
        for method, chosen, labels in [("best_of_n", best_of_n(rm, n), ctx["rm_labels"]),
                                       ("best_of_n_labeller", kept_by_labeller[:, n - 1], (n - 1) * P),
                                       ("best_of_n_gold", best_of_n(gold, n), "")]:
            rows.append(point(method, n, gold[every_prompt, chosen], rm[every_prompt, chosen], kl, labels,
                              right[every_prompt, chosen]))
    return rows


# ----------------------------------------------------------------------------------------------------------
# the sweep: which runs, and running one only when its result is not there yet


def sweep_runs(cfg, methods):
    """-> [(method, setting, stage module, argv)]: the training runs of the sweep, each writing its policy to
    out_dir/runs/<method>_<setting>. Every stage starts from cfg.sft; PPO also reads cfg.reward_model."""
    common = ["--data_dir", cfg.data_dir, "--tokenizer", cfg.tokenizer, "--device", cfg.device,
              "--n_eval_prompts", "0"]  # the sweep measures every policy itself
    runs = []
    if "ppo" in methods:
        for c in floats(cfg.ppo_kl_coefs):
            runs.append(("ppo", c, ppo, common + ["--policy", cfg.sft, "--reward_model", cfg.reward_model,
                                                  "--kl_coef", str(c), "--iters", str(cfg.ppo_iters)]
                         + cfg.ppo_args.split()))
    if "dpo" in methods:
        for alpha in floats(cfg.dpo_rpo_alphas):
            for beta in floats(cfg.dpo_betas):
                runs.append(("dpo" if alpha == 0 else f"dpo_rpo{alpha:g}", beta, dpo,
                             common + ["--init", cfg.sft, "--beta", str(beta), "--rpo_alpha", str(alpha),
                                       "--max_iters", str(cfg.dpo_steps), "--n_sampled_pairs", str(cfg.dpo_pairs)]
                             + cfg.dpo_args.split()))
    if "grpo" in methods:  # its own pass@k evaluation cut to one reply per test problem: the sweep measures `solved`
        for c in floats(cfg.grpo_kl_coefs):
            runs.append(("grpo", c, grpo, common + ["--policy", cfg.sft, "--kl_coef", str(c), "--iters",
                                                    str(cfg.grpo_iters), "--n_samples", "1"] + cfg.grpo_args.split()))
    return runs


def floats(text):
    return [float(x) for x in text.split(",") if x.strip()]


def fingerprint(*files):
    """A short hash of files (a checkpoint, the judge's code, the prompts): a result measured with other weights,
    another judge or other prompts is not reused."""
    h = hashlib.sha1()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:12]


def cached(path, settings, make):
    """The rows stored in `path` if they were made with these settings; else make() them and store them."""
    settings = json.loads(json.dumps(settings))  # as it reads back from the file (tuples become lists)
    if path.exists():
        stored = json.loads(path.read_text())
        if stored["settings"] == settings:
            return stored["rows"]
    rows = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    # through a temporary file: a run stopped while writing leaves no half-written point
    write_text_atomically(path, json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n")
    return rows


def stored_points(points_dir):
    """Every point measured so far in points_dir -> (rows, the settings they were measured with), for --redraw."""
    rows, settings = [], []
    for path in sorted(Path(points_dir).glob("*.json")):
        stored = json.loads(path.read_text())
        rows += stored["rows"]
        settings.append(stored["settings"])
    return rows, settings


def train(stage, argv, run_dir, inputs):
    """The stage's main(argv) writing into run_dir -> its metrics; its printout goes to run_dir/stdout.txt.

    A run of the same options from the same inputs already there is not started again: a finished one is kept as
    it is, and one stopped part-way (Ctrl-C saves a checkpoint that can resume) goes on with the stage's --resume.
    inputs: fingerprints of what the options name but do not hold (the SFT and reward model weights, the data),
    stored in run_dir/inputs.json: a checkpoint path can hold other weights than when the run was trained.
    Any other run there is moved to run_dir/previous/run-N by the stage (training.prepare_out_dir)."""
    argv = argv + ["--out_dir", str(run_dir)]
    stamp = run_dir / "inputs.json"
    resume = False
    if checkpoint_file(run_dir).exists() and stamp.exists() and json.loads(stamp.read_text()) == inputs:
        ckpt = load_checkpoint(run_dir, unfinished_ok=True)
        options = {k: v for k, v in asdict(parse_config(stage.Config, argv)).items() if k not in RESUME_MAY_CHANGE}
        if {k: v for k, v in ckpt["train_config"].items() if k not in RESUME_MAY_CHANGE} == options:
            if ckpt["resume"] is None and (run_dir / "metrics.json").exists():
                return json.loads((run_dir / "metrics.json").read_text())
            resume = ckpt["resume"] is not None
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(inputs) + "\n")
    try:
        with open(run_dir / "stdout.txt", "a" if resume else "w") as log, contextlib.redirect_stdout(log):
            return stage.main(argv + (["--resume"] if resume else []))
    except SystemExit as e:  # the stage saved a stopped run (Ctrl-C, SIGTERM); its own line went to stdout.txt
        if e.code == 130:
            print(f"interrupted: {run_dir} saved part-way; `python frontier.py` with the same options goes on from there")
        raise


def train_and_measure(method, setting, stage, argv, run_dir, ctx):
    """One point of the sweep: a policy trained from the SFT model, measured like every other."""
    t0 = time.time()
    metrics = train(stage, argv, run_dir, ctx["inputs"])
    policy, _ = load_model(run_dir, device=ctx["device"], tokenizer=ctx["enc"])
    gold, rm, kl, right = measure_policy(policy, ctx)
    print(f"  {method} {setting:g}: {time.time() - t0:.0f}s (the run's printout: {run_dir / 'stdout.txt'})")
    labels = ctx["rm_labels"] if method == "ppo" else metrics.get("labels", "")  # PPO's come through its RM
    return [point(method, setting, gold, rm, kl, labels, right, run=run_dir.name)]


# ----------------------------------------------------------------------------------------------------------
# results: the CSV and the two figures

COLUMNS = ["method", "setting", "kl", "gold_mean", "gold_ci95", "rm_mean", "rm_ci95", "n_prompts", "labels", "solved",
           "n_problems", "run"]
STYLE = {"best_of_n": ("tab:blue", "o", "best-of-n, chosen by the reward model"),
         "best_of_n_labeller": ("tab:cyan", "v", "best-of-n, chosen by the labeller (n - 1 labels a prompt)"),
         "best_of_n_gold": ("tab:gray", "^", "best-of-n, chosen by the gold judge (oracle)"),
         "ppo": ("tab:red", "s", "PPO, one run per kl_coef"),
         "dpo": ("tab:green", "D", "DPO (rpo_alpha 0), one run per beta"),
         "dpo_rpo1": ("tab:olive", "P", "DPO + NLL (rpo_alpha 1), one run per beta"),
         "grpo": ("tab:purple", "*", "GRPO on word problems (verifier reward, no preferences)")}


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path):
    """results.csv back as rows, the numbers as numbers."""
    rows = list(csv.DictReader(open(path)))
    for r in rows:
        for k in ("setting", "kl", "gold_mean", "gold_ci95", "rm_mean", "rm_ci95"):
            r[k] = float(r[k])
        r["n_prompts"] = int(r["n_prompts"])
        r["solved"] = float(r["solved"]) if r.get("solved") else math.nan  # nan: no word problem among the prompts
    return rows


def by_method(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r["method"], []).append(r)
    return {m: sorted(rs, key=lambda r: r["kl"]) for m, rs in groups.items()}


def label_point(ax, r, x, y):
    """The setting beside a point: kl_coef for PPO, beta for DPO, n for some of best-of-n's."""
    name = {"ppo": "kl_coef ", "dpo": "beta ", "dpo_rpo1": "beta ", "grpo": "kl_coef "}.get(r["method"])
    if r["method"] == "best_of_n" and math.log2(r["setting"]) % 2 == 0:  # n = 1, 4, 16, 64
        name = "n="
    offset = {"dpo": (4, -10), "dpo_rpo1": (-38, 4)}.get(r["method"], (4, 4))  # apart where the methods meet
    if name:
        ax.annotate(f"{name}{r['setting']:g}", (x, y), textcoords="offset points", xytext=offset, fontsize=7,
                    color=STYLE.get(r["method"], ("black",))[0])


def plot_frontier(rows, path, note):
    """Gold against KL to the SFT model, every method: the reward-KL frontier (the DPO paper's Fig. 2)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for method, rs in by_method(rows).items():
        color, marker, label = STYLE.get(method, ("black", "x", method))
        line = "-" if method.startswith("best_of_n") else "none"
        ax.errorbar([r["kl"] for r in rs], [r["gold_mean"] for r in rs], yerr=[r["gold_ci95"] for r in rs],
                    color=color, marker=marker, ls=line, capsize=2, ms=5, label=label,
                    alpha=0.6 if method == "best_of_n_gold" else 1.0)
        for r in rs:
            label_point(ax, r, r["kl"], r["gold_mean"])
    top = max(4.0, max(r["kl"] for r in rows) * 1.1) if rows else 4.0
    if top <= 12:
        ax.set_xlim(-0.15, top)
        ax.set_xlabel("KL(policy || SFT) per reply, nats")
    else:  # a run far from SFT (no KL penalty, long): linear up to 4 nats, where best-of-64 ends, log beyond
        ax.set_xscale("symlog", linthresh=4, linscale=1.5)
        ax.set_xlim(-0.15, top * 1.2)
        ax.set_xticks([t for t in (0, 1, 2, 3, 4, 8, 16, 32, 64, 128, 256) if t <= top * 1.2])
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("KL(policy || SFT) per reply, nats (linear up to 4, logarithmic beyond)")
    ax.set_ylabel("gold score, mean of the judge's points (95% interval)")
    ax.set_title("The reward-KL frontier: true reward bought per nat of KL")
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: no point hidden
    fig.text(0.01, 0.01, note, fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_proxy_vs_gold(rows, path, note, ppo_logs=(), rm_scale=(0.0, 1.0)):
    """Gao et al.'s figure: the proxy (RM) and the true (gold) reward against sqrt(KL), best-of-n and PPO, on
    separate axes. ppo_logs: [(kl_coef, log records)] drawn as thin lines: the rollouts during training."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = by_method(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, ylabel in [(axes[0], "rm_mean", "RM score (proxy), whitened: std units of training replies"),
                            (axes[1], "gold_mean", "gold score (true reward), the judge's points")]:
        ci = key.replace("mean", "ci95")
        for method in ("best_of_n", "ppo"):
            rs = groups.get(method, [])
            color, marker, label = STYLE[method]
            x = [math.sqrt(max(r["kl"], 0.0)) for r in rs]
            ax.errorbar(x, [r[key] for r in rs], yerr=[r[ci] for r in rs], color=color, marker=marker, capsize=2,
                        ls="-" if method == "best_of_n" else "none", label=label + " (measured)")
            for r, xi in zip(rs, x):
                label_point(ax, r, xi, r[key])
        for i, (kl_coef, log) in enumerate(ppo_logs):
            y = [(r["rm_score"] - rm_scale[0]) / rm_scale[1] if key == "rm_mean" else r["gold"] for r in log]
            x = [math.sqrt(max(kl, 0.0)) for kl in smooth([r["kl"] for r in log])]
            ax.plot(x, smooth(y), color="tab:red", lw=0.7, alpha=0.4,
                    label="PPO during training (rollouts on training prompts, 5-iteration means)" if i == 0 else None)
        ax.set_xlabel("sqrt(KL(policy || SFT)), sqrt(nats)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    if handles:  # one legend for both panels, under them: no point hidden
        fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.04))
    axes[0].set_title("proxy: the reward model's score")
    axes[1].set_title("truth: the gold judge's score")
    fig.suptitle("Reward model over-optimisation (after Gao et al. 2022)")
    fig.text(0.01, 0.01, note, fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def smooth(xs, k=5):
    """The mean of each value and the k - 1 before it."""
    return [sum(xs[max(0, i - k + 1): i + 1]) / len(xs[max(0, i - k + 1): i + 1]) for i in range(len(xs))]


# ----------------------------------------------------------------------------------------------------------
# main


def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config: which methods, where the results go
    cfg = parse_config(Config, argv)
    methods = {m.strip() for m in cfg.methods.split(",") if m.strip()}
    if not methods or methods - set(METHODS):
        raise ValueError(f"--methods: unknown {sorted(methods - set(METHODS))} (give some of {', '.join(METHODS)})")
    if cfg.max_n < 1 or cfg.max_n & (cfg.max_n - 1):
        raise ValueError(f"--max_n must be a power of 2, not {cfg.max_n}")
    out = Path(cfg.out_dir)
    t_start = time.time()
    if cfg.redraw:  # nothing is loaded or run: the points already measured are drawn again
        rows, settings = stored_points(out / "points")
        if not rows:
            raise FileNotFoundError(f"nothing to redraw: no measured point in {out / 'points'} (run without --redraw)")
    else:
        rows, settings = sweep(cfg, methods, out)
    rows = draw(rows, settings, out)
    print(f"done in {time.time() - t_start:.0f}s; wrote {out / 'results.csv'}, {out / 'frontier.png'}, "
          f"{out / 'proxy_vs_gold.png'}")
    return rows


def sweep(cfg, methods, out):
    """Measure best-of-n and every run of the sweep that is not measured yet -> (rows, their settings)."""
    # ------------------------------------------------------------------------------------------------------
    # data and models: the prompts; the SFT model (best-of-n's sampler, every KL's reference), the reward model
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)
    sft, _ = load_model(cfg.sft, expected_stage="sft", device=device, tokenizer=enc)
    prompts = prompts_that_fit(enc, data_dir / f"prompts_{cfg.split}.jsonl", sft.config.block_size,
                               limit=cfg.n_prompts or None)
    rm, rm_ckpt = load_model(cfg.reward_model, expected_stage="rm", device=device, tokenizer=enc)
    extra = rm_ckpt.get("extra") or {}
    rm_scale = (extra.get("score_mean", 0.0), extra.get("score_std", 1.0) or 1.0)
    ctx = dict(enc=enc, prompts=prompts, sft=sft, rm=rm, device=device, seed=cfg.seed, rm_scale=rm_scale,
               max_new_tokens=cfg.max_new_tokens, rm_labels=extra.get("labels", extra.get("n_train", "")))
    # what a run must have been trained from to be reused (train), and what a stored point must have been measured
    # with: the same weights, training data, judge, prompts, sampling
    ctx["inputs"] = dict(sft=fingerprint(checkpoint_file(cfg.sft)),
                         reward_model=fingerprint(checkpoint_file(cfg.reward_model)),
                         data=fingerprint(data_dir / "meta.json"))  # the world's seed and sizes
    world_code = sorted(Path(data.tinyworld.__file__).parent.glob("*.py"))  # the judge and the reader it uses
    measuring = dict(**ctx["inputs"], judge=fingerprint(*world_code),
                     prompts=fingerprint(data_dir / f"prompts_{cfg.split}.jsonl"), split=cfg.split,
                     n_prompts=len(prompts), seed=cfg.seed, max_new_tokens=cfg.max_new_tokens, rm_scale=rm_scale)
    print(f"{len(prompts)} {cfg.split} prompts ({sum(map(bool, map(parse_problem, prompts)))} word problems); "
          f"results in {out}")

    # ------------------------------------------------------------------------------------------------------
    # best-of-n from the SFT model's samples, then one trained policy per setting, each measured alike
    rows, settings = [], []
    if "bon" in methods:
        t0 = time.time()
        settings.append({**measuring, "max_n": cfg.max_n})
        rows += cached(out / "points" / "best_of_n.json", settings[-1], lambda: measure_best_of_n(ctx, cfg.max_n))
        print(f"  best-of-n up to {cfg.max_n}: {time.time() - t0:.0f}s")
    for method, setting, stage, run_argv in sweep_runs(cfg, methods):
        name = f"{method}_{setting:g}"
        settings.append({**measuring, "argv": run_argv})
        rows += cached(out / "points" / f"{name}.json", settings[-1],
                       lambda: train_and_measure(method, setting, stage, run_argv, out / "runs" / name, ctx))
    return rows, settings


def draw(rows, settings, out):
    """results.csv, frontier.png and proxy_vs_gold.png in out, and the table on the screen -> the rows in the
    order of the CSV."""
    out.mkdir(parents=True, exist_ok=True)
    order = list(STYLE)  # best-of-n first, then PPO and DPO; a method not in STYLE last
    rows = sorted(rows, key=lambda r: (order.index(r["method"]) if r["method"] in order else len(order),
                                       r["method"], r["setting"]))
    write_csv(rows, out / "results.csv")
    measured = {json.dumps({k: s.get(k) for k in ("sft", "reward_model", "split", "n_prompts", "seed")})
                for s in settings}
    if len(measured) > 1:
        print(f"warning: these points were measured with {len(measured)} different checkpoints or prompt sets")
    s = settings[0]
    note = (f"{s['n_prompts']} {s['split']} prompts, replies sampled at temperature 1 (seed {s['seed']}); one "
            f"training run per point; bars: 95% intervals over prompts")
    plot_frontier(rows, out / "frontier.png", note)
    ppo_logs = [(r["setting"], read_log(out / "runs" / r["run"] / "log.jsonl")) for r in rows
                if r["method"] == "ppo" and (out / "runs" / r["run"] / "log.jsonl").exists()]
    plot_proxy_vs_gold(rows, out / "proxy_vs_gold.png", note, ppo_logs, s["rm_scale"])
    for r in rows:
        right = r.get("solved", "")  # '' where no word problem was among the prompts
        print(f"  {r['method']:20s} {r['setting']:>6g}  KL {r['kl']:6.2f}  gold {r['gold_mean']:+.3f} "
              f"± {r['gold_ci95']:.3f}  RM {r['rm_mean']:+.3f} ± {r['rm_ci95']:.3f}  "
              f"solved {'-' if right == '' else format(right, '.3f')}  labels {r['labels']}")
    return rows


if __name__ == "__main__":
    run(main)
