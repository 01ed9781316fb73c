"""frontier.py: best-of-n's KL against brute force (exact in the continuous limit, a bound with ties and for the
labeller's noisy choice), the best-of-n choices on stub scores, the RM score of a reply, the verifier's column,
the sweep's bookkeeping on a tiny run (results.csv, nested best-of-n, every method's run, reuse of measured points,
--redraw, a stopped run resumed)."""
import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch

import frontier


def brute_force_kl(p, n, choose):
    """KL(chosen || p) where chosen is what choose(draws) -> {index in draws: probability} returns from n
    independent draws of p, by enumerating every tuple of n draws."""
    p = np.asarray(p, dtype=float)
    q = np.zeros_like(p)
    for draws in itertools.product(range(len(p)), repeat=n):
        weight = np.prod(p[list(draws)])
        for i, prob in choose(draws).items():
            q[draws[i]] += weight * prob
    assert q.sum() == pytest.approx(1.0)
    kept = q > 0
    return float((q[kept] * np.log(q[kept] / p[kept])).sum())


def by_best_of_n(scores):
    """best-of-n by a score of each outcome, through frontier.best_of_n (one prompt, its draws in a row)."""
    return lambda draws: {int(frontier.best_of_n(np.array([[scores[d] for d in draws]]), len(draws))[0]): 1.0}


def test_best_of_n_kl_values():
    assert frontier.best_of_n_kl(1) == 0.0
    assert frontier.best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    assert frontier.best_of_n_kl(64) == pytest.approx(math.log(64) - 63 / 64)
    with pytest.raises(ValueError):
        frontier.best_of_n_kl(0)


@pytest.mark.parametrize("n", [2, 3])
def test_kl_formula_is_exact_in_the_continuous_limit(n):
    """K equally likely outcomes, all scores different: as K grows the brute-force KL rises to the formula."""
    gaps = []
    for K in (4, 16, 48):
        scores = np.random.default_rng(K).permutation(K)  # distinct scores, in no particular order
        gaps.append(frontier.best_of_n_kl(n) - brute_force_kl(np.full(K, 1 / K), n, by_best_of_n(scores)))
    assert all(g > 0 for g in gaps)  # a finite distribution stays under it ...
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 5e-4  # ... and reaches it as the outcomes get finer


@pytest.mark.parametrize("n", [2, 3, 4])
def test_kl_formula_is_an_upper_bound_with_ties(n):
    p = [0.1, 0.3, 0.25, 0.2, 0.15]
    tied = [1.0, 1.0, 0.0, 2.0, 2.0]  # two pairs of outcomes share a score (like repeated replies)
    distinct = [1.0, 1.5, 0.0, 2.0, 2.5]
    kl_tied = brute_force_kl(p, n, by_best_of_n(tied))
    kl_distinct = brute_force_kl(p, n, by_best_of_n(distinct))
    assert 0 < kl_tied < kl_distinct < frontier.best_of_n_kl(n) - 1e-3  # ties lower it further


def test_kl_formula_bounds_the_labellers_noisy_choice():
    """The labeller keeps the first draw and compares it with each next one (frontier.labeller_best_of_n); every
    path of its noisy verdicts is enumerated with its probability."""
    from data.tinyworld import preference_probability
    p = [0.1, 0.3, 0.25, 0.2, 0.15]
    gold = [1.0, 1.5, 0.0, 2.0, 2.5]
    n = 3

    tau = None

    def labeller(draws):
        chosen = {0: 1.0}  # probability that each draw is the one kept so far
        for j in range(1, len(draws)):
            after = {}
            for i, prob in chosen.items():
                stay = preference_probability(gold[draws[i]], gold[draws[j]], tau)
                after[i] = after.get(i, 0.0) + prob * stay
                after[j] = after.get(j, 0.0) + prob * (1 - stay)
            chosen = after
        return chosen

    for tau in (0.3, 1.0, 3.0):
        assert 0 < brute_force_kl(p, n, labeller) < frontier.best_of_n_kl(n)
    tau = 1e-4  # a labeller without noise chooses as best-of-n by gold does
    assert brute_force_kl(p, n, labeller) == pytest.approx(brute_force_kl(p, n, by_best_of_n(gold)), abs=1e-9)


def test_best_of_n_on_stub_scores():
    scores = np.array([[0.1, 0.5, 0.3, 0.9],
                       [2.0, 1.0, 2.0, 2.0],  # ties: the first of the best
                       [-1.0, -3.0, -0.5, -2.0]])
    assert frontier.best_of_n(scores, 1).tolist() == [0, 0, 0]
    assert frontier.best_of_n(scores, 2).tolist() == [1, 0, 0]
    assert frontier.best_of_n(scores, 3).tolist() == [1, 0, 2]
    assert frontier.best_of_n(scores, 4).tolist() == [3, 0, 2]
    rng = np.random.default_rng(0)
    random_scores = rng.normal(size=(50, 16))
    for n in range(1, 17):  # the best of the first n: its score is the prefix maximum
        chosen = frontier.best_of_n(random_scores, n)
        assert np.array_equal(random_scores[np.arange(50), chosen], random_scores[:, :n].max(axis=1))


def test_labeller_best_of_n_on_stub_scores():
    gold = np.random.default_rng(1).integers(0, 4, size=(20, 8)).astype(float)  # many ties
    calls = []

    def sure(a, b):  # a labeller without noise that keeps the earlier reply on a tie
        calls.append((a, b))
        return a >= b

    kept = frontier.labeller_best_of_n(gold, sure)
    for n in range(1, 9):
        assert np.array_equal(kept[:, n - 1], frontier.best_of_n(gold, n))
    assert len(calls) == 20 * 7  # n - 1 labels a prompt for the best of n
    always_new = frontier.labeller_best_of_n(gold, lambda a, b: False)
    assert (always_new == np.arange(8)).all()


def test_rm_scores_read_the_end_token_and_whiten(tiny_enc, tiny_config):
    from model import GPT, ScalarGPT
    from ppo import NO_END_SCORE
    from replies import generate_replies
    torch.manual_seed(0)
    policy, rm = GPT(tiny_config).eval(), ScalarGPT(tiny_config).eval()
    replies = generate_replies(policy, tiny_enc, ["What is 2 plus 3?", "Hello!", "Tell me a story about Mia."],
                               max_new_tokens=12, seed=3)
    scores = frontier.rm_scores(rm, tiny_enc, replies, 0.5, 2.0, batch_size=2)
    for r, s in zip(replies, scores):
        alone = rm(torch.tensor([r.prompt_ids + r.reply_ids]))[0, -1].item()  # the reply on its own, no padding
        assert s == pytest.approx((alone - 0.5) / 2.0 if r.finished else NO_END_SCORE, abs=1e-5)


PROBLEM = "Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?"  # 5


def _reply(prompt, text, stop="end"):
    from replies import Reply
    return Reply(prompt=prompt, prompt_ids=[], reply_ids=[], logprobs=[], mask=[], stop=stop, text=text)


def test_the_solved_column_counts_only_word_problems():
    replies = [_reply(PROBLEM, "3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites."),
               _reply(PROBLEM, "Mia has 6 kites."),
               _reply(PROBLEM, "3 plus 4 is 7. 7 minus 2 is 5.", stop="length"),  # right, but never ended
               _reply("What is 2 plus 3?", "5")]  # not a word problem: no verdict
    right = frontier.verdicts(replies)
    assert right[:3].tolist() == [1.0, 0.0, 0.0] and math.isnan(right[3])
    row = frontier.point("x", 1, [0.0] * 4, [0.0] * 4, 0.0, 0, right)
    assert row["solved"] == pytest.approx(1 / 3) and row["n_problems"] == 3 and row["n_prompts"] == 4
    row = frontier.point("x", 1, [0.0], [0.0], 0.0, 0, right[3:])
    assert row["solved"] == "" and row["n_problems"] == 0


def test_mean_ci95():
    from evaluate import mean_ci95
    mean, half = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(1.96 * np.std([1, 2, 3, 4], ddof=1) / 2)


def _tiny_sweep(tiny_world, tiny_ckpts, out, *extra):
    return ["--data_dir", str(tiny_world), "--sft", str(tiny_ckpts / "sft"), "--reward_model", str(tiny_ckpts / "rm"),
            "--out_dir", str(out), "--n_prompts", "9", "--max_new_tokens", "8", "--max_n", "4",
            "--ppo_kl_coefs", "0.05", "--ppo_iters", "1",
            "--ppo_args", "--batch_size 4 --minibatch_size 2 --ppo_epochs 1 --max_new_tokens 8",
            "--dpo_betas", "0.5", "--dpo_rpo_alphas", "1", "--dpo_steps", "2", "--dpo_pairs", "8",
            "--dpo_args", "--batch_size 4 --rounds 1 --max_new_tokens 8",
            "--grpo_kl_coefs", "0.04", "--grpo_iters", "1",
            "--grpo_args", "--prompts_per_iter 2 --group_size 2 --minibatch_size 4 --max_new_tokens 8 --n_test_problems 2",
            *extra]


def test_tiny_sweep_bookkeeping_reuse_and_redraw(tiny_world, tiny_ckpts, tmp_path, monkeypatch):
    out = tmp_path / "frontier"
    frontier.main(_tiny_sweep(tiny_world, tiny_ckpts, out))
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert set(frontier.COLUMNS) <= set(rows[0])
    by = {(r["method"], float(r["setting"])): r for r in rows}
    assert set(by) == {(m, n) for m in ("best_of_n", "best_of_n_labeller", "best_of_n_gold") for n in (1, 2, 4)} \
        | {("ppo", 0.05), ("dpo_rpo1", 0.5), ("grpo", 0.04)}
    assert all(r["n_prompts"] == "9" for r in rows)
    # the 9th test prompt of the tiny world is its one word problem: every point has the verifier's verdict on it
    assert all(r["n_problems"] == "1" and float(r["solved"]) in (0.0, 1.0) for r in rows)
    for n in (1, 2, 4):
        assert float(by[("best_of_n", n)]["kl"]) == pytest.approx(frontier.best_of_n_kl(n), abs=1e-4)
        assert by[("best_of_n_labeller", n)]["labels"] == str((n - 1) * 9)
    assert by[("grpo", 0.04)]["labels"] == "0"  # the verifier, no preference label
    # n = 1 is the SFT model's first reply whoever chooses
    assert len({(by[(m, 1)]["gold_mean"], by[(m, 1)]["rm_mean"]) for m in
                ("best_of_n", "best_of_n_labeller", "best_of_n_gold")}) == 1
    # nested samples: the best of more replies never scores lower on the score that chooses
    for method, key in (("best_of_n", "rm_mean"), ("best_of_n_gold", "gold_mean")):
        values = [float(by[(method, n)][key]) for n in (1, 2, 4)]
        assert values == sorted(values)
    for n in (1, 2, 4):  # the gold judge's choice is the best gold can be
        assert float(by[("best_of_n_gold", n)]["gold_mean"]) >= float(by[("best_of_n", n)]["gold_mean"]) - 1e-9
    for name in ("ppo_0.05", "dpo_rpo1_0.5", "grpo_0.04"):  # each trained policy in its run folder, with its log
        assert (out / "runs" / name / "ckpt.pt").exists() and (out / "runs" / name / "log.jsonl").exists()
        assert math.isfinite(float(by[(name.rsplit("_", 1)[0], float(name.rsplit("_", 1)[1]))]["kl"]))
    assert (out / "frontier.png").exists() and (out / "proxy_vs_gold.png").exists()

    # run again: every point is there, measured with the same checkpoints and settings, so nothing runs
    def refuse(*args, **kwargs):
        raise AssertionError("a measured point was run again")
    measure_policy = frontier.measure_policy
    monkeypatch.setattr(frontier.ppo, "main", refuse)
    monkeypatch.setattr(frontier.dpo, "main", refuse)
    monkeypatch.setattr(frontier.grpo, "main", refuse)
    monkeypatch.setattr(frontier, "measure_best_of_n", refuse)
    monkeypatch.setattr(frontier, "measure_policy", refuse)
    before = (out / "results.csv").read_text()
    frontier.main(_tiny_sweep(tiny_world, tiny_ckpts, out))
    assert (out / "results.csv").read_text() == before

    # a point lost after its run finished (say, an interrupt while measuring): measured again, not trained again
    (out / "points" / "ppo_0.05.json").unlink()
    monkeypatch.setattr(frontier, "measure_policy", measure_policy)
    frontier.main(_tiny_sweep(tiny_world, tiny_ckpts, out))
    assert (out / "results.csv").read_text() == before  # the same policy, prompts and seed: the same numbers

    # --redraw loads no model: the checkpoints may be gone
    for f in ("results.csv", "frontier.png", "proxy_vs_gold.png"):
        (out / f).unlink()
    frontier.main(["--out_dir", str(out), "--redraw", "--sft", str(tmp_path / "gone"), "--reward_model",
                   str(tmp_path / "gone")])
    assert (out / "results.csv").read_text() == before
    assert (out / "frontier.png").exists() and (out / "proxy_vs_gold.png").exists()

    # another measuring seed is another measurement: best-of-n is measured again
    calls = []
    monkeypatch.setattr(frontier, "measure_best_of_n", lambda ctx, max_n: calls.append(ctx["seed"]) or [])
    frontier.main(_tiny_sweep(tiny_world, tiny_ckpts, out, "--methods", "bon", "--seed", "1"))
    assert calls == [1]
    stored = json.loads((out / "points" / "best_of_n.json").read_text())
    assert stored["settings"]["seed"] == 1


class StopAfterFirstStep:
    """A stand-in for training.StopRequest, as if Ctrl-C came during the first step."""
    requested = "SIGINT"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_stopped_run_is_resumed(tiny_world, tiny_ckpts, tmp_path, monkeypatch, capsys):
    out = tmp_path / "frontier"
    argv = _tiny_sweep(tiny_world, tiny_ckpts, out, "--methods", "ppo", "--ppo_iters", "2")
    with monkeypatch.context() as m:
        m.setattr(frontier.ppo, "StopRequest", StopAfterFirstStep)
        with pytest.raises(SystemExit) as stopped:
            frontier.main(argv)
    assert stopped.value.code == 130 and not (out / "points" / "ppo_0.05.json").exists()
    assert "`python frontier.py` with the same options goes on" in capsys.readouterr().out  # on the screen
    run_dir = out / "runs" / "ppo_0.05"
    assert [r["step"] for r in frontier.read_log(run_dir / "log.jsonl")] == [1]
    frontier.main(argv)  # goes on from the saved step with ppo.py --resume
    assert [r["step"] for r in frontier.read_log(run_dir / "log.jsonl")] == [1, 2]
    assert not (run_dir / "previous").exists()  # continued in place: no run was moved aside and started anew
    assert (out / "points" / "ppo_0.05.json").exists()


def test_redraw_without_points_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to redraw"):
        frontier.main(["--out_dir", str(tmp_path), "--redraw"])


@pytest.mark.parametrize("argv, message", [(["--methods", "bon,rlhf"], "--methods: unknown"),
                                           (["--methods", ","], "--methods"),
                                           (["--max_n", "48"], "--max_n must be a power of 2"),
                                           (["--grpo_iters", "0"], "--grpo_iters"),
                                           (["--split", "train"], "--split")])
def test_bad_options_are_refused_before_any_work(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        frontier.main(["--out_dir", str(tmp_path / "frontier"), "--sft", str(tmp_path / "none"), *argv])
    assert not (tmp_path / "frontier").exists()


def test_a_run_from_other_weights_at_the_same_path_is_trained_again(tiny_world, tiny_ckpts, tiny_config, tiny_enc,
                                                                    tmp_path):
    """The options name the SFT checkpoint by its path: when other weights are saved there (the pipeline run again),
    the sweep's run of the old weights is moved aside and a new one trained, not reused."""
    from model import GPT, save_checkpoint
    sft = tmp_path / "sft"
    torch.manual_seed(1)
    save_checkpoint(sft, GPT(tiny_config), stage="sft", tokenizer=tiny_enc.name)
    out = tmp_path / "frontier"
    argv = _tiny_sweep(tiny_world, tiny_ckpts, out, "--methods", "ppo", "--sft", str(sft), "--n_prompts", "3")
    frontier.main(argv)
    run_dir = out / "runs" / "ppo_0.05"
    first = (run_dir / "inputs.json").read_text()
    frontier.main(argv)  # the same weights: nothing trained again
    assert not (run_dir / "previous").exists()
    torch.manual_seed(2)
    save_checkpoint(sft, GPT(tiny_config), stage="sft", tokenizer=tiny_enc.name)
    frontier.main(argv)
    assert (run_dir / "previous" / "run-1" / "ckpt.pt").exists()  # the old run kept aside, a new one trained
    assert (run_dir / "inputs.json").read_text() != first
    stored = json.loads((out / "points" / "ppo_0.05.json").read_text())
    assert stored["settings"]["sft"] == json.loads((run_dir / "inputs.json").read_text())["sft"]
