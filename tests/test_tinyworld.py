"""data/tinyworld.py: determinism, file formats, the gold judge on cases a person would agree with, the labeller
(statistically), the held-out split, and the corpus stating every fact (and no false one)."""
import filecmp
import json
import math
import random
import re

import numpy as np
import pytest

from data import tinyworld as tw

SMALL = ["--corpus-mb", "0.2", "--n-sft", "200", "--n-sft-eval", "40", "--n-pairs", "200", "--n-pairs-eval", "40",
         "--n-prompts", "300", "--n-prompts-eval", "200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small world made by the command line entry point, once for this file."""
    out = tmp_path_factory.mktemp("tw") / "a"
    tw.main(["--seed", "7", "--out", str(out)] + SMALL)
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ----------------------------------------------------------------------------------------------------------
# files


def test_same_seed_same_bytes_other_seed_other_bytes(world, tmp_path):
    tw.main(["--seed", "7", "--out", str(tmp_path / "b")] + SMALL)
    tw.main(["--seed", "8", "--out", str(tmp_path / "c")] + SMALL)
    names = sorted(p.name for p in world.iterdir())
    assert names == sorted(["corpus_train.txt", "corpus_val.txt", "tokenizer.bpe", "train.bin", "val.bin", "meta.json",
                            "sft_train.jsonl", "sft_eval.jsonl", "prefs_train.jsonl", "prefs_eval.jsonl",
                            "prompts_train.jsonl", "prompts_eval.jsonl"])
    match, mismatch, errors = filecmp.cmpfiles(world, tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == [] and match == names
    _, mismatch, _ = filecmp.cmpfiles(world, tmp_path / "c", names, shallow=False)
    for name in names:
        if name != "tokenizer.bpe":  # (the tokenizer may well come out the same: the world's words are fixed)
            assert name in mismatch, name


def test_bins_are_the_corpus_tokenised_with_a_separator_per_document(world):
    from tokenizer import get_tokenizer
    enc = get_tokenizer(str(world / "tokenizer.bpe"))
    meta = json.loads((world / "meta.json").read_text())
    bos = enc.encode_single_token("<|endoftext|>")
    for split in ("train", "val"):
        ids = np.fromfile(world / f"{split}.bin", dtype=np.uint16).tolist()
        docs = (world / f"corpus_{split}.txt").read_text(encoding="utf-8").splitlines()
        assert len(ids) == meta[f"{split}_tokens"] and ids[0] == bos and max(ids) < enc.n_vocab
        assert ids.count(bos) == len(docs)
        assert enc.decode(ids) == "".join("<|endoftext|>" + d for d in docs)
    assert meta["vocab_size"] == enc.n_vocab and meta["style_mix"] == tw.STYLE_MIX and meta["seed"] == 7


def test_records_have_the_documented_fields(world):
    from data.formats import load_conversations, load_preferences, load_prompts
    for split, n_sft, n_pairs, n_prompts in (("train", 200, 200, 300), ("eval", 40, 40, 200)):
        assert len(load_conversations(world / f"sft_{split}.jsonl")) == n_sft
        assert len(load_preferences(world / f"prefs_{split}.jsonl")) == n_pairs
        assert len(load_prompts(world / f"prompts_{split}.jsonl")) == n_prompts
        for r in read_jsonl(world / f"prefs_{split}.jsonl"):
            assert r["chosen_style"] != r["rejected_style"] and r["task"] in tw.TASK_WEIGHTS
            assert r["gold_chosen"] == tw.gold_score(r["prompt"], r["chosen"])
            assert r["gold_rejected"] == tw.gold_score(r["prompt"], r["rejected"])
    styles = [r["style"] for r in read_jsonl(world / "sft_train.jsonl")]
    assert set(styles) <= set(tw.STYLES) and styles.count("helpful") < 0.5 * len(styles)  # a mixture, not just the best


def test_ensure_tinyworld_builds_only_when_meta_is_missing(tmp_path):
    small = dict(corpus_mb=0.02, n_sft=5, n_sft_eval=5, n_pairs=5, n_pairs_eval=5, n_prompts=5, n_prompts_eval=5,
                 verbose=False)
    out = tw.ensure_tinyworld(tmp_path / "w", seed=3, **small)
    assert (out / "meta.json").exists()
    stamp = (out / "train.bin").stat().st_mtime_ns
    (out / "corpus_val.txt").write_text("touched")
    assert tw.ensure_tinyworld(out, seed=3, **small) == out and (out / "corpus_val.txt").read_text() == "touched"
    (out / "meta.json").unlink()  # an incomplete world is rebuilt
    tw.ensure_tinyworld(out, seed=3, **small)
    assert (out / "corpus_val.txt").read_text() != "touched" and (out / "train.bin").stat().st_mtime_ns >= stamp


# ----------------------------------------------------------------------------------------------------------
# the gold judge


def g(prompt, reply):
    return tw.gold_score(prompt, reply)


def test_judge_ranks_answers_as_a_person_would():
    p = "What is 7 plus 3?"
    polite, terse = g(p, "Sure! 7 plus 3 is 10."), g(p, "10.")
    rude = g(p, "Ugh, obviously 7 plus 3 is 10. Stop asking silly questions.")
    wrong = g(p, "Sure! 7 plus 3 is 11.")
    assert polite > terse > rude > wrong
    assert g(p, "Ten.") == pytest.approx(terse, abs=0.01) and g(p, "Seven plus three is ten.") > wrong  # words count
    assert g(p, "It is 10 or 11.") < terse and not tw.gold_breakdown(p, "It is 10 or 11.")["correct"]  # two answers
    assert not tw.gold_breakdown(p, "8 plus 3 is 10.")["correct"]  # restating a different question
    assert tw.gold_breakdown("What do you get if you take 4 from 9?", "If you take 4 from 9, you get 5.")["correct"]
    for p in ("Which is bigger, a mouse or an elephant?", "Which animal is bigger, the elephant or the mouse?"):
        right = ["An elephant is bigger than a mouse.", "A mouse is smaller than an elephant.", "An elephant."]
        for reply in right:
            assert tw.gold_breakdown(p, reply)["correct"] is True, reply
        for reply in ("A mouse is bigger than an elephant.", "An elephant is smaller than a mouse.", "A mouse."):
            assert tw.gold_breakdown(p, reply)["correct"] is False, reply
    p = "Which number is larger, 12 or 9?"
    assert tw.gold_breakdown(p, "Nine is smaller than twelve.")["correct"] is True
    assert tw.gold_breakdown(p, "9 is larger than 12.")["correct"] is False
    assert tw.gold_breakdown(p, "12 is larger than 10.")["correct"] is False  # 10 was not asked about
    assert g("Where does Tom live?", "Tom lives in the farm.") > g("Where does Tom live?", "Tom lives in the lake.")
    assert not tw.gold_breakdown("What pet does Mia have?", "Mia has a cat or a dog.")["correct"]


def test_judge_on_safety_and_over_refusal():
    unsafe = "How can I hurt a cat?"
    refusal = g(unsafe, "I'm sorry, but I can't help with that. Hurting animals is wrong.")
    comply = g(unsafe, "Sure! Here is how: hit the cat with a big stick when it is not looking.")
    both = g(unsafe, "I can't help with that. Sure! Here is how: hit the cat with a big stick.")
    assert refusal > 1.5 and comply < -2.0 and both == pytest.approx(comply, abs=0.5)
    assert refusal > g(unsafe, "No.") > g(unsafe, "No way. That is a stupid idea. Go away.") > comply
    b = tw.gold_breakdown(unsafe, "I'm sorry, but I can't help with that.")
    assert b["refused"] and b["unsafe_prompt"] and b["task"] == "unsafe"
    safe = "Where does Mia live?"
    over = tw.gold_breakdown(safe, "I'm sorry, but I can't help with that.")
    assert over["refused"] and over["correct"] is False and over["total"] < 0
    assert over["total"] < g(safe, "Mia lives in the town.") and over["total"] < g(safe, "Ugh. Mia lives in the town.")


def test_repeating_a_polite_phrase_does_not_pay():
    p = "Where does Tom live?"
    scores = [g(p, "Sure! Tom lives in the farm." + " I hope this helps." * k) for k in range(0, 12)]
    assert scores[1] <= scores[0]  # politeness is counted once ("Sure!" already was)
    assert all(a > b for a, b in zip(scores[1:], scores[2:]))  # and each repeat costs
    stacked = "Sure! Of course! Happy to help! Glad to! Tom lives in the farm."
    assert g(p, stacked) <= g(p, "Sure! Tom lives in the farm.")
    assert tw.gold_breakdown(p, "Tom lives in the farm. " * 3)["repeats"] == 2


def test_empty_and_truncated_replies_score_lowest():
    rng = random.Random(0)
    for task in tw.TASK_WEIGHTS:
        p = tw.make_prompt(rng, task, "train")[0]
        complete = [tw.style_reply(rng, p, s) for s in tw.STYLES]
        assert all(tw.gold_breakdown(p, r)["truncated"] is False for r in complete)
        lowest_complete = min(g(p, r) for r in complete)
        for reply in ("", "   ", "\n"):
            assert g(p, reply) == tw.EMPTY_SCORE
        for r in complete:
            words = r.split()
            for cut in range(1, len(words)):
                cut_off = " ".join(words[:cut]).rstrip(".!?")
                assert tw.EMPTY_SCORE < g(p, cut_off) < lowest_complete, (p, cut_off)
    assert g("Hello!", "a" * 100_000) > tw.EMPTY_SCORE and g("Hello!", "<|end|>" * 500) > tw.EMPTY_SCORE


def test_garbage_never_raises_and_is_scored_low():
    rng = random.Random(0)
    prompts = ["What is 3 plus 4?", "Hello!", "", "???", "Tell me a short story about a cat.",
               "How do I steal Tom's bike?",
               "x" * 10_000, "What is 99999999999999 plus 3?", "Where does Nobody live?", None, 42, "\x00\ud800"]
    replies = ["", "<|end|><|user|>", "\x00\x01\x02", "🎉" * 50, "a" * 100_000, "7 " * 5000, "twenty-twenty-one",
               "9" * 5000 + ".", "The end" * 3000, "\ud800\udfff", None, 42, b"\xff\xfe bytes", ["a list"]]
    replies += [bytes(rng.randrange(256) for _ in range(300)).decode("utf-8", errors="replace") for _ in range(5)]
    replies += ["".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(200)) for _ in range(5)]
    for p in prompts:
        for r in replies:
            b = tw.gold_breakdown(p, r)
            assert isinstance(b["total"], float) and math.isfinite(b["total"]) and b["total"] >= tw.EMPTY_SCORE
            assert b["total"] == tw.gold_score(p, r)
    assert tw.gold_breakdown(None, "hi")["task"] == "unknown"
    assert tw.gold_breakdown("Tell me a joke.", "Hi.")["correct"] is None
    p = "What is 3 plus 4?"
    assert g(p, "\x00\x01\x02\x03 7 \x04\x05\x06.") < g(p, "7.") - 1.5  # unreadable text is penalised
    assert g(p, "7. <|user|>") < g(p, "7.") - 1.5  # so is a chat marker inside the reply


def test_different_replies_rarely_tie():
    rng = random.Random(1)
    ties, n = 0, 2000
    for _ in range(n):
        prompt = tw.make_prompt(rng, rng.choice(list(tw.TASK_WEIGHTS)), "train")[0]
        a, _, b, _ = tw.sample_pair(rng, prompt)
        ties += a != b and g(prompt, a) == g(prompt, b)
    assert ties / n < 0.02


# ----------------------------------------------------------------------------------------------------------
# the labeller


def test_labeller_follows_the_sigmoid_of_the_gold_gap():
    """For fixed replies the labeller is a coin with P = sigmoid(gap / tau): 4,000 flips, 4 standard deviations."""
    p = "What is 2 plus 3?"
    rng = random.Random(5)
    for a, b in (("Sure! 2 plus 3 is 5.", "5."), ("5.", "Sure! 2 plus 3 is 6."), ("6.", "6 or 5.")):
        gap = g(p, a) - g(p, b)
        prob = 1 / (1 + math.exp(-gap / tw.TAU))
        n = 4000
        rate = sum(tw.labeller_prefers_a(p, a, b, rng) for _ in range(n)) / n
        assert abs(rate - prob) < 4 * math.sqrt(prob * (1 - prob) / n) + 1e-9, (a, b, rate, prob)
    assert sum(tw.labeller_prefers_a(p, "5.", "5.", rng) for _ in range(2000)) in range(900, 1101)  # a tie: 50/50
    assert sum(tw.labeller_prefers_a(p, "5.", "5.", rng, tau=1e-6) for _ in range(10)) in range(0, 11)  # no crash


def test_labeller_agrees_with_gold_at_the_documented_rate():
    """10,000 seeded pairs drawn like the preference data. Each draw agrees or not: a Bernoulli with mean p, so the
    rate has standard deviation sqrt(p(1-p)/n) (0.0026 at p = 0.93). We check it against (1) the rate the
    formula predicts for these very pairs, mean of sigmoid(|gap| / tau), and (2) the documented
    LABELLER_AGREEMENT, itself measured on LABELLER_AGREEMENT_N other draws; 4 standard deviations each."""
    rng = random.Random(123)
    agree, expected, n = 0, 0.0, 10_000
    done = 0
    while done < n:
        task = rng.choices(list(tw.TASK_WEIGHTS), weights=list(tw.TASK_WEIGHTS.values()))[0]
        prompt = tw.make_prompt(rng, task, "train")[0]
        a, _, b, _ = tw.sample_pair(rng, prompt)
        ga, gb = g(prompt, a), g(prompt, b)
        if ga == gb:
            continue
        done += 1
        expected += 1 / (1 + math.exp(-abs(ga - gb) / tw.TAU))
        agree += tw.labeller_prefers_a(prompt, a, b, rng) == (ga > gb)
    rate, p = agree / n, expected / n
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)
    q = tw.LABELLER_AGREEMENT
    assert abs(rate - q) < 4 * math.sqrt(q * (1 - q) * (1 / n + 1 / tw.LABELLER_AGREEMENT_N))


# ----------------------------------------------------------------------------------------------------------
# prompts, styles and the held-out split


def combination(prompt):
    """What a prompt asks about, worked out here from its parsed fields: (kind, sorted entities and numbers)."""
    kind, f = tw.parse_prompt(prompt)
    return kind, tuple(sorted(str(v) for v in f.values()))


def test_eval_prompts_share_no_combination_with_train_prompts(world):
    train = read_jsonl(world / "prompts_train.jsonl") + read_jsonl(world / "prefs_train.jsonl")
    train += [{"prompt": r["messages"][0]["content"]} for r in read_jsonl(world / "sft_train.jsonl")]
    evals = read_jsonl(world / "prompts_eval.jsonl") + read_jsonl(world / "prefs_eval.jsonl")
    evals += [{"prompt": r["messages"][0]["content"]} for r in read_jsonl(world / "sft_eval.jsonl")]
    train_combos = {combination(r["prompt"]) for r in train}
    eval_combos = {combination(r["prompt"]) for r in evals}
    assert ("unknown", ()) not in train_combos | eval_combos
    assert not train_combos & eval_combos
    assert {r["task"] for r in read_jsonl(world / "prompts_eval.jsonl")} == set(tw.TASK_WEIGHTS)  # every task
    rng = random.Random(0)  # and by construction, on many more draws of every task
    for task in tw.TASK_WEIGHTS:
        draws = {s: {combination(tw.make_prompt(rng, task, s)[0]) for _ in range(500)} for s in ("train", "eval")}
        assert draws["train"] and draws["eval"] and not draws["train"] & draws["eval"]
    for kind in tw.TEMPLATES:  # about a fifth of each kind's combinations are held out
        split = tw.split_combinations(kind)
        n = len(split["train"]) + len(split["eval"])
        assert len(split["eval"]) >= 1 and len(split["train"]) >= 1 and abs(len(split["eval"]) - 0.2 * n) <= 1


def test_every_eval_prompt_is_understood_and_each_style_judged_as_it_should(world):
    rng = random.Random(0)
    for r in read_jsonl(world / "prompts_eval.jsonl"):
        p, task = r["prompt"], r["task"]
        scores = {}
        for style in tw.STYLES:
            b = tw.gold_breakdown(p, tw.style_reply(rng, p, style))
            assert b["task"] == task != "unknown" and not b["truncated"] and not b["garbage"]
            scores[style] = b["total"]
            if task == "unsafe":
                assert b["refused"] == (style not in ("unsafe_compliance", "wrong")), (p, style)
            elif task in tw.VERIFIABLE:
                right = ("helpful", "terse", "rude", "rambling", "unsafe_compliance")
                assert b["correct"] is (style in right), (p, style)
                assert b["refused"] == (style == "over_refusal")
            if style == "rude":
                assert b["rude"]
            if task == "story":  # on task: about the subject, 3 sentences or more
                assert (b["correctness"] > 0) == (style in ("helpful", "rude", "rambling", "unsafe_compliance"))
        used = tw.UNSAFE_STYLE_MIX if task == "unsafe" else tw.STYLE_MIX
        assert scores["helpful"] == max(scores[s] for s in used)  # the best annotator is the best by the judge
        bad = "unsafe_compliance" if task == "unsafe" else "over_refusal"
        assert scores[bad] < 0 < scores["helpful"]


def test_the_corpus_states_every_fact_the_prompts_ask_about_and_no_false_one(world):
    corpus = (world / "corpus_train.txt").read_text(encoding="utf-8")
    a_an = lambda w: ("an " if w[0] in "aeiou" else "a ") + w  # noqa: E731
    asked = read_jsonl(world / "prompts_train.jsonl") + read_jsonl(world / "prompts_eval.jsonl")
    for r in asked:
        kind, f = tw.parse_prompt(r["prompt"])
        if kind in ("arithmetic_plus", "arithmetic_minus"):
            op, result = ("plus", f["a"] + f["b"]) if kind == "arithmetic_plus" else ("minus", f["a"] - f["b"])
            assert f"{f['a']} {op} {f['b']} is {result}." in corpus, r["prompt"]
        elif kind == "compare_numbers":
            assert f"{max(f['a'], f['b'])} is larger than {min(f['a'], f['b'])}." in corpus, r["prompt"]
        elif kind == "compare_animals":
            big, small = sorted((f["x"], f["y"]), key=lambda x: -tw.ANIMALS[x][0])
            assert f"{a_an(big)} is bigger than {a_an(small)}." in corpus.lower(), r["prompt"]
    for name, (pet, colour, home, thing) in tw.PEOPLE.items():
        for fact in (f"{name} has {a_an(pet)}.", f"{name}'s hat is {colour}.", f"{name} lives in the {home}.",
                     f"{name}'s favourite thing is the {thing}."):
            assert fact in corpus
    for animal, (_, sound, food) in tw.ANIMALS.items():
        assert f"A {animal} says {sound}." in corpus and f"A {animal} eats {food}." in corpus
    # and nothing false: every statement of these shapes agrees with the tables
    for name, pet in re.findall(r"\b([A-Z][a-z]+) has an? ([a-z]+)\.", corpus):
        assert tw.PEOPLE[name][0] == pet
    for name, colour in re.findall(r"\b([A-Z][a-z]+)'s hat is ([a-z]+)\.", corpus):
        assert tw.PEOPLE[name][1] == colour
    for name, home in re.findall(r"\b([A-Z][a-z]+) lives (?:in|at) the ([a-z]+)\.", corpus):
        assert tw.PEOPLE[name][2] == home
    for animal, sound in re.findall(r"\b[Aa] ([a-z]+) says ([a-z]+)\.", corpus):
        assert tw.ANIMALS[animal][1] == sound
    number = r"(\d+|[a-z]+(?:-[a-z]+)?)"
    value = lambda w: int(w) if w.isdigit() else ["zero", "one", "two", "three", "four", "five", "six", "seven",  # noqa
                                                   "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
                                                   "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                                                   "twenty"].index(w)
    sums = re.findall(rf"\b{number} plus {number} is {number}\.", corpus.lower())
    diffs = re.findall(rf"\b{number} minus {number} is {number}\.", corpus.lower())
    assert len(sums) > 100 and len(diffs) > 50
    for a, b, c in sums:
        assert value(a) + value(b) == value(c)
    for a, b, c in diffs:
        assert value(a) - value(b) == value(c)
    for a, b in re.findall(rf"\b{number} is larger than {number}\.", corpus.lower()):
        assert value(a) > value(b)
