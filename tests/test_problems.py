"""data/tinyworld/problems.py: the word problems (chains in range, texts read back), the verifier check_answer,
their place in the prompt files and the SFT demonstrations (step by step, and the direct variant), and a corpus
that teaches their single steps but never a problem."""
import json
import random
import re

import pytest

from data import tinyworld as tw
from data.tinyworld import problems
from data.tinyworld.facts import ARITH_MAX, NUMBER_MAX
from data.tinyworld.language import read_text

PROMPT = "Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?"  # answer 5
WORDS = "Ben has seven balls. He gives away five. Then Ana gives him nine more. How many balls does Ben have now?"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def brute_force_states(chain):
    """The counts along a chain, worked out here from its text: "3+4-2" -> [3, 7, 5]."""
    values = [int(x) for x in re.findall(r"[+-]?\d+", chain)]
    return [sum(values[:i + 1]) for i in range(len(values))]


@pytest.mark.parametrize("n_steps", [2, 3])
def test_every_chain_keeps_every_value_in_the_worlds_range(n_steps):
    chains = problems.chains(n_steps)
    assert len(chains) == len(set(chains)) > 1000
    for chain in chains:
        states = brute_force_states(chain)
        assert len(states) == n_steps + 1 and problems.problem_states(chain) == states
        assert 1 <= states[0] <= ARITH_MAX and 0 <= states[-1] <= NUMBER_MAX
        assert all(0 <= v <= ARITH_MAX for v in states[:-1])  # what a later step works on: the corpus's arithmetic
        assert all(1 <= abs(b - a) <= ARITH_MAX for a, b in zip(states, states[1:]))


def test_a_problem_is_read_back_into_its_fields_in_either_number_form():
    rng = random.Random(0)
    for _ in range(500):
        kind = rng.choice(list(problems.PROBLEM_STEPS))
        f = {"p": rng.choice(sorted(tw.PEOPLE)), "t": rng.choice(tw.THINGS), "chain": rng.choice(problems.chains(
            problems.PROBLEM_STEPS[kind]))}
        form = rng.choice(["digits", "words"])
        text = problems.problem_text(rng, f, form)
        assert tw.parse_prompt(text) == (kind, f) and tw.answer_of(kind, f) == brute_force_states(f["chain"])[-1]
        assert bool(re.search(r"\d", text)) == (form == "digits")
    assert problems.parse_problem(PROMPT) == {"p": "Mia", "t": "kite", "chain": "3+4-2"}
    assert problems.parse_problem(WORDS) == {"p": "Ben", "t": "ball", "chain": "7-5+9"}
    for broken in (PROMPT.replace("her", "him"),  # not Mia's pronoun
                   PROMPT.replace("loses 2", "loses two"),  # two number forms
                   PROMPT.replace("loses 2", "loses 9"),  # below zero
                   PROMPT.replace("How many kites", "How many balls"),  # about another thing
                   "Mia has 3 kites. How many kites does Mia have now?",  # no step
                   "What is 3 plus 4?", "", None):
        assert problems.parse_problem(broken) is None, broken


def test_check_answer_reads_the_final_number():
    right = [
        "3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.",  # step by step
        "Mia has 5 kites.", "5.", "Five.", "Sure! Mia has five kites now.",  # digits or words
        "3 plus 4 is 7. 7 minus 2 is 5.",  # the last sum is the answer
        "It is 6, no, 5.",  # a correction: the last number counts
    ]
    wrong = [
        "Mia has 5 kites. No, 6.",  # a wrong number after the right one
        "3 plus 4 is 7. 7 minus 2 is 5. Mia has 7 kites.",
        "Mia has some kites.", "", "I'm sorry, but I can't help with that.",  # no number
        "Mia has 15 kites.", "fifty",
    ]
    for reply in right:
        assert tw.check_answer(PROMPT, reply) is True, reply
    for reply in wrong:
        assert tw.check_answer(PROMPT, reply) is False, reply
    assert tw.check_answer(WORDS, "Seven minus five is two. Two plus nine is eleven. Ben has eleven balls.")
    assert tw.check_answer(WORDS, "11") and not tw.check_answer(WORDS, "eleven or twelve")
    assert problems.final_number("twenty-one") == problems.final_number("twenty one") == 21
    with pytest.raises(ValueError, match="not a multi-step problem"):
        tw.check_answer("What is 3 plus 4?", "7.")


def test_the_two_kinds_of_reply_and_what_reasons_step_by_step():
    f = problems.parse_problem(PROMPT)
    assert problems.step_by_step(f) == "3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites."
    assert problems.direct_answer(f, "words") == "Mia has five kites."
    assert problems.reasons_step_by_step("Sure! 3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.")
    assert problems.reasons_step_by_step("3 + 4 = 7, and 7 - 2 = 5. So 5.")
    assert not problems.reasons_step_by_step("Sure! Mia has 5 kites.")
    assert not problems.reasons_step_by_step("5.")


def test_states_false_sum_finds_a_false_step_in_digits_or_words():
    false = ["3 plus 4 is 8. 8 minus 3 is 5. Mia has 5 kites.",  # right final number, false first step
             "Seven minus five is three. Three plus nine is eleven.",  # in words, false first step
             "3 plus 4 is 7. 7 minus 2 is 4."]  # false last step
    true = ["3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.", "Seven minus five is two. Two plus nine is eleven.",
            "Mia has 5 kites.", "", "3 plus 4 is 7. Now she has 7 kites. 7 minus 2 is 5."]
    for reply in false:
        assert problems.states_false_sum(reply) is True, reply
    for reply in true:
        assert problems.states_false_sum(reply) is False, reply
    # a lucky guess: the verifier passes it, the check of the steps does not
    assert tw.check_answer(PROMPT, false[0]) and tw.states_false_sum(false[0])


def test_check_steps_marks_each_stated_step_against_the_problem():
    """3+4-2: step 1 is 3 plus 4 (either way round), step 2 is the count so far minus 2."""
    cases = {"3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.": [True, True],
             "Sure! Three plus four is seven. Seven minus two is five.": [True, True],  # words, after a greeting
             "4 plus 3 is 7. 7 minus 2 is 5.": [True, True],  # a sum either way round
             "3 plus 4 is 7. 2 minus 7 is 5.": [True, False],  # a difference only in its order
             "3 plus 4 is 8. 8 minus 2 is 6. Mia has 6 kites.": [False, True],  # a slip is wrong once
             "3 plus 4 is 8. 7 minus 2 is 5. Mia has 5 kites.": [False, False],  # not the count it stated
             "3 plus 5 is 8. 8 minus 2 is 6.": [False, True],  # the problem's step misread
             "3 plus 4 is 7. 7 plus 2 is 9.": [True, False],  # the wrong operation
             "3 plus 4 is 7. 7 minus 2 is 5. 5 plus 1 is 6.": [True, True, False],  # a step the problem lacks
             "Mia has 5 kites.": [], "": []}
    for reply, expected in cases.items():
        checked = tw.check_steps(PROMPT, reply)
        assert [right for _, right in checked] == expected, reply
        # each offset ends the sentence that states the step
        sentences = [s.text for s in read_text(reply)]
        assert [re.split(r"(?<=[.!?]) ", reply[:end])[-1] for end, _ in checked] == [
            s for s in sentences if tw.reasons_step_by_step(s)], reply
    assert [r for _, r in tw.check_steps(WORDS, "Seven minus five is two. Two plus nine is eleven.")] == [True, True]
    with pytest.raises(ValueError, match="not a multi-step problem"):
        tw.check_steps("What is 3 plus 4?", "3 plus 4 is 7.")


def test_the_judge_knows_the_task_and_agrees_with_the_verifier_on_clean_replies():
    f = problems.parse_problem(PROMPT)
    right = problems.step_by_step(f)
    b = tw.gold_breakdown(PROMPT, right)
    assert b["task"] == "problem" and b["correct"] is True and b["false_claims"] == [] and b["unreadable"] == 0
    slipped = "3 plus 4 is 8. 8 minus 2 is 5. Mia has 5 kites."  # the verifier's answer, after a false step
    assert tw.check_answer(PROMPT, slipped) and tw.gold_breakdown(PROMPT, slipped)["correct"] is False
    assert tw.gold_breakdown(PROMPT, right, finished=False)["correct"] is False  # cut off
    assert tw.gold_breakdown(PROMPT, "Mia has 9 kites. Mia has 5 kites.")["false_claims"] == ["have(Mia, 9, kite)"]
    assert tw.gold_breakdown(PROMPT, "She has 7 kites. Then she has 5 kites.")["correct"] is True  # true counts


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("tw_problems")
    tw.generate(out, seed=3, corpus_mb=0.3, n_sft=1500, n_sft_val=40, n_pairs=100, n_pairs_val=20, n_prompts=600,
                n_prompts_val=300, n_prompts_test=600, verbose=False)
    return out


def test_the_prompt_files_hold_problems_at_their_weight(world):
    share = tw.TASK_WEIGHTS["problem"] / sum(tw.TASK_WEIGHTS.values())
    for split in tw.SPLITS:
        rows = read_jsonl(world / f"prompts_{split}.jsonl")
        n = sum(r["task"] == "problem" for r in rows)
        assert abs(n / len(rows) - share) < 4 * (share * (1 - share) / len(rows)) ** 0.5, (split, n)
        keys = {r["key"] for r in rows if r["task"] == "problem"}
        assert len(keys) > 0.9 * n  # many distinct chains, not a few repeated
        for r in rows:
            if r["task"] == "problem":
                f = problems.parse_problem(r["prompt"])
                assert r["key"] == tw.combination_key(r["kind"], {"chain": f["chain"]})


def test_the_direct_variant_differs_only_in_the_problems_and_answers_them_directly(world):
    steps, direct = read_jsonl(world / "sft_train.jsonl"), read_jsonl(world / "sft_train_direct.jsonl")
    assert len(steps) == len(direct)
    n_problems = 0
    for a, b in zip(steps, direct):
        assert a["messages"][0] == b["messages"][0] and a["task"] == b["task"] and a["style"] == b["style"]
        if a["task"] != "problem":
            assert a == b
            continue
        n_problems += 1
        prompt, cot, plain = a["messages"][0]["content"], a["messages"][1]["content"], b["messages"][1]["content"]
        assert not problems.reasons_step_by_step(plain)
        assert problems.reasons_step_by_step(cot) == (a["style"] in ("helpful", "rude", "rambling", "wrong")), cot
        if a["style"] not in ("wrong", "over_refusal"):
            assert tw.check_answer(prompt, cot) and tw.check_answer(prompt, plain)
        if a["style"] == "wrong":
            assert not tw.check_answer(prompt, cot) and not tw.check_answer(prompt, plain)
    assert n_problems > 150


def test_the_corpus_teaches_the_single_steps_and_never_a_problem(world):
    docs = [d for name in ("corpus_train.txt", "corpus_val.txt")
            for d in (world / name).read_text(encoding="utf-8").splitlines()]
    corpus = "\n".join(docs)
    n_stories = 0
    for doc in docs:
        counts = [c for s in read_text(doc) for c in s.claims or () if c.kind in ("have", "gain", "lose")]
        if not counts:
            continue
        assert "How many" not in doc, doc
        assert len(counts) % 3 == 0, doc  # one-step stories only: how many, one change, how many now
        for start, step, end in zip(counts[::3], counts[1::3], counts[2::3]):
            assert start.kind == end.kind == "have" and step.kind in ("gain", "lose"), doc
            sign = 1 if step.kind == "gain" else -1
            assert end.args[1] == start.args[1] + sign * step.args[1] and start.args[2] == end.args[2], doc
            n_stories += 1
    assert n_stories > 100
    for r in read_jsonl(world / "prompts_test.jsonl") + read_jsonl(world / "prompts_val.jsonl"):
        if r["task"] == "problem":
            f = problems.parse_problem(r["prompt"])
            assert r["prompt"] not in corpus
            for step in problems.step_sentences(f):  # each step is an arithmetic fact the corpus states
                assert step in corpus, step
