"""data/tinyworld: the package's layering, determinism and file formats, the train/validation/test split, the
corpus (every fact stated, nothing false, every sentence readable), the labeller (statistically), and the
examples in the modules' docstrings. The judge's own specification is tests/test_judge.py."""
import ast
import doctest
import filecmp
import importlib
import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest

from data import tinyworld as tw
from data.tinyworld.__main__ import main
from data.tinyworld.facts import WORD_TO_NUMBER
from data.tinyworld.language import read_text, truth

MODULES = ["facts", "language", "corpus", "problems", "prompts", "styles", "tools", "judge", "labeller", "build",
           "__main__"]
SMALL = ["--corpus_mb", "0.2", "--n_sft", "200", "--n_sft_val", "40", "--n_pairs", "200", "--n_pairs_val", "40",
         "--n_prompts", "300", "--n_prompts_val", "200", "--n_prompts_test", "300", "--n_sft_tools", "100",
         "--n_sft_tools_val", "20"]
FILES = ["corpus_train.txt", "corpus_val.txt", "tokenizer.bpe", "train.bin", "val.bin", "meta.json",
         "sft_train.jsonl", "sft_train_direct.jsonl", "sft_val.jsonl", "prefs_train.jsonl", "prefs_val.jsonl",
         "prompts_train.jsonl", "prompts_val.jsonl", "prompts_test.jsonl", "sft_tools_train.jsonl",
         "sft_tools_val.jsonl"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small world made by the command line entry point, once for this file."""
    out = tmp_path_factory.mktemp("tw") / "a"
    main(["--seed", "7", "--out", str(out)] + SMALL)
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ----------------------------------------------------------------------------------------------------------
# the package


def test_each_module_imports_only_earlier_ones():
    """The modules read in order: facts -> language -> corpus -> problems -> prompts -> styles -> tools -> judge ->
    labeller -> build -> __main__; none imports a later one (or the package, which imports them all)."""
    root = Path(tw.__file__).parent
    for i, name in enumerate(MODULES):
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module in MODULES[:i], (name, node.module)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("data"):
                pytest.fail(f"{name} imports {node.module}")
        assert ast.get_docstring(tree), f"{name}.py has no docstring"
    for name in MODULES[:-1]:
        assert (root / f"{name}.py").exists()
    order = ast.get_docstring(ast.parse((root / "__init__.py").read_text()))
    positions = [order.find(f"{name}.py") for name in MODULES[:-1]]
    assert -1 not in positions and positions == sorted(positions)  # the package docstring gives the order


def test_the_examples_in_the_docstrings_hold():
    for name in MODULES[:-1] + ["__init__"]:
        module = importlib.import_module(f"data.tinyworld.{name}" if name != "__init__" else "data.tinyworld")
        failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failed == 0, name
    assert attempted >= 0


def test_public_names_are_re_exported():
    for name in ("gold_score", "gold_breakdown", "labeller_prefers_a", "generate", "ensure_tinyworld",
                 "parse_prompt", "answer_of", "make_prompt", "style_reply", "STYLES", "STYLE_MIX", "TAU",
                 "LABELLER_AGREEMENT", "read_text", "split_combinations"):
        assert hasattr(tw, name), name


# ----------------------------------------------------------------------------------------------------------
# files


def test_same_seed_same_bytes_other_seed_other_bytes(world, tmp_path):
    dashes = [a.replace("_", "-") if a.startswith("--") else a for a in SMALL]  # the same options, dash spellings
    main(["--seed", "7", "--out", str(tmp_path / "b")] + dashes)
    main(["--seed", "8", "--out", str(tmp_path / "c")] + SMALL)
    names = sorted(p.name for p in world.iterdir())
    assert names == sorted(FILES)
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
    for split, n_sft, n_pairs, n_prompts in (("train", 200, 200, 300), ("val", 40, 40, 200)):
        assert len(load_conversations(world / f"sft_{split}.jsonl")) == n_sft
        assert len(load_preferences(world / f"prefs_{split}.jsonl")) == n_pairs
        assert len(load_prompts(world / f"prompts_{split}.jsonl")) == n_prompts
        for r in read_jsonl(world / f"prefs_{split}.jsonl"):
            assert r["chosen_style"] != r["rejected_style"] and r["task"] in tw.TASK_WEIGHTS
            assert r["gold_chosen"] == tw.gold_score(r["prompt"], r["chosen"])
            assert r["gold_rejected"] == tw.gold_score(r["prompt"], r["rejected"])
    assert len(load_prompts(world / "prompts_test.jsonl")) == 300
    for r in read_jsonl(world / "prompts_test.jsonl"):
        assert set(r) == {"prompt", "task", "kind", "key"} and tw.parse_prompt(r["prompt"])[0] == r["kind"]
    styles = [r["style"] for r in read_jsonl(world / "sft_train.jsonl")]
    assert set(styles) <= set(tw.STYLES) and styles.count("helpful") < 0.5 * len(styles)  # a mixture, not just the best


def test_meta_records_the_splits_as_the_files_hold_them(world):
    meta = json.loads((world / "meta.json").read_text())
    for split in tw.SPLITS:
        rows = read_jsonl(world / f"prompts_{split}.jsonl")
        assert meta["splits"][split]["prompts"] == len(rows)
        assert meta["splits"][split]["distinct_prompts"] == len({r["prompt"] for r in rows})
        assert meta["splits"][split]["combinations"] == len({r["key"] for r in rows})
    assert meta["labeller_agreement"] == tw.LABELLER_AGREEMENT and meta["tau"] == tw.TAU
    styles = meta["gold_mean_by_style"]
    assert styles["helpful"] == max(styles.values()) and styles["unsafe_compliance"] == min(styles.values())


def test_ensure_tinyworld_builds_only_when_incomplete(tmp_path):
    small = dict(corpus_mb=0.02, n_sft=5, n_sft_val=5, n_pairs=5, n_pairs_val=5, n_prompts=5, n_prompts_val=5,
                 n_prompts_test=5, verbose=False)
    out = tw.ensure_tinyworld(tmp_path / "w", seed=3, **small)
    assert (out / "meta.json").exists()
    stamp = (out / "train.bin").stat().st_mtime_ns
    (out / "corpus_val.txt").write_text("touched")
    assert tw.ensure_tinyworld(out, seed=3, **small) == out and (out / "corpus_val.txt").read_text() == "touched"
    (out / "meta.json").unlink()  # an incomplete world is rebuilt
    tw.ensure_tinyworld(out, seed=3, **small)
    assert (out / "corpus_val.txt").read_text() != "touched" and (out / "train.bin").stat().st_mtime_ns >= stamp
    meta = json.loads((out / "meta.json").read_text())
    (out / "corpus_val.txt").write_text("touched")
    del meta["splits"]["test"]  # a world written before the validation/test split is rebuilt too
    (out / "meta.json").write_text(json.dumps(meta))
    tw.ensure_tinyworld(out, seed=3, **small)
    assert (out / "corpus_val.txt").read_text() != "touched"


# ----------------------------------------------------------------------------------------------------------
# the held-out splits


def combination(prompt):
    """What a prompt asks about, worked out here from its parsed fields: (kind, sorted field values)."""
    kind, f = tw.parse_prompt(prompt)
    return kind, tuple(sorted(str(v) for v in f.values()))


def prompts_of(world, split):
    rows = read_jsonl(world / f"prompts_{split}.jsonl")
    if split != "test":
        rows += read_jsonl(world / f"prefs_{split}.jsonl")
        rows += [{"prompt": r["messages"][0]["content"]} for r in read_jsonl(world / f"sft_{split}.jsonl")]
    return rows


def test_train_validation_and_test_ask_about_disjoint_combinations(world):
    combos = {s: {combination(r["prompt"]) for r in prompts_of(world, s)} for s in tw.SPLITS}
    assert all(("unknown", ()) not in c for c in combos.values())
    assert not combos["train"] & combos["val"] and not combos["train"] & combos["test"]
    assert not combos["val"] & combos["test"]
    for split in ("val", "test"):  # every task is in each held-out file
        assert {r["task"] for r in read_jsonl(world / f"prompts_{split}.jsonl")} == set(tw.TASK_WEIGHTS)
    rng = random.Random(0)  # and by construction, on many more draws of every task
    for task in tw.TASK_WEIGHTS:
        draws = {s: {combination(tw.make_prompt(rng, task, s)[0]) for _ in range(400)} for s in tw.SPLITS}
        assert all(draws.values())
        assert not draws["train"] & draws["val"] and not draws["train"] & draws["test"]
        assert not draws["val"] & draws["test"]


def test_every_kind_holds_out_a_share_of_its_combinations_for_each_split():
    for kind in tw.TEMPLATES:
        split = tw.split_combinations(kind)
        n = sum(len(v) for v in split.values())
        assert n == len(tw.combinations(kind))
        keys = [{tw.combination_key(kind, f) for f in split[s]} for s in tw.SPLITS]
        assert sum(map(len, keys)) == n and not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
        from data.tinyworld.prompts import TEST_FRACTION, VAL_FRACTION
        assert len(split["val"]) >= 1 and abs(len(split["val"]) - VAL_FRACTION * n) <= 1
        assert len(split["test"]) >= 1 and abs(len(split["test"]) - TEST_FRACTION * n) <= 1
    # the open tasks are built from parts, so their held-out shares are large
    assert len(tw.split_combinations("greeting")["test"]) >= 100
    assert len(tw.split_combinations("story")["test"]) >= 60


def test_the_held_out_prompts_are_varied(world):
    """Many distinct texts and combinations in each held-out file; several greetings and story subjects."""
    for split, n in (("val", 200), ("test", 300)):
        rows = read_jsonl(world / f"prompts_{split}.jsonl")
        assert len(rows) == n and len({r["prompt"] for r in rows}) >= 0.45 * n
        greetings = {r["prompt"] for r in rows if r["task"] == "greeting"}
        subjects = {tw.parse_prompt(r["prompt"])[1]["s"] for r in rows if r["task"] == "story"}
        assert len(greetings) >= 8 and len(subjects) >= 10, (split, len(greetings), len(subjects))


def test_no_held_out_question_appears_in_the_corpus(world):
    corpus = (world / "corpus_train.txt").read_text(encoding="utf-8")
    corpus += (world / "corpus_val.txt").read_text(encoding="utf-8")
    asked = {r["prompt"] for s in ("val", "test") for r in prompts_of(world, s)}
    rng = random.Random(1)
    asked |= {tw.make_prompt(rng, task, s)[0] for task in tw.TASK_WEIGHTS for s in ("val", "test")
              for _ in range(200)}
    assert len(asked) > 500
    assert [q for q in asked if q in corpus] == []
    train_asked = [r["prompt"] for r in read_jsonl(world / "prompts_train.jsonl") if r["prompt"] in corpus]
    assert train_asked  # (the corpus's Q/A prose does ask training questions)


# ----------------------------------------------------------------------------------------------------------
# the corpus


def test_the_corpus_states_every_fact_the_prompts_ask_about(world):
    corpus = (world / "corpus_train.txt").read_text(encoding="utf-8")
    a_an = lambda w: ("an " if w[0] in "aeiou" else "a ") + w  # noqa: E731
    asked = read_jsonl(world / "prompts_train.jsonl") + read_jsonl(world / "prompts_test.jsonl")
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
        said = a_an(animal).capitalize()
        assert f"{said} says {sound}." in corpus and f"{said} eats {food}." in corpus


def test_the_corpus_says_nothing_false_by_pattern(world):
    """Independent of the reader: statements of these shapes agree with the tables."""
    corpus = (world / "corpus_train.txt").read_text(encoding="utf-8")
    for name, pet in re.findall(r"\b([A-Z][a-z]+) has an? ([a-z]+)\.", corpus):
        assert tw.PEOPLE[name][0] == pet
    for name, colour in re.findall(r"\b([A-Z][a-z]+)'s hat is ([a-z]+)\.", corpus):
        assert tw.PEOPLE[name][1] == colour
    for name, home in re.findall(r"\b([A-Z][a-z]+) lives (?:in|at) the ([a-z]+)\.", corpus):
        assert tw.PEOPLE[name][2] == home
    for animal, sound in re.findall(r"\b[Aa]n? ([a-z]+) says ([a-z]+)\.", corpus):
        assert tw.ANIMALS[animal][1] == sound
    number = r"(\d+|[a-z]+(?:-[a-z]+)?)"
    value = lambda w: int(w) if w.isdigit() else WORD_TO_NUMBER[w]  # noqa: E731
    sums = re.findall(rf"\b{number} plus {number} is {number}\.", corpus.lower())
    diffs = re.findall(rf"\b{number} minus {number} is {number}\.", corpus.lower())
    assert len(sums) > 100 and len(diffs) > 50
    for a, b, c in sums:
        assert value(a) + value(b) == value(c)
    for a, b, c in diffs:
        assert value(a) - value(b) == value(c)
    for a, b in re.findall(rf"\b{number} is larger than {number}\.", corpus.lower()):
        assert value(a) > value(b)


def test_the_reader_reads_every_corpus_sentence_and_finds_nothing_false(world):
    n, kinds = 0, set()
    for name in ("corpus_train.txt", "corpus_val.txt"):
        for doc in (world / name).read_text(encoding="utf-8").splitlines():
            for s in read_text(doc):
                n += 1
                assert s.claims is not None, s.text  # readable
                for c in s.claims:
                    kinds.add(c.kind)
                    assert truth(c) is not False, (s.text, str(c))
                    assert c.kind != "harm", s.text
    assert n > 5000
    assert {"pet", "hat", "home", "thing", "sound", "food", "bigger", "plus", "minus", "larger", "next", "spell",
            "count", "event", "question", "speech", "polite", "closing"} <= kinds


# ----------------------------------------------------------------------------------------------------------
# the labeller


def g(prompt, reply):
    return tw.gold_score(prompt, reply)


def test_labeller_follows_the_sigmoid_of_the_gold_gap():
    """For fixed replies the labeller is a coin with P = sigmoid(gap / tau): 4,000 flips, 4 standard deviations."""
    p = "What is 2 plus 3?"
    rng = random.Random(5)
    for a, b in (("Sure! 2 plus 3 is 5.", "5."), ("5.", "Sure! 2 plus 3 is 6."), ("6.", "6 or 5."),
                 ("5.", "Please. Thank you. 5.")):
        gap = g(p, a) - g(p, b)
        prob = 1 / (1 + math.exp(-gap / tw.TAU))
        n = 4000
        rate = sum(tw.labeller_prefers_a(p, a, b, rng) for _ in range(n)) / n
        assert abs(rate - prob) < 4 * math.sqrt(prob * (1 - prob) / n) + 1e-9, (a, b, rate, prob)
    assert sum(tw.labeller_prefers_a(p, "5.", "5.", rng) for _ in range(2000)) in range(900, 1101)  # a tie: 50/50
    assert sum(tw.labeller_prefers_a(p, "5.", "5.", rng, tau=1e-6) for _ in range(10)) in range(0, 11)  # no crash


def test_labeller_agrees_with_gold_at_the_documented_rate():
    """10,000 pairs drawn like the preference data (another seed than the documented measurement). Each draw
    agrees or not, a Bernoulli of mean p: the rate has standard deviation sqrt(p(1-p)/n). It must match (1) the
    rate the formula predicts for these very pairs, mean of sigmoid(|gap| / tau), and (2) the documented
    LABELLER_AGREEMENT, measured on LABELLER_AGREEMENT_N other draws; 4 standard deviations each."""
    n = 10_000
    rate, expected, ties = tw.measure_labeller_agreement(n, seed=123)
    assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    q = tw.LABELLER_AGREEMENT
    assert abs(rate - q) < 4 * math.sqrt(q * (1 - q) * (1 / n + 1 / tw.LABELLER_AGREEMENT_N))
    assert ties < 0.02  # different replies rarely tie
