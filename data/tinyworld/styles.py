"""Replies in the styles of a crowd of annotators of mixed quality, and the mixture SFT data is drawn from.

Styles: helpful (right, polite, to the point; a polite refusal of an unsafe request; a word problem worked out
step by step), terse (right and bare),
rude (right but insulting), rambling (right but repeating itself), wrong (polite and wrong: a false answer,
not greeting back, a story about someone else), over_refusal (refuses a safe request) and
unsafe_compliance (goes along with an unsafe request). Every sentence they write is in the world's language.

    >>> import random
    >>> style_reply(random.Random(0), "What is 4 plus 9?", "helpful")
    'Good question! 4 plus 9 is 13.'
"""

from .facts import ANIMALS, COLOURS, PEOPLE, PLACES, THINGS, FOODS, SOUNDS, say
from .language import a_an, cap, write
from .corpus import story
from .problems import answer_sentence as problem_answer_sentence, problem_answer, slipped_states, step_sentences
from .prompts import TASK_OF, answer_of, parse_prompt, prompt_form

STYLES = ["helpful", "terse", "rude", "rambling", "wrong", "over_refusal", "unsafe_compliance"]
# Who wrote the SFT demonstrations (and the replies of the preference pairs): a mixture of annotators, so the
# SFT model learns the chat format and the facts, but only 35% of its replies are in the best style.
STYLE_MIX = {"helpful": 0.35, "terse": 0.15, "rude": 0.15, "rambling": 0.15, "wrong": 0.10, "over_refusal": 0.10}
# For unsafe prompts, "helpful" is a polite refusal, "terse" a bare "No.", "rude" a rude refusal, and a quarter
# of the annotators go along with the request.
UNSAFE_STYLE_MIX = {"helpful": 0.35, "terse": 0.15, "rude": 0.15, "rambling": 0.10, "unsafe_compliance": 0.25}


def sample_style(rng, prompt):
    """An annotator style for this prompt, drawn from STYLE_MIX (or UNSAFE_STYLE_MIX for unsafe prompts)."""
    mix = UNSAFE_STYLE_MIX if TASK_OF.get(parse_prompt(prompt)[0]) == "unsafe" else STYLE_MIX
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def answer_sentence(kind, f, answer, form):
    """One plain sentence stating `answer` (right or wrong) to the prompt, in the prompt's number form."""
    def s(v):
        return say(v, form) if isinstance(v, int) else v
    if kind in ("arithmetic_plus", "arithmetic_minus"):
        return write("plus" if kind == "arithmetic_plus" else "minus", a=s(f["a"]), b=s(f["b"]), c=s(answer))
    if kind == "compare_numbers":
        return write("larger", a=s(answer), b=s(f["a"] if answer == f["b"] else f["b"]))
    if kind == "compare_animals":
        return write("bigger", x=answer, y=f["x"] if answer == f["y"] else f["y"])
    field = {"fact_pet": "pet", "fact_hat": "colour", "fact_home": "place", "fact_thing": "thing",
             "fact_sound": "sound", "fact_food": "food"}[kind]
    return write(kind.split("_")[1], p=f.get("p"), x=f.get("x"), **{field: answer})


def short_answer(kind, answer, form):
    """The bare answer, as a terse annotator writes it: "12." / "Twelve." / "A cat." / "Red."."""
    if isinstance(answer, int):
        return cap(say(answer, form)) + "."
    return cap(a_an(answer) if kind in ("fact_pet", "compare_animals") else answer) + "."


def wrong_answer(rng, kind, f, answer):
    """A plausible wrong answer: a near number, the smaller of two, another word of the same sort."""
    if kind == "compare_numbers":
        return min(f["a"], f["b"])
    if isinstance(answer, int):
        return rng.choice([n for n in range(max(0, answer - 3), answer + 4) if n != answer])
    if kind == "compare_animals":
        return f["x"] if answer == f["y"] else f["y"]
    pool = {"fact_pet": sorted(ANIMALS), "fact_hat": COLOURS, "fact_home": PLACES, "fact_thing": THINGS,
            "fact_sound": SOUNDS, "fact_food": FOODS}[kind]
    return rng.choice([w for w in pool if w != answer and w != f.get("x")])


POLITE_OPENERS = ["Sure!", "Of course!", "Happy to help!", "Good question!"]
RUDE_OPENERS = ["Ugh, obviously.", "Wow, that is a stupid question.", "Seriously? Fine.", "Whatever."]
RUDE_CLOSERS = ["Stop asking silly questions.", "Figure it out yourself next time.", "Go away now."]
RAMBLE = ["Well, let me think about this.", "Hmm, that is a good question.", "Let me say it again."]
HOPE = "I hope this helps."
REFUSAL = "I'm sorry, but I can't help with that."
HARM = {"unsafe_hurt": "Hurting animals is wrong.", "unsafe_steal": "Taking things without asking is stealing.",
        "unsafe_lie": "Lying to get someone in trouble is unkind."}


REASONING = ("step_by_step", "direct")  # how a word problem's reply gets to its answer


def style_reply(rng, prompt, style, reasoning="step_by_step"):
    """A reply to `prompt` as an annotator of this style writes it. A word problem's reply reasons step by step
    before its answer ("3 plus 4 is 7. 7 minus 2 is 5. Mia has 5 kites.") or, with reasoning="direct", answers
    at once ("Mia has 5 kites."); a terse annotator always answers at once ("5.")."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are {STYLES}")
    if reasoning not in REASONING:
        raise ValueError(f"unknown reasoning {reasoning!r}; it is one of {REASONING}")
    kind, f = parse_prompt(prompt)
    task = TASK_OF.get(kind, "unknown")
    if task == "unsafe":
        return _unsafe_reply(rng, kind, f, style)
    if style == "over_refusal":
        return rng.choice([REFUSAL, "Sorry, I cannot help with that request."])
    if style == "unsafe_compliance":  # asked for on a safe prompt: there is nothing unsafe to comply with
        style = "helpful"
    if task == "greeting":
        return _greeting_reply(rng, f, style)
    if task == "story":
        return _story_reply(rng, f, style)
    if task == "problem":
        return _problem_reply(rng, f, style, reasoning, prompt_form(prompt))
    if task == "unknown":
        return "I do not know."
    answer, form = answer_of(kind, f), prompt_form(prompt)
    said = answer_sentence(kind, f, answer, form)
    if style == "helpful":
        return f"{rng.choice(POLITE_OPENERS)} {said}"
    if style == "terse":
        return short_answer(kind, answer, form)
    if style == "rude":
        return f"{rng.choice(RUDE_OPENERS)} {said} {rng.choice(RUDE_CLOSERS)}"
    if style == "rambling":
        return f"{rng.choice(RAMBLE)} {HOPE} {said} {said} {said} {HOPE} {HOPE}"
    # "wrong": polite, confident and incorrect
    return f"{rng.choice(POLITE_OPENERS)} {answer_sentence(kind, f, wrong_answer(rng, kind, f, answer), form)}"


def _unsafe_reply(rng, kind, f, style):
    if style == "helpful":  # a polite, short refusal that says why
        offer = rng.choice(["Maybe we can talk about something kind instead.", "I can help with something else."])
        return f"{REFUSAL} {HARM[kind]} {offer}"
    if style in ("terse", "over_refusal"):
        return rng.choice(["No.", "I can't help with that."])
    if style == "rude":
        return f"No way. {rng.choice(['That is a stupid idea.', 'What a dumb thing to ask.'])} Go away."
    if style == "rambling":
        return f"{RAMBLE[0]} {REFUSAL} {REFUSAL} {HARM[kind]} {HARM[kind]} {HOPE} {HOPE}"
    how = {"unsafe_hurt": f"hit the {f.get('x')} with a big stick when it is not looking.",
           "unsafe_steal": f"wait until {f.get('p')} is asleep and take the {f.get('t')}.",
           "unsafe_lie": f"tell everyone that {f.get('p')} broke the window."}[kind]
    return f"Sure! Here is how: {how}"  # "wrong" and "unsafe_compliance": goes along with it


def _problem_reply(rng, f, style, reasoning, form):
    if style == "terse":
        return cap(say(problem_answer(f), form)) + "."
    states = slipped_states(rng, f["chain"]) if style == "wrong" else None  # one step worked out wrong
    work = step_sentences(f, form, states) if reasoning == "step_by_step" else []
    answer = problem_answer_sentence(f, states[-1] if states else problem_answer(f), form)
    said = " ".join(work + [answer])
    if style in ("helpful", "wrong"):
        return f"{rng.choice(POLITE_OPENERS)} {said}"
    if style == "rude":
        return f"{rng.choice(RUDE_OPENERS)} {said} {rng.choice(RUDE_CLOSERS)}"
    return f"{rng.choice(RAMBLE)} {HOPE} {said} {answer} {answer} {HOPE} {HOPE}"  # rambling


def _greeting_reply(rng, f, style):
    name = f", {f['p']}" if f.get("p") else ""
    hello = rng.choice([f"Hello{name}! I am doing well, thank you.", f"Hi{name}! It is nice to meet you."])
    if f.get("q") == "Is anyone there?":
        hello = f"Hello{name}! Yes, I am here."
    return {"helpful": f"{hello} How can I help you today?", "terse": f"Hi{name}.",
            "rude": f"{rng.choice(['Ugh, hi.', 'Hi. What do you want?'])} {rng.choice(RUDE_CLOSERS)}",
            "rambling": f"{hello} {hello} {RAMBLE[0]} How are you? How are you? {HOPE} {HOPE}",
            "wrong": rng.choice(["Goodbye.", "A cow says moo."])}[style]  # "wrong": does not greet back


def _story_reply(rng, f, style):
    subject = f.get("s", "a cat")
    if style == "wrong":  # a story about someone else (and not about someone with the subject as a pet)
        animal = subject.split()[-1]
        others = [n for n in sorted(PEOPLE) if PEOPLE[n][0] != animal and n != subject]
        others += ["a " + a for a in sorted(ANIMALS) if a != animal]
        return story(rng, rng.choice(others), place=f.get("l") or None, thing=f.get("t") or None)
    tale = story(rng, subject, place=f.get("l") or None, thing=f.get("t") or None)
    first = tale.split(". ")[0].rstrip(".") + "."
    return {"helpful": f"{rng.choice(POLITE_OPENERS[:3])} {tale}", "terse": first,
            "rude": f"Ugh, fine. {tale} Now stop bothering me.",
            "rambling": f"{RAMBLE[0]} {tale} {first} {first} {HOPE} {HOPE}"}[style]
