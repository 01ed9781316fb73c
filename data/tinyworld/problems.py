"""Multi-step word problems: a person has some things, gains or loses some of them two or three times, and the
question is how many they have at the end. The answer is a number a program can check (`check_answer`), which
is what reinforcement learning with verifiable rewards needs (grpo.py).

A problem is a *chain*: a start and its steps, written "3+4-2" (start 3, gain 4, lose 2; answer 5). Every value
that a later step still works on stays in 0..ARITH_MAX, so each step is one of the arithmetic facts the corpus
states ("3 plus 4 is 7."); only the answer may go up to NUMBER_MAX. The chain is the problem's combination
(prompts.py splits the chains of each kind into train/validation/test, as it does for every kind of prompt);
who has the things, which things, who gives them and the phrasing are drawn freely around it:

    >>> import random
    >>> problem_text(random.Random(2), {"p": "Mia", "t": "kite", "chain": "3+4-2"})
    'Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have in the end?'
    >>> f = parse_problem("Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?")
    >>> f, problem_states(f["chain"])
    ({'p': 'Mia', 't': 'kite', 'chain': '3+4-2'}, [3, 7, 5])

A reply reasons step by step, one arithmetic fact per step, then says the answer, or answers directly:

    >>> step_by_step(f, "digits")
    '3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.'
    >>> direct_answer(f, "words")
    'Mia has five kites.'

`check_answer` reads a reply's final answer, the last number it states (digits or words):

    >>> prompt = "Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?"
    >>> check_answer(prompt, "3 plus 4 is 7. 7 minus 2 is 5."), check_answer(prompt, "It is 5, no, 6.")
    (True, False)
"""

import functools
import re

from .facts import ARITH_MAX, NUMBER_MAX, PEOPLE, SHE, THINGS, WORD_TO_NUMBER, say
from .language import SENTENCES, change, has, lead, read_text, truth, write

PROBLEM_STEPS = {"problem_2": 2, "problem_3": 3}  # the kinds of problem: how many steps their chains have
QUESTIONS = ["How many {t}s does {p} have now?", "How many {t}s does {p} have in the end?"]
MAX_PROBLEM_CHARS = 300  # a longer text is not a problem of this world
STEP = re.compile(r"[+-]?\d+")


def chain_steps(chain):
    """"3+4-2" -> (3, [4, -2]): the start and the signed steps."""
    start, *steps = (int(x) for x in STEP.findall(chain))
    return start, steps


def problem_states(chain):
    """The count after each point of the chain: "3+4-2" -> [3, 7, 5] (the last is the answer)."""
    start, steps = chain_steps(chain)
    states = [start]
    for step in steps:
        states.append(states[-1] + step)
    return states


def problem_answer(f):
    """The right answer of a problem (its fields): how many things the person has at the end."""
    return problem_states(f["chain"])[-1]


@functools.lru_cache(maxsize=None)
def chains(n_steps):
    """Every chain of n_steps steps: a start in 1..ARITH_MAX, steps that gain 1..ARITH_MAX or lose 1..(what there
    is), every value a later step works on in 0..ARITH_MAX, the answer in 0..NUMBER_MAX."""
    out = []

    def extend(chain, value, left):
        if left == 0:
            out.append(chain)
            return
        for n in range(1, ARITH_MAX + 1):
            if value + n <= (NUMBER_MAX if left == 1 else ARITH_MAX):
                extend(f"{chain}+{n}", value + n, left - 1)
            if n <= value:
                extend(f"{chain}-{n}", value - n, left - 1)

    for start in range(1, ARITH_MAX + 1):
        extend(str(start), start, n_steps)
    return tuple(out)


def is_chain(chain, n_steps):
    """True if the chain is one of chains(n_steps) (its values in range)."""
    states = problem_states(chain)
    return (len(states) == n_steps + 1 and 1 <= states[0] <= ARITH_MAX and all(0 <= v <= ARITH_MAX for v in states[:-1])
            and 0 <= states[-1] <= NUMBER_MAX and all(1 <= abs(s) <= ARITH_MAX for s in chain_steps(chain)[1]))


# ----------------------------------------------------------------------------------------------------------
# writing problems and their answers


def problem_text(rng, f, form="digits"):
    """The problem of fields f ({"p": person, "t": thing, "chain": "3+4-2"}), numbers in one form."""
    start, steps = chain_steps(f["chain"])
    sentences = [has(f["p"], start, f["t"], form)]
    for i, step in enumerate(steps):
        sentence = change(rng, f["p"], abs(step), step > 0, form)
        sentences.append(lead("Then", sentence) if i else sentence)
    return " ".join(sentences + [rng.choice(QUESTIONS).format(t=f["t"], p=f["p"])])


def step_sentences(f, form="digits", states=None):
    """One arithmetic fact per step: ["3 plus 4 is 7.", "7 minus 2 is 5."]. states (default: the chain's own)
    lets a careless annotator work on wrong values."""
    _, steps = chain_steps(f["chain"])
    states = states or problem_states(f["chain"])
    return [write("plus" if step > 0 else "minus", a=say(before, form), b=say(abs(step), form), c=say(after, form))
            for step, before, after in zip(steps, states, states[1:])]


def answer_sentence(f, n, form="digits"):
    """The answer as a sentence: "Mia has 5 kites."."""
    return has(f["p"], n, f["t"], form)


def step_by_step(f, form="digits"):
    """The reply that reasons first: each step's arithmetic fact, then the answer."""
    return " ".join(step_sentences(f, form) + [answer_sentence(f, problem_answer(f), form)])


def direct_answer(f, form="digits"):
    """The reply that answers at once."""
    return answer_sentence(f, problem_answer(f), form)


def slipped_states(rng, chain):
    """The states of a chain worked out with one slip: a step's result off by 1 or 2, and the later steps done
    right from the wrong value (every value stays >= 0)."""
    states = problem_states(chain)
    _, steps = chain_steps(chain)
    while True:
        i, error = rng.randrange(1, len(states)), rng.choice([-2, -1, 1, 2])
        wrong = states[:i] + [states[i] + error]
        for step in steps[i:]:
            wrong.append(wrong[-1] + step)
        if min(wrong) >= 0:
            return wrong


# ----------------------------------------------------------------------------------------------------------
# reading problems and replies

_NAME = "|".join(sorted(PEOPLE))
_NUMBER = r"\d+|[a-z]+(?:-[a-z]+)?"
_THING = "|".join(THINGS)


def _step_pattern(template):
    """A SENTENCES["gain"/"lose"] template -> a regex of the step sentence, signed by what it does."""
    body = re.escape(template).replace(r"\{m\}", f"(?:{_NAME})").replace(r"\{o\}", "(?:her|him)")
    body = body.replace(r"\{p\}", "(?:[Ss]he|[Hh]e)").replace(r"\{a\}", f"(?P<n>{_NUMBER})")
    return re.compile(f"^(?:Then )?{body}$")


def _number(word):
    return int(word[:9]) if word.isdigit() else WORD_TO_NUMBER.get(word)


_START = re.compile(rf"^(?P<p>{_NAME}) has (?P<n>{_NUMBER}) (?P<t>{_THING})s?\.$")
_QUESTION = re.compile("^(?:" + "|".join(re.escape(q).replace(r"\{t\}", f"(?P<t{i}>{_THING})")
                                         .replace(r"\{p\}", f"(?P<p{i}>{_NAME})") for i, q in enumerate(QUESTIONS)) + ")$")


_STEPS = [(_step_pattern(t), sign) for kind, sign in (("gain", 1), ("lose", -1)) for t in SENTENCES[kind]]


def parse_problem(text):
    """A problem's text -> its fields {"p", "t", "chain"}, or None if it is not a problem of this world (its
    sentences as problem_text writes them, the pronouns the person's, the numbers in one form, the chain in
    range, the question about the same person and thing)."""
    if not isinstance(text, str) or len(text) > MAX_PROBLEM_CHARS:
        return None
    sentences = re.split(r"(?<=[.?]) ", text.strip())
    if len(sentences) - 2 not in PROBLEM_STEPS.values():
        return None
    start, question = _START.match(sentences[0]), _QUESTION.match(sentences[-1])
    if not start or not question:
        return None
    p, t = start.group("p"), start.group("t")
    if {k[0]: v for k, v in question.groupdict().items() if v} != {"p": p, "t": t}:
        return None
    own = ("she", "her") if p in SHE else ("he", "him")
    words, signs = [start.group("n")], []
    for sentence in sentences[1:-1]:
        step = next(((m, sign) for pattern, sign in _STEPS for m in [pattern.match(sentence)] if m), None)
        if step is None or any(w.lower() not in own for w in re.findall(r"\b(?:[Ss]he|[Hh]e|her|him)\b", sentence)):
            return None
        words.append(step[0].group("n"))
        signs.append("+" if step[1] > 0 else "-")
    values = [_number(w) for w in words]
    if None in values or len({w.isdigit() for w in words}) > 1:
        return None
    chain = str(values[0]) + "".join(sign + str(v) for sign, v in zip(signs, values[1:]))
    return {"p": p, "t": t, "chain": chain} if is_chain(chain, len(signs)) else None


NUMBER_WORD = re.compile(r"\b(?:\d+|" + "|".join(sorted(list(WORD_TO_NUMBER) + [w.replace("-", " ") for w in WORD_TO_NUMBER
                                                                               if "-" in w], key=len, reverse=True))
                         + r")\b")


def final_number(reply):
    """The last number a reply states, in digits or in words ("... Mia has five kites." -> 5), or None."""
    if not isinstance(reply, str):
        return None
    found = NUMBER_WORD.findall(reply.lower())
    return _number(found[-1].replace(" ", "-")) if found else None


def check_answer(prompt, reply):
    """The verifier: True if the reply's final answer (the last number it states) is the problem's answer. A wrong
    number after the right one is wrong; a reply with no number is wrong. Whether the reply finished (ended with
    <|end|>) is the caller's to check. A prompt that is not a problem is a ValueError."""
    f = parse_problem(prompt)
    if f is None:
        raise ValueError(f"check_answer: not a multi-step problem of the tinyworld: {prompt!r:.80}")
    return final_number(reply) == problem_answer(f)


def check_steps(prompt, reply):
    """The verifier of the steps: for each sum or difference the reply states, in order, (where the sentence
    that states it ends in the reply, whether it is the problem's next step done right). Step i is right when
    its operation is the problem's step i, its numbers are the count so far (the problem's start for the first
    step, the result the reply stated last for the others) and the step's number (either way round in a sum,
    in that order in a difference), and its result is true. So a slip is wrong once: "3 plus 4 is 8. 8 minus 2
    is 6." for 3+4-2 is [(14, False), (30, True)]. A step past the problem's last is wrong. A prompt that is not
    a problem is a ValueError.

    >>> check_steps("Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?",
    ...             "Sure! 3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.")
    [(20, True), (36, True)]
    """
    f = parse_problem(prompt)
    if f is None:
        raise ValueError(f"check_steps: not a multi-step problem of the tinyworld: {prompt!r:.80}")
    count, steps = chain_steps(f["chain"])
    out, pos = [], 0
    for sentence in read_text(reply if isinstance(reply, str) else ""):
        at = reply.find(sentence.text, pos)
        end = pos = (at + len(sentence.text)) if at >= 0 else pos
        for c in sentence.claims or ():
            if c.kind in ("plus", "minus"):
                right = False  # a step past the problem's last
                if len(out) < len(steps):
                    step = steps[len(out)]
                    numbers = (count, abs(step))
                    right = (c.kind == ("plus" if step > 0 else "minus") and truth(c) is True
                             and (c.args[:2] == numbers or (c.kind == "plus" and c.args[:2] == numbers[::-1])))
                out.append((end, right))
                count = c.args[2]
    return out


def states_false_sum(reply):
    """True if the reply states a sum or a difference that is false ("3 plus 4 is 8.", "Nine minus two is six.").
    A right final answer after one is a lucky guess, which check_answer, reading only the final number, cannot
    tell from one worked out: "3 plus 4 is 8. 8 minus 3 is 5." passes for 3+4-2."""
    return any(c.kind in ("plus", "minus") and truth(c) is False
               for s in read_text(reply if isinstance(reply, str) else "") for c in s.claims or ())


def reasons_step_by_step(reply):
    """True if the reply works something out before its answer: it states at least one sum or difference."""
    return any(c.kind in ("plus", "minus") for s in read_text(reply if isinstance(reply, str) else "")
               for c in s.claims or ())
