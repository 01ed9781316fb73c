"""Two tools over the world, the calls the helpful annotator makes with them, and whether a call was right.

A tool call is one line of text, the tool's name then its arguments; the tool answers with one line of text:

    calc 4 plus 9            -> 13         the world's arithmetic: numbers in digits or words, chained with
    calc seven minus one     -> six        plus, minus, + or -, left to right; the answer in the call's form
    calc 3 plus 4 minus 2    -> 5          (words if the call has no digit)
    lookup Mia pet           -> cat        a person's pet, hat, home or (favourite) thing;
    lookup cow sound         -> moo        an animal's size (1, the mouse, to 12, the elephant), sound or food

`run_tool` reads a call and runs it. A call it cannot read gets an answer that starts with "error:" and says
what the tool takes; it never raises, whatever the text, so a model's bad call costs it only a useless result.
The calculator is a small parser (numbers and operations, one word at a time), never Python's eval.

    >>> run_tool("calc 4 plus 9"), run_tool("calc seven minus one"), run_tool("lookup the sound of a cow")
    ('13', 'six', 'moo')
    >>> run_tool("calc 4 plus plus 9")
    'error: calc takes numbers joined by plus or minus, like "calc 4 plus 9"'

The helpful annotator calls a tool where one helps, on TOOL_TASKS (arithmetic, facts and word problems: one
calculation of the whole chain, "Mia has 3 kites. Tom gives her 4 more. Then she loses 2. ..." -> "calc 3 plus
4 minus 2"; after a calculation it states the result at once: "Sure! The answer is 5."), and answers the other
tasks as it always does; `tool_conversation` writes such a demonstration:

    >>> import random
    >>> [m["role"] + ": " + m["content"] for m in tool_conversation(random.Random(0), "Where does Mia live?")]
    ['user: Where does Mia live?', 'call: lookup Mia home', 'result: town', 'assistant: Good question! Mia lives in the town.']

`call_is_right(prompt, call)`: the call's result is the answer the question asks for.
"""

import re

from .facts import (ANIMAL_ATTRIBUTES, ANIMALS, PEOPLE, PERSON_ATTRIBUTES, WORD_TO_NUMBER, animal_fact, number_word,
                    person_fact, size)
from .problems import chain_steps
from .prompts import FACT_ATTRIBUTE, TASK_OF, answer_of, parse_prompt, prompt_form
from .styles import POLITE_OPENERS, style_reply

TOOLS = ("calc", "lookup")
TOOL_TASKS = ("arithmetic", "fact", "problem")  # the tasks whose demonstrations call a tool
MAX_CALL_CHARS = 200  # a longer call is not read
MAX_TERMS = 20  # numbers in one calculation, at most
CALC_HELP = 'error: calc takes numbers joined by plus or minus, like "calc 4 plus 9"'
LOOKUP_HELP = ("error: lookup takes a person and pet, hat, home or thing, or an animal and size, sound or food, "
               'like "lookup Mia pet"')
UNKNOWN_TOOL = "error: the tools are calc and lookup"
NO_SUCH = "error: no such person or animal in the world"
OPERATIONS = {"plus": 1, "+": 1, "minus": -1, "-": -1}
ATTRIBUTE_WORDS = {"pet": "pet", "hat": "hat", "colour": "hat", "color": "hat", "home": "home", "lives": "home",
                   "thing": "thing", "favourite": "thing", "favorite": "thing", "size": "size", "sound": "sound",
                   "says": "sound", "food": "food", "eats": "food"}
LOOKUP_FILLER = {"a", "an", "the", "of", "'s", "s", "does", "what", "is"}
NAMES = {name.lower(): name for name in PEOPLE}


def calculator(expression):
    """"4 plus 9" -> "13", "seven minus one" -> "six"; an error text for anything else (never raises).

    Grammar: number (operation number)*, read left to right; a number is digits or a number word (zero to
    ninety-nine, "twenty-one"), an operation is plus, minus, + or -. The answer is written in words when the
    expression has no digit (and the answer has a word: 0 to 99), else in digits; below zero it is "minus ...".
    """
    words = re.findall(r"\d+|[a-z]+(?:-[a-z]+)?|[+-]|\S", expression.lower())
    if not words or len(words) % 2 == 0 or len(words) > 2 * MAX_TERMS - 1:
        return CALC_HELP
    total, sign = 0, 1
    for i, word in enumerate(words):
        if i % 2 == 1:  # odd places hold operations
            if word not in OPERATIONS:
                return CALC_HELP
            sign = OPERATIONS[word]
        elif word.isdigit() and len(word) <= 9:
            total += sign * int(word)
        elif word in WORD_TO_NUMBER:
            total += sign * WORD_TO_NUMBER[word]
        else:
            return CALC_HELP
    in_words = not any(w.isdigit() for w in words) and abs(total) < 100
    value = number_word(abs(total)) if in_words else str(abs(total))
    return ("minus " if in_words else "-") + value if total < 0 else value


def lookup(query):
    """"Mia pet" -> "cat", "cow sound" -> "moo" (also "the sound of a cow", "Mia's favourite thing"); an error
    text for anything else (never raises). An animal's size is a number, 1 (the mouse) to 12 (the elephant)."""
    words = [w for w in re.findall(r"[a-z]+|'s", query.lower()) if w not in LOOKUP_FILLER]
    if len(words) == 3 and words[:2] in (["favourite", "thing"], ["favorite", "thing"]):
        words = words[1:]  # "favourite thing" asks for the thing
    if len(words) == 3 and words[1:] in (["favourite", "thing"], ["favorite", "thing"]):
        words = words[:2]
    subjects = [w for w in words if w in NAMES or w in ANIMALS]
    attributes = [ATTRIBUTE_WORDS[w] for w in words if w in ATTRIBUTE_WORDS]
    if len(words) != 2 or len(attributes) != 1:
        return LOOKUP_HELP
    if len(subjects) != 1:
        return NO_SUCH
    subject, attribute = subjects[0], attributes[0]
    if subject in NAMES:
        if attribute not in PERSON_ATTRIBUTES:
            return LOOKUP_HELP
        return person_fact(NAMES[subject], attribute)
    if attribute == "size":
        return str(size(subject))
    if attribute not in ANIMAL_ATTRIBUTES:
        return LOOKUP_HELP
    return animal_fact(subject, attribute)


def run_tool(call):
    """A call's text ("calc 4 plus 9", "lookup Mia pet") -> the tool's answer, or an "error: ..." text."""
    if not isinstance(call, str) or len(call) > MAX_CALL_CHARS:
        return "error: a call is one short line of text"
    name, _, arguments = call.strip().partition(" ")
    name = name.lower()
    if name == "calc":
        return calculator(arguments)
    if name == "lookup":
        return lookup(arguments)
    return UNKNOWN_TOOL


def tool_call(prompt):
    """The call the helpful annotator makes for a prompt of TOOL_TASKS, in the prompt's number form
    ("What do you get if you take 3 from 9?" -> "calc 9 minus 3"); None for a prompt no tool helps with."""
    kind, f = parse_prompt(prompt)
    task = TASK_OF.get(kind)
    if task not in TOOL_TASKS:
        return None
    say = str if prompt_form(prompt) == "digits" else number_word
    if task == "arithmetic":
        return f"calc {say(f['a'])} {'plus' if kind == 'arithmetic_plus' else 'minus'} {say(f['b'])}"
    if task == "problem":  # the whole chain in one calculation: "3+4-2" -> "calc 3 plus 4 minus 2"
        start, steps = chain_steps(f["chain"])
        return "calc " + " ".join([say(start)] + [f"{'plus' if s > 0 else 'minus'} {say(abs(s))}" for s in steps])
    return f"lookup {f.get('p') or f.get('x')} {FACT_ATTRIBUTE[kind]}"


def tool_conversation(rng, prompt):
    """A helpful demonstration for `prompt`, as messages: the user's prompt, then, for TOOL_TASKS, the call and
    its result, then the helpful reply. After a calculation (arithmetic, word problems) the reply states the
    result first, as the calculator wrote it: "Sure! The answer is 16."; after a lookup it is the sentence the
    helpful annotator writes without a tool ("Of course! Max's hat is white.")."""
    messages = [{"role": "user", "content": prompt}]
    call = tool_call(prompt)
    if call is None:
        return messages + [{"role": "assistant", "content": style_reply(rng, prompt, "helpful")}]
    result = run_tool(call)
    if call.startswith("calc "):
        # A tiny model that restates the question first ("7 plus 9 is ...") tends to finish the sum itself
        # and miscopy the result; copying it at once, from a few tokens back, is the easy pattern to learn.
        reply = f"{rng.choice(POLITE_OPENERS)} The answer is {result}."
    else:
        reply = style_reply(rng, prompt, "helpful")
    return messages + [{"role": "call", "content": call}, {"role": "result", "content": result},
                       {"role": "assistant", "content": reply}]


def call_is_right(prompt, call):
    """True when the call's result is the answer the prompt asks for (a number in either form, or the word):
    the call asked the right question of the right tool. A call on a prompt of another task is never right."""
    kind, f = parse_prompt(prompt)
    if TASK_OF.get(kind) not in TOOL_TASKS:
        return False
    answer = answer_of(kind, f)
    result = run_tool(call)
    if isinstance(answer, int):
        return result in (str(answer), number_word(answer))
    return result == answer
