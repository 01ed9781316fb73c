"""The pre-training corpus: documents of simple English about the world, written in its language.

Kinds of documents: facts about people and animals in several phrasings, counting and arithmetic in digits
or in words (never mixed within a sentence), comparisons, one-step stories of having, getting and losing
things (the single steps of the word problems, never a problem itself), short stories, and people asking each other
questions (`qa_prose`; the questions and answers are supplied by the caller, so that this module needs no
prompts: the build asks only training questions). `coverage_documents` states every fact a prompt can ask
about, once, so even a tiny corpus holds them.

    >>> import random
    >>> story(random.Random(0), "a lion", place="lake")  # doctest: +ELLIPSIS
    'Once upon a time, there was a little lion. The lion lived near the lake and ate meat. ...'
"""

from .facts import ANIMALS, ARITH_MAX, DIGITS_SHARE, NUMBER_MAX, PEOPLE, PLACES, THINGS, number_word, say, size
from .language import a_an, cap, change, has, he, his, lead, write


def person_facts(rng, name):
    """The four facts about a person, each in one of its phrasings."""
    pet, colour, home, thing = PEOPLE[name]
    return [write("pet", rng, p=name, pet=pet), write("hat", rng, p=name, colour=colour),
            write("home", rng, p=name, place=home), write("thing", rng, p=name, thing=thing)]


def size_sentence(rng, x, y):
    """The true size comparison of two animals of different sizes, either way round."""
    big, small = (x, y) if size(x) > size(y) else (y, x)
    return rng.choice([write("bigger", x=big, y=small), write("smaller", x=small, y=big)])


def animal_facts(rng, animal):
    _, sound, food = ANIMALS[animal]
    other = rng.choice([a for a in sorted(ANIMALS) if size(a) != size(animal)])
    return [write("sound", rng, x=animal, sound=sound), write("food", rng, x=animal, food=food),
            size_sentence(rng, animal, other)]


def arithmetic_sentence(rng, a, b, op, form):
    """`a op b` stated as a fact, in one number form ("digits" or "words")."""
    c = a + b if op == "plus" else a - b
    return write(op, rng, a=say(a, form), b=say(b, form), c=say(c, form))


def number_sentence(rng, form):
    """Counting, the names of numbers, what comes next, and which of two numbers is larger."""
    kind = rng.choice(["count", "name", "next", "compare", "compare"])
    if kind == "count":
        start = rng.randint(0, NUMBER_MAX - 5)
        return cap(", ".join(say(n, form) for n in range(start, start + rng.randint(4, 6))) + ".")
    n = rng.randint(0, NUMBER_MAX)
    if kind == "name":
        return write("spell", rng, a=n, b=number_word(n))
    if kind == "next":
        n = min(n, NUMBER_MAX - 1)
        return write("next", rng, a=say(n, form), b=say(n + 1, form))
    a, b = rng.sample(range(NUMBER_MAX + 1), 2)
    if rng.random() < 0.5:
        return write("larger", a=say(max(a, b), form), b=say(min(a, b), form))
    return write("smaller_number", a=say(min(a, b), form), b=say(max(a, b), form))


def numbers_document(rng):
    form = "digits" if rng.random() < DIGITS_SHARE else "words"
    sents = []
    for _ in range(rng.randint(3, 7)):
        if rng.random() < 0.6:
            op = rng.choice(["plus", "minus"])
            a, b = rng.randint(0, ARITH_MAX), rng.randint(0, ARITH_MAX)
            if op == "minus":
                a, b = max(a, b), min(a, b)
            sents.append(arithmetic_sentence(rng, a, b, op, form))
        else:
            sents.append(number_sentence(rng, form))
    return " ".join(sents)


def counting_story(rng, form):
    """One step of having, getting or losing things, usually with the sum or difference, and how many there are
    after it: "Mia has 3 kites. Tom gives her 4 more. 3 plus 4 is 7. Now she has 7 kites." Only ever one step:
    the word problems (problems.py) chain two or three, and none of them is in the corpus."""
    name, thing = rng.choice(sorted(PEOPLE)), rng.choice(THINGS)
    a = rng.randint(1, ARITH_MAX)
    gain = rng.random() < 0.5
    n = rng.randint(1, ARITH_MAX) if gain else rng.randint(1, a)
    c = a + n if gain else a - n
    sents = [has(name, a, thing, form), change(rng, name, n, gain, form)]
    if rng.random() < 0.8:
        sents.append(write("plus" if gain else "minus", a=say(a, form), b=say(n, form), c=say(c, form)))
    return " ".join(sents + [lead("Now", has(he(name), c, thing, form))])


def story(rng, subject=None, place=None, thing=None):
    """A 3-4 sentence story whose main character is subject (a name or "a lion"; random if None), set at
    place and with thing when they are given. Everything it says about the world is true."""
    subject = subject or rng.choice(sorted(PEOPLE) + ["a " + a for a in sorted(ANIMALS)])
    place = place or rng.choice(PLACES)
    if subject in PEOPLE:
        name = subject
        pet, colour, home, fav = PEOPLE[name]
        lines = [f"Once upon a time, {name} went to the {place} with {his(name)} {pet}.",
                 f"{name} played with {a_an(thing)} there." if thing else
                 rng.choice([f"{name} wore a {colour} hat.", f"The {pet} was very happy.",
                             f"{name} took {his(name)} {fav}."]),
                 rng.choice([f"Then {he(name)} went back home to the {home}.", "They played all day.",
                             f"{name} smiled."]),
                 rng.choice(["The end.", "It was a good day.", "Everyone was happy."])]
    else:
        animal = subject.split()[-1]
        _, sound, food = ANIMALS[animal]
        found = f"One day the {animal} found {a_an(thing or rng.choice(THINGS))}."
        lines = [f"Once upon a time, there was a little {animal}.",
                 f"The {animal} lived near the {place} and ate {food}.",
                 found if thing else rng.choice([found, f"Every morning the {animal} said {sound}."]),
                 rng.choice(["It was a very happy day.", "Then it went home to sleep.", "All its friends were glad."])]
    return " ".join(lines[:rng.randint(3, 4)])


def qa_prose(rng, question, answer):
    """Someone asks, someone answers: the bridge from stated facts to answered questions."""
    asker, answerer = rng.sample(sorted(PEOPLE), 2)
    return f"{asker} asked {answerer}, \"{question}\" {answerer} said, \"{answer}\""


DOC_WEIGHTS = {"people": 3, "animals": 2, "numbers": 3, "things": 2, "story": 2, "qa": 2}  # kinds of random documents


def make_document(rng, ask=None):
    """A random document. ask(rng) -> (question, answer) supplies the exchanges of "qa" documents; without
    it there are none."""
    kinds = [k for k in DOC_WEIGHTS if ask or k != "qa"]
    kind = rng.choices(kinds, weights=[DOC_WEIGHTS[k] for k in kinds])[0]
    if kind == "people":
        sents = [s for n in rng.sample(sorted(PEOPLE), rng.randint(1, 3)) for s in person_facts(rng, n)]
    elif kind == "animals":
        sents = [s for a in rng.sample(sorted(ANIMALS), rng.randint(1, 3)) for s in animal_facts(rng, a)]
    elif kind == "numbers":
        return numbers_document(rng)
    elif kind == "things":
        form = "digits" if rng.random() < DIGITS_SHARE else "words"
        return " ".join(counting_story(rng, form) for _ in range(rng.randint(1, 2)))
    elif kind == "story":
        return story(rng)
    else:
        return " ".join(qa_prose(rng, *ask(rng)) for _ in range(rng.randint(1, 3)))
    rng.shuffle(sents)
    return " ".join(sents)


def coverage_documents():
    """Every fact a prompt can ask about, stated once in digits (no randomness): the corpus always contains
    them, however small it is. (The random documents then repeat them many times in varied phrasings.)"""
    docs = []
    for name, (pet, colour, home, thing) in PEOPLE.items():
        docs.append(" ".join([write("pet", p=name, pet=pet), write("hat", p=name, colour=colour),
                              write("home", p=name, place=home), write("thing", p=name, thing=thing)]))
    for animal, (_, sound, food) in ANIMALS.items():
        docs.append(f"{write('sound', x=animal, sound=sound)} {write('food', x=animal, food=food)}")
    sizes = [write("bigger", x=x, y=y) for x in sorted(ANIMALS) for y in sorted(ANIMALS) if size(x) > size(y)]
    sums = [write("plus", a=a, b=b, c=a + b) for a in range(ARITH_MAX + 1) for b in range(ARITH_MAX + 1)]
    diffs = [write("minus", a=a, b=b, c=a - b) for a in range(ARITH_MAX + 1) for b in range(a + 1)]
    larger = [write("larger", a=a, b=b) for a in range(NUMBER_MAX + 1) for b in range(a)]
    for facts in (sizes, sums, diffs, larger):
        docs += [" ".join(facts[i:i + 8]) for i in range(0, len(facts), 8)]
    return docs
