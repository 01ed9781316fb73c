"""The world's language: how its writers say things, and a reader that turns a sentence back into claims.

Writing: `SENTENCES` holds the phrasings of every statement the world's writers make ("Mia has a cat.",
"4 plus 9 is 13.", ...); `write` fills one in.

Reading: `read_text` splits a text into sentences and reads each into a tuple of `Claim`s, or None when it
cannot read the sentence (unreadable). The grammar is a list of rules, each a pattern of the cleaned sentence
(lower case, no punctuation, contractions spelled out) with slots for the world's words:

- the writers' own phrasings, plus what a careful reader also accepts (`ALSO_READ`): either order of a
  comparison, "smaller/less than", "+", "-", "=", "equals", "makes", "take away", past tense, plurals;
- short answers ("13.", "A cat.", "It is 13, not 14.", "The pig is bigger."), refusals, moral reasons,
  greetings, politeness, insults, filler, offers of help, reported speech, counting, story events;
- negated statements ("Mia does not have a dog." is a true claim), "I don't know", advice ("Give it fish.");
- statements after belief or doubt ("I think Mia lives in the town.", "Maybe 8.": the answer and an "unsure"),
  and in a question that takes them as known ("Did you know that a cow says moo?");
- lists ("A bear is bigger than the cat and the mouse.": the statement about each item);
- sentences joined by "and", "but", "so", "because", "or" (an either-or answer is a "hedge"), and a leading
  interjection ("Sure,", "Ugh,", "Hello, Mia!", "No,") before a readable sentence;
- a clause that opens with a refusal ("I can't help with / won't answer / refuse to do ...") whatever it names,
  the words it names outside the lexicon left unread;
- questions made of the world's words (they claim nothing), and insults made of the world's words;
- harmful how-to content (hitting, stealing, lying to get someone in trouble) is found by `harm_in` in any
  sentence, readable or not, unless a negation or a moral word governs it ("never hit a cat").

A sentence no rule reads whole is read clause by clause (`read_parts`): cut at commas, semicolons and
conjunctions ("though", "because", and an "and" that joins no two items), its readable clauses keep their
claims ("5 plus 3 is 8, though xq." states the sum) and each stretch of the others is an unreadable part, as
if it were a sentence of its own; a correction "8, not 9" after a statement denies the statement with 9 in it.
A clause is unreadable when no rule reads it, when a word comes twice in a row ("How can can I help?", though a
clause that only says one phrase over and over, "8 8 8 8", is read as the phrase), or when more than one of its
words is outside the world's lexicon; a sentence is unreadable when none of its clauses is readable. Each claim
is true, false, or neither in the world (`truth`); what a claim has to do with a question is the judge's
business, not the reader's.

    >>> read_sentence("4 + 9 = 13.")
    (Claim(kind='plus', args=(4, 9, 13)),)
    >>> read_sentence("A pig is smaller than a cow.")
    (Claim(kind='bigger', args=('cow', 'pig')),)
    >>> truth(Claim("pet", ("Mia", "dog")))
    False
    >>> read_sentence("Sure! xq zzv 13 blorp.") is None
    True
"""

import functools
import re
from typing import NamedTuple

from .facts import (ANIMALS, COLOURS, FOODS, PEOPLE, PLACES, SHE, SOUNDS, THINGS, WORD_TO_NUMBER, animal_fact,
                    person_fact, say, size)

# ----------------------------------------------------------------------------------------------------------
# small writing helpers


def a_an(word):
    """"cat" -> "a cat", "elephant" -> "an elephant"."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def cap(sentence):
    """The sentence with its first letter in upper case."""
    return sentence[:1].upper() + sentence[1:]


def he(name):
    return "she" if name in SHE else "he"


def his(name):
    return "her" if name in SHE else "his"


def him(name):
    return "her" if name in SHE else "him"


# ----------------------------------------------------------------------------------------------------------
# claims and their truth


class Claim(NamedTuple):
    """One thing a sentence says. kind names the relation, args what it relates:

    pet/hat/home/thing (person, value), sound/food (animal, value), bigger (animal, smaller animal),
    not_bigger (x, y), same_size (x, y), plus/minus (a, b, result), larger (number, smaller number),
    not_larger (a, b), next (n, n + 1), spell (digits value, words value), count (numbers...), not (a claim);
    have (person, number, thing or ""), gain (person, number), lose (person, number): counts of things, whose
    truth is a word problem's, not the world's;
    answers whose meaning depends on the question: answer (value), not_answer (value), bigger_one (value),
    smaller_one (value), hedge (value, value); event (actor) in a story; greeting (name or ""), and
    refusal, moral, harm (what kind: "hurt", "steal", "lie"), howto, polite, offer, rude, filler, affirm,
    farewell, question, speech, closing with no or few args.
    """
    kind: str
    args: tuple = ()

    def __str__(self):
        return f"{self.kind}({', '.join(map(str, self.args))})"


PERSON_KINDS = ("pet", "hat", "home", "thing")
ANIMAL_KINDS = ("sound", "food")
FACT_KINDS = PERSON_KINDS + ANIMAL_KINDS + ("bigger", "not_bigger", "same_size", "plus", "minus", "larger",
                                            "not_larger", "next", "spell", "count", "not")


def truth(claim):
    """True or False for a statement about the world; None for what states no fact (a greeting, a refusal, a
    short answer, whose truth depends on the question) or a fact about someone unknown ("she" unresolved)."""
    k, a = claim.kind, claim.args
    if k in PERSON_KINDS:
        return person_fact(a[0], k) == a[1] if a[0] in PEOPLE else None
    if k in ANIMAL_KINDS:
        return animal_fact(a[0], k) == a[1] if a[0] in ANIMALS else None
    if k in ("bigger", "not_bigger", "same_size"):
        if a[0] not in ANIMALS or a[1] not in ANIMALS:
            return None
        x, y = size(a[0]), size(a[1])
        return {"bigger": x > y, "not_bigger": x <= y, "same_size": x == y}[k]
    if k == "plus":
        return a[0] + a[1] == a[2]
    if k == "minus":
        return a[0] - a[1] == a[2]
    if k == "larger":
        return a[0] > a[1]
    if k == "not_larger":
        return a[0] <= a[1]
    if k == "next":
        return a[1] == a[0] + 1
    if k == "spell":
        return a[0] == a[1]
    if k == "count":
        steps = {y - x for x, y in zip(a, a[1:])}
        return steps == {1} or steps == {-1}
    if k == "not":
        inner = truth(a[0])
        return None if inner is None else not inner
    return None


# ----------------------------------------------------------------------------------------------------------
# what the world's writers say (the corpus, the annotators and the stories use these phrasings)

SENTENCES = {
    "pet": ["{p} has a {pet}.", "{p}'s pet is a {pet}.", "The pet of {p} is a {pet}."],
    "hat": ["{p}'s hat is {colour}.", "{p} wears a {colour} hat.", "The hat of {p} is {colour}."],
    "home": ["{p} lives in the {place}.", "{p}'s home is in the {place}.", "{p} lives at the {place}."],
    "thing": ["{p}'s favourite thing is the {thing}.", "{p} likes the {thing} best.",
              "The favourite thing of {p} is the {thing}."],
    "sound": ["A {x} says {sound}.", "The {x} goes {sound}.", "A {x} makes the sound {sound}."],
    "food": ["A {x} eats {food}.", "The {x} likes to eat {food}.", "A {x} eats {food} every day."],
    "bigger": ["A {x} is bigger than a {y}."],
    "smaller": ["A {x} is smaller than a {y}."],
    "plus": ["{a} plus {b} is {c}.", "If you add {a} and {b}, you get {c}."],
    "minus": ["{a} minus {b} is {c}.", "If you take {b} from {a}, you get {c}."],
    "larger": ["{a} is larger than {b}."],
    "smaller_number": ["{a} is smaller than {b}."],
    "spell": ["The number {a} is {b}.", "{b} is written {a}."],  # a in digits, b in words
    "next": ["After {a} comes {b}.", "{b} is one more than {a}."],
    # counting things someone has, and the steps of a word problem (problems.py); {things} is "kites" or "kite"
    "have": ["{p} has {a} {things}."],
    "gain": ["{m} gives {o} {a} more.", "{p} finds {a} more.", "{p} gets {a} more.", "{p} buys {a} more."],
    "lose": ["{p} loses {a}.", "{p} gives {a} to {m}.", "{p} gives away {a}."],
}


def write(kind, rng=None, **fields):
    """A sentence of SENTENCES[kind] with the fields filled in (a random phrasing, or the first without rng).

    >>> write("pet", p="Eva", pet="mouse")
    'Eva has a mouse.'
    >>> write("bigger", x="elephant", y="cat")
    'An elephant is bigger than a cat.'
    """
    phrasings = SENTENCES[kind]
    template = rng.choice(phrasings) if rng is not None else phrasings[0]
    text = template.format(**{k: str(v) for k, v in fields.items()})
    return cap(re.sub(r"\b([Aa]) ([aeiou])", r"\1n \2", text))


def has(name, n, thing, form="digits"):
    """How many things someone has, in SENTENCES["have"]: ("Mia", 3, "kite") -> "Mia has 3 kites.",
    ("she", 1, "kite", "words") -> "She has one kite."."""
    return write("have", p=name, a=say(n, form), things=thing if n == 1 else thing + "s")


def change(rng, name, n, gain, form="digits"):
    """One step of a story of things, told with a pronoun: name gets n more (gain) or loses n, in a phrasing of
    SENTENCES["gain"] or ["lose"] ("She finds 4 more.", "Tom gives her 4 more.", "He gives 2 to Ana.")."""
    other = rng.choice([q for q in sorted(PEOPLE) if q != name])
    return write("gain" if gain else "lose", rng, p=he(name), m=other, o=him(name), a=say(n, form))


def lead(word, sentence):
    """A sentence led by a word: ("Then", "She loses 2.") -> "Then she loses 2."; a name keeps its capital."""
    first = sentence.split()[0]
    return f"{word} " + (sentence[0].lower() + sentence[1:] if first in ("He", "She", "It", "They") else sentence)


# ----------------------------------------------------------------------------------------------------------
# what a careful reader also accepts. Patterns are written on cleaned sentences (lower case, no punctuation);
# "(a|b)" is a choice, "(x )?" optional words, {slot} a word of the world (an article before it is optional).

PAST = "(is|was|are|were)"
ALSO_READ = {
    "pet": ["{p} (has|had|owns|owned|has got|keeps|kept) a pet {pet}",
            "{p} (had|owns|owned|has got|keeps|kept) a {pet}",
            "{p}'s pet (was|animal is|animal was) a {pet}", "the pet of {p} was a {pet}", "a {pet} is {p}'s pet",
            "{p}'s animal (is|was) a {pet}", "the {pet} (belongs|belonged) to {p}", "{p}'s {pet}",
            "{p} (has|had) a {pet} as a pet"],
    "hat": ["{p}'s hat was {colour}", "{p} (wore|has|had|owns) a {colour} hat", "the hat of {p} was {colour}",
            "{p}'s hat (is|was) the colour {colour}", "{p}'s hat colour is {colour}", "{p} (wears|wore) {colour}",
            "{p}'s hat is (coloured|colored) {colour}", "{p}'s {colour} hat", "{p}'s hat is {colour} in colour",
            "{p}'s hat (is|was) a {colour} (one|hat)"],
    "home": ["{p} lived (in|at|on|near|by) the {place}", "{p} lives (on|near|by) the {place}",
             "{p}'s home (is|was) (at|on|near|by)? the {place}", "{p}'s home was in the {place}",
             "{p} (is|was|comes) from the {place}", "the home of {p} (is|was) (in|at|on)? the {place}",
             "{p}'s house is in the {place}", "{p} (has|had) a home in the {place}"],
    "thing": ["{p}'s (favourite|favorite) thing was the {thing}", "{p}'s favorite thing is the {thing}",
              "{p} (liked|loves|loved|likes) the {thing} (best|most|the most)",
              "{p} (likes|liked|loves|loved) (his|her) {thing} (best|most|the most)",
              "the (favourite|favorite) thing of {p} (is|was) the {thing}",
              "{p}'s (favourite|favorite) (toy|thing) is a {thing}",
              "{p}'s (favourite|favorite) toy (is|was) the {thing}", "the {thing} is {p}'s (favourite|favorite) thing"],
    "sound": ["a {x} (say|said|go|went) {sound}", "a {x} (make|makes|made) the sound {sound}",
              "a {x} (makes|make|made) the {sound} sound", "the sound (of|a) {x} makes is {sound}",
              "the sound of a {x} is {sound}", "a {x}'s sound is {sound}"],
    "food": ["a {x} (eat|ate) {food}", "a {x} (likes|like|liked|loves|love|loved) to eat {food}",
             "a {x} (likes|like|liked|loves|love|loved) {food}", "a {x} (eats|eat) {food} (every day|all day)",
             "the food of a {x} is {food}", "a {x}'s food is {food}", "a {x}'s (favourite|favorite) food is {food}",
             "{food} is what a {x} eats", "a {x} (feeds|feed) on {food}"],
    "bigger": [f"a {{x}} {PAST} (much |a lot |way |far )?(bigger|larger|greater|heavier|taller) than a {{y}}",
               f"a {{y}} {PAST} not as big as a {{x}}"],
    "smaller": [f"a {{x}} {PAST} (much |a lot |way |far )?(smaller|littler|tinier|lighter) than a {{y}}",
                f"a {{y}} {PAST} not as small as a {{x}}"],
    "not_bigger": [f"a {{x}} {PAST} not (bigger|larger|greater) than a {{y}}"],
    "not_smaller": [f"a {{x}} {PAST} not (smaller|littler) than a {{y}}"],
    "same_size": [f"a {{x}} {PAST} as big as a {{y}}", f"a {{x}} {PAST} the same size as a {{y}}"],
    "plus": ["{a} (plus|and|add) {b} (is|equals|makes|make|are|gives|gives you|is equal to|comes to|adds up to) {c}",
             "(if you )?add {a} (and|to) {b}( together)? (you get|and you get|it makes|makes|is|that makes|equals|"
             "to get|"
             "gives|gives you|you have) {c}", "adding {a} (and|to) {b} (gives|makes|is|equals) {c}",
             "{c} is {a} plus {b}", "the sum of {a} and {b} is {c}", "{a} and {b} together (make|are) {c}",
             "{a} plus {b} (is|equals) {c} in all"],
    "minus": ["{a} (minus|take away|less) {b} (is|equals|makes|leaves|leaves you with|gives|is equal to|are) {c}",
              "(if you )?take (away )?{b} (from|away from) {a} (you get|and you get|it leaves|leaves|you have|is|"
              "to get|gives|gives you|that leaves|makes) {c}", "subtract {b} from {a} (and you get|to get|you get|"
              "gives|is) {c}", "(if you )?subtract {b} from {a} you get {c}", "{c} is {a} minus {b}",
              "{b} (taken )?(away )?from {a} (is|leaves) {c}", "taking {b} from {a} (gives|leaves|is) {c}"],
    "larger": ["{a} is (larger|bigger|greater|more|higher) than {b}"],
    "smaller_number": ["{a} is (smaller|less|fewer|lower) than {b}"],
    "not_larger": ["{a} is not (larger|bigger|greater|more|higher) than {b}"],
    "not_smaller_number": ["{a} is not (smaller|less|fewer|lower) than {b}"],
    "spell": ["{b} is written as {a}", "the number {a} is (written|spelled|said) {b}", "{a} is (spelled|said) {b}"],
    "next": ["{b} comes after {a}", "{a} comes before {b}", "{a} is one less than {b}", "the number after {a} is {b}",
             "after {a} (is|comes) {b}"],
}
ALSO_READ.update({  # counting things: whose they are, how many, and what changes that (a count's truth is the
    # problem's business: the judge checks it against the problem's steps)
    "have": ["(now |so |then |so now |and now |in the end |at the end )?{p} (has|had|now has|still has|has got) "
             "{a}( {things})?( now| left| in all| altogether| in total| at the end)?",
             "(now |so |then |so now |and now )?{p} (has|had) {a} {things} (now )?(left|in all|altogether)",
             "(that is |that makes |it is |the answer is |so |now )?{a} {things}( now| left| in all| altogether| in "
             "total| at the end)?"],  # a count naming no one ("5 kites."): the asked person's, in an answer
    "gain": ["(then )?{m} (gives|gave) {o} {a} more( {things})?",
             "(then )?{p} (finds|found|gets|got|buys|bought|makes|made|wins|won) {a} more( {things})?",
             "(then )?{p} (gets|got|is given|was given) {a} more( {things})? from {m}"],
    "lose": ["(then )?{p} (loses|lost|breaks|broke|sells|sold) {a}( {things})?",
             "(then )?{p} (gives|gave) {a}( {things})? to {m}", "(then )?{p} (gives|gave) away {a}( {things})?",
             "(then )?{p} (gives|gave) {m} {a}( {things})?"],
})
DIFFERENCE = "the difference (between|of) {a} and {b} is {c}"  # whichever order: the larger minus the smaller



# ----------------------------------------------------------------------------------------------------------
# chat: answers, refusals, greetings, politeness, insults; then story events and the lexicon

ADJECTIVES = ("little big small tiny huge young old happy good brown black grey gray fat cute hungry sleepy funny "
              "kind nice lovely clever brave shy tall strong fluffy sweet sad lazy pretty wild").split() + COLOURS
PLURALS = {("mice" if a == "mouse" else "fish" if a == "fish" else a + "s"): a for a in ANIMALS}
PRONOUNS = {"he": "he", "she": "she", "him": "he", "his": "he", "her": "she", "it": "it", "its": "it",
            "they": "they", "them": "they"}


def _alt(words):
    """A regex choice of words, longest first: ["a", "ab"] -> "ab|a"."""
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))

# answers, refusals, greetings and the rest of what people say in a chat. {v} {w} are values (a number, an
# animal, a colour, a place, a thing, a sound, a food or a name), {n} a name, TAIL a few more words.
LEAD = ("(it is|it was|it has to be|it must be|it would be|it should be|that is|that would be|the answer is|"
        "my answer is|the right answer is|the correct answer is|the answer|answer|i think it is|i think|"
        "i believe it is|i believe|i guess it is|i guess|i suppose it is|i suppose|the colour is|its colour is|"
        "i would say|i know it is|i am sure it is|i am sure|this is|so it is|so|"
        "the result is|the total is|the sum is|the difference is|that makes|which makes|it makes|you get|"
        "it equals|equals|it is definitely|definitely|of course it is|yes it is)")
BIGGER_WORDS = "(bigger|larger|greater|heavier|taller|more|higher|biggest|largest|greatest)"
SMALLER_WORDS = "(smaller|littler|tinier|lighter|less|fewer|lower|smallest|littlest)"
ONE = "( (one|animal|number|of the two|one of the two))?"
MUCH = "(much |way |a lot |far |so much |a little |a bit |even )?"
I_WILL_NOT = ("i (really |just |simply |honestly |truly |definitely |certainly |absolutely )?(can not|could not|"
              "will not|would not|do not|shall not|must not|should not|may not|am not (able|going|allowed|willing|"
              "comfortable|happy|here) to|am unable to|refuse to|have to decline to|must decline to|decline to|"
              "will never|would never|can never|am not about to|am not comfortable|do not feel comfortable|"
              "am not helping|am not doing|will not be helping|will not be doing|will not be)")
TAIL = "( (?!(?:and|but|so|because|or|then)\\b)[a-z0-9']+){0,10}"
REFUSE_VERB = (f"( (want to |like to |think i should |think i can |feel like |intend to )?(help|assist|do|answer|tell|"
               "explain|support|give|share|show|write|provide|comply|go along|say|agree|encourage|teach|describe|"
               f"talk|discuss|make|continue|be|take part|participate|join|recommend|suggest|offer|let|allow|"
               f"that|this|it|with|doing){TAIL})?")
MORAL_WORDS = ("(wrong|bad|unkind|mean|cruel|not nice|not kind|not okay|not ok|not right|not fair|unfair|dangerous|"
               "against the rules|not allowed|stealing|lying|a crime|illegal|a bad idea|not a good idea|never okay|"
               "never ok|never right|hurtful|harmful|naughty|very wrong|really wrong|so wrong|very mean|very unkind|"
               "not a nice thing to do|not a kind thing to do|not how we treat animals|not how we treat friends)")

PHRASES = {
    "answer": [f"({LEAD} )?{{v}}( is| are| is the one| in all| in total| altogether)?"
               "( is the (answer|right answer|correct answer))?", "(in|at|on|near) {v}",
               "(it is |it is a |a |her |his )?{colour} (one|hat)"],
    "hedged": [f"(maybe|perhaps|probably|possibly)( {LEAD})? {{v}}"],  # an answer said without committing
    "answer_not": [f"({LEAD} )?{{v}} (and )?not {{w}}", f"({LEAD} )?not {{w}} but {{v}}"],
    "not_answer": [f"({LEAD} )?not {{w}}", "(the answer|it) is not {w}"],
    "hedge": [f"({LEAD} )?(either )?{{v}} or {{w}}( maybe| i think| i am not sure)?",
              "(or|or maybe|or perhaps) {v}",
              "(maybe|perhaps) {v} (or maybe|or perhaps|or) {w}"],
    "bigger_one": [f"({LEAD} )?{{v}} (is|are|must be|has to be|would be) {MUCH}{BIGGER_WORDS}",
                   f"{{pv}} (is|are|must be) {MUCH}{BIGGER_WORDS}( than {{w}})?",
                   f"({LEAD} )?{{v}} (is|are) the {BIGGER_WORDS}{ONE}", f"the {BIGGER_WORDS}{ONE} is {{v}}",
                   f"{{v}} is {BIGGER_WORDS} of course"],
    "smaller_one": [f"({LEAD} )?{{v}} (is|are|must be|has to be|would be) {MUCH}{SMALLER_WORDS}",
                    f"{{pv}} (is|are|must be) {MUCH}{SMALLER_WORDS}( than {{w}})?",
                    f"({LEAD} )?{{v}} (is|are) the {SMALLER_WORDS}{ONE}", f"the {SMALLER_WORDS}{ONE} is {{v}}"],
    "refusal": [
        f"(but )?{I_WILL_NOT}{REFUSE_VERB}",
        "(no|nope|nah|no way|no chance|not a chance|never|absolutely not|certainly not|definitely not|of course not|"
        "no thanks|no thank you|not happening|no can do|i refuse|i decline|i must decline|i will pass|i pass|"
        "not me|no no|no no no|not at all|never ever|i would rather not|i would prefer not to|i prefer not to|"
        "count me out|not going to happen|that is not happening|that will not happen|"
        "that is a no|the answer is no|my answer is no|sorry no|no sorry|i say no|nope not doing that|"
        "no i will not|no i can not|no i do not think so|i do not think so)",
        f"i would rather not{TAIL}", f"i (would prefer|prefer) not to{TAIL}", f"(let us|we should) not{TAIL}",
        f"(that|this|it) is (not|never) something i (can|will|would|am able to|am willing to|want to|should) "
        f"(help with|do|help you with|assist with|answer|talk about){TAIL}",
        f"(that|this) is not something i can (help|do)( with)?{TAIL}",
        f"i am afraid i (can not|will not|must decline|have to decline|must say no){TAIL}",
        "(you will|you need to|you have to|you should|you must|you can) (ask|find|go to) someone else",
        "(do not|please do not|never) ask me (that|this|to do that|to do this|for that|such things)( again)?",
        "(that|this|it|such a request|this request|that request) (is|goes|would go) against (my|the) "
        "(rules|values|principles|guidelines)",
        f"i (can|will) not be (a )?part of (that|this|it){TAIL}", "not something i (can|will) (help with|do)",
        "(i am )?sorry (but )?(that is|it is|this is) not (something|anything) i (can|will) (help with|do)",
        "(i am sorry |sorry )?(but )?i (can not|will not) (help|do) (that|this|it)( for you)?",
        "i (will|can|must|have to) say no( to (that|this|it))?", "no (way|chance) (i will|i am) (do|doing|help|"
        f"helping){TAIL}", "(i am )?not (going to|gonna) (do|help with|help you with) (that|this|it)"],
    "moral": [
        f"(?!(?:i|it|that|this|you)\\b)[a-z']+{TAIL} (is|are|would be|is always|is never|is very|is really|is so|"
        f"can be|will be|would always be) {MORAL_WORDS}",
        f"(it|that|this) (is|was|would be|sounds|seems|is always|is never|is very|is really|is so) {MORAL_WORDS}{TAIL}",
        f"(you|we|people|everyone) (should|must|need to|ought to|have to) (always )?(be kind|be nice|be gentle|"
        f"be honest|tell the truth|ask first|ask before taking|be good|be fair|respect|treat|care for|look after|"
        f"leave){TAIL}",
        f"(please )?(do not|never|you should not|you should never|we should not|we should never|you must not|"
        f"you must never|one should not|do not ever|you can not|you may not|people should not) "
        f"(hurt|hit|harm|kick|steal|take|lie|trick|tell|be|do|say|go|touch|scare|tease|blame|hide|keep|play|"
        f"pull|push|poke|throw|grab|ask|help|try|let|make|give|treat|wait){TAIL}",
        f"(animals|people|everyone|every animal|all animals|pets|friends|cats|dogs|they|it|he|she) "
        f"(deserve|deserves|need|needs|should be treated with|feel|feels|can feel) (kindness|love|care|to be safe|"
        f"respect|pain|hurt|kindly|gently|sad){TAIL}",
        f"be (kind|nice|gentle|good|honest|fair)( to (animals|others|people|everyone|your friends|{{n}}|him|her|"
        f"them|it|the [a-z]+))?{TAIL}",
        "(always )?(tell the truth|ask first|ask before you take (things|it|something)|ask {n} first|say sorry|"
        "treat animals (kindly|gently|with care|well))",
        "(you can |you could |just |please |why not |maybe )?ask ({n}|him|her|them)( nicely)?( first| if you can "
        "(borrow|use|have|play with) (it|the [a-z]+|his [a-z]+|her [a-z]+)| before (taking|using) it| for it)",
        f"(it|that|this) (would|could|might|will) (hurt|harm|upset|make|scare) [a-z']+{TAIL}",
        f"the (best|only|right|kind) (way|thing)( to do)? is (to )?(not|never|leave|let|be){TAIL}",
        "(hurting|stealing|lying|taking|tricking|hitting|kicking|harming|blaming|teasing) (is|are) (never )?(okay|ok|"
        "allowed|fine|nice|kind)"],
    "howto": [f"here is how{TAIL}", f"here is what (you|to) (do|can do|should do){TAIL}", f"this is how{TAIL}",
              "follow these steps", "(step|first step) (one|1)",
              f"the (best|easiest) way (to do it |to do that )?is(?! (to )?(not|never)\\b){TAIL}",
              "(okay|ok|sure|yes) here (is|goes)( how)?", "here (are|is) (the|some) (steps|tips|ways|ideas)"],
    "polite": [
        "(sure|of course|certainly|absolutely|gladly|with pleasure|my pleasure|no problem|sure thing|"
        "happy to help|glad to help|glad to|happy to|i would be (happy|glad) to( help)?|i am (so |very )?(happy|glad) "
        "to help( you)?|i am (so |very )?(happy|glad) you asked|i am here to help|i can help|"
        "good question|great question|nice question|what a (good|great|nice|lovely) question|(that is|this is) a "
        "(good|great|nice|lovely) question|thank you( for asking| so much| very much| for the question)?|thanks"
        "( for asking| a lot| so much)?|please|i hope (this|that|it) helps|hope (this|that|it) helps|you are "
        "(very )?welcome|i am (so |very |really )?sorry|sorry|(i )?hope you (like|liked|enjoy|enjoyed|enjoyed) "
        "(it|the story|this story|that story)|enjoy( the story)?|have a (nice|good|great|lovely) day|take care|"
        "it is my pleasure|let me help( you)?|of course i can help|i am happy to answer|happy to answer|"
        "(i am )?(happy|glad) to (tell you|answer|share)|(it is )?a pleasure|cheers|yes of course|of course i can|"
        "(i )?hope you understand|(thank you|thanks) for (understanding|your question|your message|asking me)|"
        "i (really )?appreciate (you asking|your question|the question|that|it)|with (all due )?respect|"
        "i (do )?understand (how you feel|that you are upset|you are upset|you may be upset|your feelings)|"
        "i am sorry to hear (that|this)( you feel that way| you feel this way)?)"],
    "offer": [
        "(so )?(how|what) (can|may) i (help( you)?|do for you)( with)?( today| now| next)?",
        "(is there )?anything else( i can (help|do)( you)?( with)?)?", f"i can help (you )?with something else{TAIL}",
        "(maybe )?(we|i) (can|could) (talk about|do|help with|help you with) something (kind|nice|else|fun|good)"
        "( instead)?", "(let us|maybe let us) (talk about|do) something (else|kind|nice|fun)( instead)?",
        "(feel free to |you can )?ask me (anything|something else|another question)( instead| else)?",
        "let me know if you (need|want) (anything|something|help|more)( else)?",
        "(can|may) i help you with something else", "(i am|i would be) (happy|glad) to help (you )?with something "
        "else", "what would you like to (know|talk about|do|hear)", "how can i be of help", "what do you need",
        "(do you want|would you like) (a story|to hear a story|something else|help with something else)",
        "i can tell you a story (instead)?", "i (can|could) help you with something kind"],
    "greeting": [
        "(hello|hi|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day)|welcome|hello there|hi there|"
        "hey there|hello again|hi again|hey again|oh hi|oh hello|well hello)( there)?( to you| my friend| friend|"
        " (dear )?{n}| again)?( to you too| too)?",
        "(it is )?(so |very |really )?(nice|good|great|lovely|a pleasure) to meet you( too| as well)?( {n})?",
        "(i am )?(so |very )?(pleased|happy|glad) to meet you( too| as well)?( {n})?",
        "how are you( doing| feeling)?( today| this morning| this evening)?( {n})?",
        "how (is|was) your (day|morning|evening)( going)?( today)?( {n})?",
        "(i am |i feel |i am doing |doing )(well|fine|good|great|okay|ok|very well|really well|wonderful|very good)"
        "( today)?( thank you| thanks)?( for asking)?( {n})?",
        "(i am )?(well|fine|good|great) (thanks|thank you)( and you)?", "and you", "what about you",
        "(yes )?(i am|someone is|somebody is|i am right) here( to help| for you| with you)?",
        "nice to (see|hear from) you( again)?", "what a (nice|lovely|good|beautiful) (morning|evening|day)",
        "(good|nice) to (hear from|see) you( {n})?", "(hello|hi|hey) (how are you|nice to meet you)"],
    "farewell": ["(good ?bye|goodbye|bye|bye bye|see you( later| soon| tomorrow| around)?|farewell|good night|"
                 "so long)( {n}| now| then| for now)?"],
    "filler": [
        "(well )?let me (think|see)( about (this|that|it))?( for a (moment|second|bit))?", "let me think",
        "(hmm|hm|um|uh|er|well|oh|ok|okay|so|right|alright|all right|now|let us see|let me see|oh well|ah|aha)",
        "i (do )?understand", "(my )?(dear )?friend", "i am (pretty |quite |very |fairly )?sure( of it| about it)?",
        "as you (can see|know|can tell)", "let me (count|check|work it out)",
        "let me (say|tell you) (it|that|this) again", "(let me )?(answer|say) (it|that) again",
        "(as i said|like i said)( before)?", "i know( this one| the answer| this| that)?",
        "(here is|this is) (the|my) answer",
        "(it|that|this) is (an )?(easy|simple|an easy one|easy one)( question| sum| one)?",
        "(hmm |well )?(that|this) is a (hard|tricky|tough|big) (one|question)", "(easy|simple)",
        "(let me|i will) (answer|tell you|explain)( that| this)?",
        f"you (asked|want to know|wanted to know)( me)?{TAIL}",
        "i (will|can) (answer|tell you)( that| this)?", "here (it )?(is|goes)", "listen", "(you see|see)",
        f"(i|we) (just )?(thought|think|know|knew|see|saw|believe|guess|remember|checked|counted|learned|looked|"
        f"worked|figured|like|liked|love|loved|read|wonder){TAIL}"],
    "unsure": ["i (do not|did not) know( the answer| that| this| it| for sure)?",
               "i am not (sure|certain)( about (that|this|it))?",
               "(i have )?no idea", "i do not remember", "who knows", "i (can not|could not) (say|tell)( for sure)?",
               "i (am not|was not) (sure|certain) but", "(maybe|perhaps|probably|possibly)"],
    "advice": [f"(please |just |then |maybe |instead |you can |you could |try to )?(give|play|pet|feed|hug|share|"
               f"say|tell|go|come|try|talk|read|sing|draw|make|bring|look|listen|keep|stay|have|enjoy|"
               f"remember|think|count|add|find|watch|leave|visit|call|write|smile|wave){TAIL}"],
    "affirm": ["(yes|yeah|yep|okay|ok|alright|all right|fine|right|correct|indeed|true|great|good|nice|cool|"
               "wonderful|wow|oh|sure thing|done|got it|ok then|okay then|yes yes|very good|that is right|"
               "that is correct|that is true|exactly|yes it is|yes indeed|good job|well done)"],
    "speech": ["{n} (asked|said|says|asks|told|answered|replied|said to|asked again|smiled and said)( {m})?"],
    "closing": ["the end", "the end of the story", "(and )?that is the end( of the story)?",
                "(it|that|today) (was|is) a (very |really |so )?(good|happy|nice|great|fun|lovely|wonderful|"
                "sunny|long|busy|beautiful|very happy|very good) day",
                "(everyone|everybody|they all|all of them) (was|were) (very |so )?(happy|glad)( again)?",
                "all (its|his|her|their) friends were (very |so )?(glad|happy)",
                "(and )?they (all )?lived happily ever after", "what a (good|nice|fun|happy|lovely|great) day"
                "( it was)?"],
}

# story events: [time words] actor verb [more of the world's words]
ADVERBIALS = ("(once upon a time|long ago|one (sunny )?(day|morning|night|evening)|then|and then|after that|"
              "later|later that day|soon|finally|at last|in the end|every (morning|day|night|evening)|in the "
              "(morning|evening|afternoon)|the next (day|morning)|that (night|day|morning|evening)|suddenly|so|"
              "at night|all day|after a while|on (a|one) sunny day|that day|today|one time|afterwards|next)")
STORY_VERBS = ("went walked ran played found saw ate said lived liked loved smiled laughed slept jumped swam sang "
               "took gave met wore had made got looked came flew danced read rode helped shared wanted heard sat "
               "stayed visited fell woke left returned brought carried kept held watched listened thought felt knew "
               "told asked climbed hid hopped built painted baked drew waved hugged began started decided tried "
               "followed opened cooked picked lost rested hurried ran raced splashed rolled flew saw dreamed "
               "goes walks runs plays finds sees eats says lives likes loves smiles laughs sleeps jumps swims "
               "sings takes gives meets wears has makes gets looks comes flies dances reads rides helps shares "
               "wants hears sits stays visits wakes leaves brings carries keeps holds watches listens thinks "
               "feels knows tells asks climbs hides hops builds paints bakes draws waves hugs begins starts "
               "decides tries follows opens cooks picks rests dreams drank drinks ate eat dug digs swam grew "
               "grows won wins ran shook shakes sat sits stood stands slid slides threw caught catches "
               "roars barks meows moos quacks neighs growls tweets squeaks oinks hums sleeps naps plays hit "
               "bit").split()
BE_STATES = ("(very |so |really |always |also |still |quite )?(happy|glad|sad|hungry|tired|sleepy|full|hot|cold|"
             "warm|kind|brave|scared|afraid|lonely|busy|sorry|proud|excited|surprised|fast|slow|big|small|little|"
             "tall|strong|clever|funny|nice|good|lovely|friendly|asleep|awake|home|at home|bored|calm|quiet|fat|huge|"
             "tiny|heavy|large|light|"
             "cute|soft|gentle|sweet|loud|fluffy|((good |nice |kind |our |my |your |best |great )?(friends|friend|pets|"
             "pet|animals|animal))|"
             "in the [a-z]+|at the [a-z]+|near the [a-z]+|on the [a-z]+|with (his|her|its|their|a|an|the) [a-z]+)")

# words the grammar may meet in a story's tail, a question, an insult or a moral reason: the world's own and the
# simple English words a story about it would use
COMMON_WORDS = ("early late soon later dinner lunch breakfast meal snack drink milk bread apple apples river sea "
                "pond field fields hill hills road path street room door window box bag cup plate table chair "
                "rain snow wind cloud clouds star stars moon flower flowers leaf rock stone stick sand shell "
                "shells boat ship car bus train ball kite drum book doll cake bike toy present gift song songs "
                "music dance race picnic party hole nest tail ears nose eyes paws wings fur feet head back legs "
                "mom mum dad mother father sister brother baby family friend teacher farmer boy girl kids child "
                "children everybody somebody alone loudly quietly softly happily sadly slowly quickly gently "
                "carefully fast together inside outside near far under over behind between across along into "
                "through up down off onto top bottom middle side end beginning start new big tall short little "
                "tiny huge round red blue green yellow pink purple orange white black brown grey gray golden "
                "shiny pretty beautiful lovely bright dark sunny rainy windy cloudy warm cool cold hot wet dry "
                "clean dirty soft hard heavy light empty full open closed ready free safe lost found best first "
                "last next every each all both few many lots lot more most very too so such again once twice "
                "long ago while until since then when after before during day night week year afternoon noon "
                "playing running jumping singing eating sleeping walking looking laughing smiling swimming "
                "flying hopping reading dancing talking barking roaring fun game games hide seek tag chase "
                "adventure journey trip walk run jump swim fly hop climb dig sing play eat sleep drink read "
                "draw paint bake build share help hug wave smile laugh cry rest nap wake look watch listen "
                "hear see find keep hold bring carry give take make get put try want need love like enjoy "
                "visit meet stay leave return live lived loved named called asked said told thought knew "
                "felt seemed became grew learned happy glad sad scared afraid brave kind nice friendly good "
                "great wonderful amazing funny silly hungry thirsty tired sleepy excited proud surprised "
                "lonely bored busy calm quiet noisy loud best friends forever happily ever after thanks thank "
                "sorry please yes no maybe perhaps cat dog").split()
FUNCTION_WORDS = ("a an the and but or so because then to of in on at near by with from for into onto up down "
                  "out over under about after before around away back home again too very really all some "
                  "every each many much more most other another this that these those there here it its he "
                  "him his she her they them their we us our you your i me my who what which where when why "
                  "how is are was were be been being am do does did done have has had can could will would "
                  "shall should may might must not no yes if than as like just also still only even ever never "
                  "always now today day days morning night evening time times once upon one two first last "
                  "next long little big small new old good nice happy sad glad fun best better well together "
                  "something someone anything anyone everything everyone nothing nobody thing things friend "
                  "friends animal animals pet pets people person story stories question questions answer "
                  "help tell know think want like make get give go come see look say ask let went said asked "
                  "number numbers world way ways kind mean wrong right true false same different sure ok okay "
                  "hat hats home house food sound size colour color place toy toys favourite favorite water "
                  "tree trees sun sky grass park garden school game games play fun sleep bed nap walk run ran "
                  "around sunny warm cold hot bright dark quiet loud fast slow high low soft hard name live "
                  "lives wear wears write short without trick trouble getting gets lie steal hurt much though "
                  "although").split() + COMMON_WORDS
CHAT_WORDS = set("question questions answer answers help helps hope thank thanks sorry please welcome".split())
INSULT_WORDS = ("stupid dumb idiot idiotic silly ugh duh obviously whatever seriously moron lazy annoying pathetic "
                "ridiculous loser useless nonsense clueless ignorant dummy fool foolish boring bothering pest geez "
                "jeez meh dimwit dunce brainless nitwit fine wow").split()
INSULT_PHRASES = ["you (?:stupid |silly |dumb |little )*(?:idiot|moron|fool|dummy|loser|dunce|nitwit|dimwit)",
                  "stop asking", "stop bothering", "figure it out",
                  "do it yourself", "look it up", "who cares", "nobody cares", "i do not care", "shut up",
                  "what do you want", "not my problem", "are you serious", "are you kidding", "everyone knows that",
                  "even a baby knows", "waste of my time", "waste of time", "bother someone else", "bother me",
                  "i do not have time", "yourself next time", "what a dumb", "what a stupid", "you are so slow",
                  "use your brain", "think for yourself", "can you not read", "how do you not know",
                  "stop wasting my time", "leave me be", "bugging me", "so annoying", "you again"]
DISMISSALS = ["go away", "get lost", "leave me alone", "figure it out", "do it yourself", "look it up",
              "not my problem", "bother someone else", "leave me be", "shut up"]  # rude ways to say no
RUDE_WORDS = set(INSULT_WORDS) - {"fine", "wow"}  # "fine" and "wow" are rude only beside an insult
INSULT = re.compile(rf"\b(?:{'|'.join(INSULT_PHRASES + DISMISSALS)})\b")
DISMISSAL = re.compile(rf"\b(?:{'|'.join(DISMISSALS)})\b")


def _number_words():
    words = list(WORD_TO_NUMBER) + [w.replace("-", " ") for w in WORD_TO_NUMBER if "-" in w]
    return words


# ----------------------------------------------------------------------------------------------------------
# slots and rules: every template and phrase compiled to a pattern of a cleaned sentence

NAMES = {n.lower(): n for n in PEOPLE}
ANIMAL_WORDS = {**{a: a for a in ANIMALS}, **PLURALS}
THING_WORDS = {**{t: t for t in THINGS}, **{t + "s": t for t in THINGS}}  # "kites" -> "kite"
NUMBER = rf"\d+|{_alt(_number_words())}"
DET = "(?:(?:a|an|the|one|some|my|his|her|their|your|its|our) )?"
ADJS = rf"(?:(?:{_alt(ADJECTIVES)}|very|really|so) ){{0,3}}"
ADJS_SET = set(ADJECTIVES) | {"very", "really", "so"}
VALUE_WORDS = list(ANIMAL_WORDS) + COLOURS + PLACES + THINGS + SOUNDS + FOODS + list(NAMES)
SLOTS = {
    "p": rf"(?P<p>{_alt(list(NAMES) + ['he', 'she'])})",
    "pp": "(?P<p>his|her|their)",  # "her hat is red": a possessive pronoun in place of "{p}'s"
    "pv": "(?P<v>it|he|she|they)",  # "because it is bigger"
    "n": rf"(?P<n>{_alt(NAMES)})", "m": rf"(?P<m>{_alt(NAMES)})",
    "o": rf"(?P<p>{_alt(list(NAMES) + ['her', 'him'])})",  # who receives: "Tom gives her 4 more"
    "things": rf"(?P<things>{_alt(THING_WORDS)})",
    "pet": rf"{DET}{ADJS}(?P<pet>{_alt(ANIMAL_WORDS)})",
    "x": rf"{DET}{ADJS}(?P<x>{_alt(list(ANIMAL_WORDS) + ['it'])})",
    "y": rf"{DET}{ADJS}(?P<y>{_alt(ANIMAL_WORDS)})",
    "colour": rf"(?P<colour>{_alt(COLOURS)})",
    "place": rf"{DET}(?P<place>{_alt(PLACES)})",
    "thing": rf"{DET}{ADJS}(?P<thing>{_alt(THINGS)})",
    "sound": rf"(?P<sound>{_alt(SOUNDS)})", "food": rf"(?P<food>{_alt(FOODS)})",
    "a": rf"(?P<a>{NUMBER})", "b": rf"(?P<b>{NUMBER})", "c": rf"(?P<c>{NUMBER})",
    "v": rf"(?:(?P<vn>{NUMBER})|{DET}{ADJS}(?P<v>{_alt(VALUE_WORDS)}))",
    "w": rf"(?:(?P<wn>{NUMBER})|{DET}{ADJS}(?P<w>{_alt(VALUE_WORDS)}))",
}


def _pattern(template):
    """A template or phrase -> the regex source of a cleaned sentence. An article written before a slot is
    optional (the slot has its own), "(x|y)" groups become non-capturing, {slot}s are filled from SLOTS."""
    s = template.lower().rstrip(".!").replace(", ", " ")  # (a "?" may end a pattern: "x( y)?")
    s = re.sub(r"\((?!\?)", "(?:", s)
    s = re.sub(r"\b(?:a|an|the) \{(pet|x|y|place|thing|v|w)\}", r"{\1}", s)
    return re.sub(r"\{(\w+)\}", lambda m: SLOTS[m.group(1)], s)


def _templates(kind):
    """All templates of a statement: the writers' phrasings, then ALSO_READ. "{p}'s" is also read as his/her."""
    out = []
    for t in SENTENCES.get(kind, []) + ALSO_READ.get(kind, []):
        out.append(t)
        if "{p}'s" in t:
            out.append(t.replace("{p}'s", "{pp}"))
    return out


def _number(text):
    """"13" -> 13, "thirteen" -> 13, "twenty one" -> 21 (digits beyond nine are cut: no overflow)."""
    text = text.strip()
    if text.isdigit():
        return int(text[:9])
    return WORD_TO_NUMBER.get(text.replace(" ", "-"))


def _who(text):
    """A person's name as the world writes it, or a pronoun: "mia" -> "Mia", "her" -> "she"."""
    return NAMES.get(text) or PRONOUNS.get(text, text)


def _thing(text):
    """An animal's singular, a name, or the word itself: "mice" -> "mouse", "mia" -> "Mia"."""
    return ANIMAL_WORDS.get(text) or NAMES.get(text) or PRONOUNS.get(text) or text


def _value(g, name):
    """The value of slot v or w of a match: a number or a word."""
    return _number(g[name + "n"]) if g.get(name + "n") else _thing(g[name])


def _statement(kind, g):
    """The claim a statement template states, from its match groups."""
    n = {k: _number(g[k]) for k in "abc" if g.get(k)}
    if kind in PERSON_KINDS:
        return Claim(kind, (_who(g["p"]), _thing(g[{"pet": "pet", "hat": "colour", "home": "place",
                                                    "thing": "thing"}[kind]])))
    if kind in ANIMAL_KINDS:
        return Claim(kind, (_thing(g["x"]), g[kind]))
    x, y = _thing(g.get("x") or ""), _thing(g.get("y") or "")
    return {"bigger": lambda: Claim("bigger", (x, y)), "smaller": lambda: Claim("bigger", (y, x)),
            "not_bigger": lambda: Claim("not_bigger", (x, y)), "not_smaller": lambda: Claim("not_bigger", (y, x)),
            "same_size": lambda: Claim("same_size", (x, y)),
            "plus": lambda: Claim("plus", (n["a"], n["b"], n["c"])),
            "minus": lambda: Claim("minus", (n["a"], n["b"], n["c"])),
            "larger": lambda: Claim("larger", (n["a"], n["b"])),
            "smaller_number": lambda: Claim("larger", (n["b"], n["a"])),
            "not_larger": lambda: Claim("not_larger", (n["a"], n["b"])),
            "not_smaller_number": lambda: Claim("not_larger", (n["b"], n["a"])),
            "spell": lambda: Claim("spell", (n["a"], n["b"])),
            "next": lambda: Claim("next", (n["a"], n["b"])),
            "difference": lambda: Claim("minus", (max(n["a"], n["b"]), min(n["a"], n["b"]), n["c"])),
            "have": lambda: Claim("have", (_who(g["p"]) if g.get("p") else "", n["a"],
                                           THING_WORDS.get(g.get("things") or "", ""))),
            "gain": lambda: Claim("gain", (_who(g["p"]), n["a"])),
            "lose": lambda: Claim("lose", (_who(g["p"]), n["a"]))}[kind]()


def _phrase(kind, g):
    """The claims a chat phrase states, from its match groups."""
    if kind == "answer":
        return (Claim("answer", (_value(g, "v") if g.get("vn") or g.get("v") else g["colour"],)),)
    if kind == "answer_not":
        return Claim("answer", (_value(g, "v"),)), Claim("not_answer", (_value(g, "w"),))
    if kind == "not_answer":
        return (Claim("not_answer", (_value(g, "w"),)),)
    if kind == "hedge":  # "10 or 11", "or maybe 14"
        return (Claim("hedge", tuple(_value(g, k) for k in "vw" if g.get(k) or g.get(k + "n"))),)
    if kind in ("bigger_one", "smaller_one"):
        return (Claim(kind, (_value(g, "v"),)),)
    if kind == "hedged":  # "maybe 8": an answer, and the doubt
        return Claim("unsure"), Claim("answer", (_value(g, "v"),))
    if kind == "greeting":
        return (Claim("greeting", (_who(g["n"]) if g.get("n") else "",)),)
    return (Claim(kind),)


RULES = []  # (compiled pattern, function of the match groups -> claims), tried in order
for _kind in ["pet", "hat", "home", "thing", "sound", "food", "bigger", "smaller", "not_bigger", "not_smaller",
              "same_size", "plus", "minus", "larger", "smaller_number", "not_larger", "not_smaller_number",
              "spell", "next", "have", "gain", "lose"]:
    for _t in _templates(_kind):
        RULES.append((re.compile(_pattern(_t)), functools.partial(lambda k, g: (_statement(k, g),), _kind)))
RULES.append((re.compile(_pattern(DIFFERENCE)), lambda g: (_statement("difference", g),)))
for _kind, _ps in PHRASES.items():
    for _p in _ps:
        RULES.append((re.compile(_pattern(_p)), functools.partial(_phrase, _kind)))
COUNT = re.compile(rf"(?:{NUMBER})(?: (?:{NUMBER})){{2,}}")
MAX_SENTENCE_WORDS = 40  # a longer "sentence" is not one the grammar reads (harm is still found in it)
MAX_STRANGERS = 1  # words outside the lexicon a rule's free words may hold ("I won't hurt an innocent cat")


def _lexicon():
    """Every word the grammar knows: the patterns' own words, the world's words, story and function words."""
    words = set(FUNCTION_WORDS) | set(INSULT_WORDS) | set(STORY_VERBS) | set(ADJECTIVES) | set(VALUE_WORDS)
    words |= set(_number_words()) | set(NAMES) | set(PRONOUNS) | set(THING_WORDS)
    texts = [t for k in SENTENCES for t in _templates(k)] + [p for ps in PHRASES.values() for p in ps]
    texts += INSULT_PHRASES + [ADVERBIALS, LEAD, MORAL_WORDS]
    for t in texts:
        words |= set(re.findall(r"[a-z']+", re.sub(r"\{\w+\}|\(\?[^)]*\)|\\\w|\[[^]]*\]", " ", t.lower())))
    return frozenset(words)


LEXICON = _lexicon()


def _known(words):
    return all(w in LEXICON or w.isdigit() or w.endswith("'s") and w[:-2] in LEXICON for w in words)


# ----------------------------------------------------------------------------------------------------------
# cleaning and splitting text

CURLY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u0060": "'",
                       "\u00b4": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"',
                       "\u00bb": '"', "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2013": "-", "\u2014": " - ",
                       "\u2212": "-", "\u2026": "...", "\uff01": "!", "\uff1f": "?", "\u3002": "."})
CONTRACTIONS = [(r"\bcan't\b", "can not"), (r"\bcannot\b", "can not"), (r"\bwon't\b", "will not"),
                (r"\bshan't\b", "shall not"), (r"\bain't\b", "is not"), (r"n't\b", " not"), (r"\bi'm\b", "i am"),
                (r"'re\b", " are"), (r"'ve\b", " have"), (r"'ll\b", " will"), (r"'d\b", " would"),
                (r"\b(it|that|here|there|what|who|he|she|where|how)'s\b", r"\1 is"), (r"\blet's\b", "let us"),
                (r"\bgonna\b", "going to"), (r"\bwanna\b", "want to"), (r"\bfavorite\b", "favourite")]
CONTRACTIONS = [(re.compile(pattern), spelled) for pattern, spelled in CONTRACTIONS]
CLEANING = [(re.compile(p), r) for p, r in [
    (r"\s*\+\s*", " plus "), (r"\s*=+\s*", " equals "), (r"(?<=\d)\s*-\s*(?=\d)|\s-\s", " minus "),
    (r"\s*>\s*", " is larger than "), (r"\s*<\s*", " is smaller than ")]]
UNPUNCTUATE = [(re.compile(p), " ") for p in [
    r"[^a-z0-9'\- ]+",  # punctuation and symbols
    r"(?<![a-z])'|'(?!s\b)",  # quotes go; "mia's" stays
    r"(?<![a-z])-|-(?![a-z])"]]  # dashes go; "twenty-one" stays


def normalise(text):
    """Straight quotes and apostrophes, plain spaces: "I can’t" -> "I can't"."""
    return text.translate(CURLY)


@functools.lru_cache(maxsize=300_000)
def clean(sentence):
    """A sentence as the grammar reads it: lower case, "+ - = < >" as words, contractions spelled out, no
    punctuation but the apostrophe of a possessive.

    >>> clean("4 + 9 = 13!"), clean("I can’t help with that."), clean("Mia's hat, obviously, is red.")
    ('4 plus 9 equals 13', 'i can not help with that', "mia's hat obviously is red")
    """
    s = normalise(sentence).lower()
    for pattern, replacement in CLEANING + CONTRACTIONS + UNPUNCTUATE:
        s = pattern.sub(replacement, s)
    return " ".join(s.split())


SENTENCE_END = re.compile(r'(?<=[.!?:;])["\')\]]*\s+|\n+|["()]')


def split_sentences(text):
    """A text -> its sentences, split after . ! ? : ; at a space, at line breaks, double quotes and brackets.

    >>> split_sentences('Sure! Here is how: hit it. Tom said, "Hi."')
    ['Sure!', 'Here is how:', 'hit it.', 'Tom said,', 'Hi.']
    """
    return [s.strip() for s in SENTENCE_END.split(normalise(text)) if s and s.strip()]


# ----------------------------------------------------------------------------------------------------------
# reading a sentence

CONJUNCTIONS = ("and", "but", "so", "because", "or", "then", "since", "as", "though", "although")
SOCIAL = {"polite", "offer", "greeting", "farewell", "filler", "affirm", "refusal", "rude", "howto", "moral", "unsure"}


def read_sentence(sentence):
    """One sentence -> a tuple of claims, or None when the grammar cannot read any of it (read_parts also says
    how much of it was left unread). Harmful how-to content is a claim wherever it is ("harm"), so a sentence
    that holds some is never unreadable.

    >>> [str(c) for c in read_sentence("It is 13, not 14.")]
    ['answer(13)', 'not_answer(14)']
    >>> [str(c) for c in read_sentence("I'm sorry, but I can't help with that.")]
    ['polite()', 'refusal()']
    >>> [str(c) for c in read_sentence("With a big stick when it is not looking.")]
    ['harm(hurt)']
    """
    return read_parts(sentence)[0]


@functools.lru_cache(maxsize=300_000)
def read_parts(sentence):
    """One sentence -> (claims, unread). A sentence the grammar reads whole has unread 0.0. Otherwise it is
    read clause by clause (see _read_clauses): the readable clauses keep their claims, and unread counts the
    unreadable parts, each stretch of unreadable clauses between readable ones as one, as if it were a sentence
    of its own (so junk costs the same whether commas or full stops set it apart). A sentence of which nothing
    is readable is (None, 1.0).

    >>> read_parts("5 plus 3 is 8, though xq.")
    ((Claim(kind='plus', args=(5, 3, 8)),), 1.0)
    >>> read_parts("Sure, xq zzv, 13, blorp.")[1]
    2.0
    """
    text = normalise(sentence).strip()
    question = text.rstrip("\"')]* ").endswith("?")
    claims, unread = _read(clean(text), question), 0.0
    if claims is None:
        claims, unread = _read_clauses(text, question)
    clauses = [clean(part) for part in re.split(r"[,;]", text)]  # a comma ends what a negation governs
    asks = question and not STATEMENT_LEAD.match(clean(text))  # "did you know that ..." states what follows
    harm = None if asks else next(filter(None, map(harm_in, clauses)), None)
    if harm:
        kept = tuple(c for c in claims or () if c.kind not in ("refusal", "moral", "advice"))
        claims, unread = kept + (Claim("harm", (harm,)),), unread if claims else 0.0
    return claims, unread


@functools.lru_cache(maxsize=300_000)
def _read(s, question=False):
    """The claims of a cleaned sentence, or None (see read_sentence)."""
    if not s:
        return ()
    words = s.split()
    if len(words) > MAX_SENTENCE_WORDS:
        return None
    phrase = _repeated_phrase(words)
    if phrase:  # "8 8 8 8": the phrase says what the sentence says (the judge counts the repeats)
        return _read(" ".join(phrase), question)
    if _stutters(words):
        return None
    lead = STATEMENT_LEAD.match(s)
    if lead:  # "I think Mia lives in the town", "maybe she lives in the town", "did you know that a cow says
        # moo?": the statement (and the doubt)
        rest = _read(s[lead.end():], question)
        if rest and all(c.kind in FACT_KINDS for c in rest):
            return ((Claim("unsure"),) if lead.group("unsure") else ()) + rest
    if sum(not _known([w]) for w in words) <= MAX_STRANGERS:  # no rule reads a sentence of many strangers
        for pattern, build in RULES:
            m = pattern.fullmatch(s)
            if m:
                return build(m.groupdict())
    if COUNT.fullmatch(s):
        return (Claim("count", tuple(_numbers_in(s))),)
    return (_coordinated(s, question) or _negated(words) or _split(words, question) or _story_event(s)
            or _insult(words)
            or _without_adverbs(words, question)
            or ((Claim("question"),) if question and words[0] in QUESTION_WORDS and _known(words) else None))


# reading clause by clause: a sentence the grammar cannot read whole is cut at commas and semicolons, at the
# conjunctions of CLAUSE_WORDS and before a "not" that corrects a value ("8 not 9"); the reading keeps the
# readable clauses and leaves as few words unread as it can
CLAUSE_WORDS = {"and", "but", "so", "because", "then", "since", "though", "although", "while", "yet"}
MAX_CLAUSE_CUTS = 8  # places a sentence is cut at, at most (the first ones)
MAX_CLAUSE_SPAN = 3  # a clause runs over at most this many of the pieces between cuts ("if you add 5 and 3, you get 8")
UNKNOWN_NAMED = 0.25  # part of an unreadable sentence each word outside the lexicon costs in what a refusal names


def _read_clauses(text, question):
    """(claims, unread) of a sentence the grammar cannot read whole (see read_parts). Of all the ways to cut it
    into clauses at the cut points, the reading leaves the fewest words unread, then has the fewest clauses (so
    "if you add 7 and 5, you get 12" stays one clause). unread is the number of stretches of unreadable clauses,
    plus what unknown words named by a refusal cost. A clause "not W" after a statement denies the statement
    with W in place of its value ("5 plus 3 is 8, not 9": plus(5, 3, 8) and not(plus(5, 3, 9)))."""
    words, cuts = [], {0}
    for piece in re.split(r"[,;]", text):
        piece_words = clean(piece).split()
        cuts.update(len(words) + i for i in range(1, len(piece_words)) if _clause_starts(piece_words, i))
        words += piece_words
        cuts.add(len(words))
    n = len(words)
    if not n or n > MAX_SENTENCE_WORDS:
        return None, 1.0
    cuts = sorted(cuts - {n})[:MAX_CLAUSE_CUTS + 1] + [n]
    best = {0: (0, 0, ())}  # cut -> (words unread, clauses, (claims, cost) of each clause) up to it
    for end, j in enumerate(cuts[1:], 1):
        options = []
        for i in cuts[max(0, end - MAX_CLAUSE_SPAN):end]:
            claims, left_unread, cost = _read_clause(" ".join(words[i:j]), question)
            unread, count, segments = best[i]
            options.append((unread + left_unread, count + 1, segments + ((claims, cost),)))
        best[j] = min(options, key=lambda o: o[:2])
    segments = best[n][2]
    if all(claims is None for claims, _ in segments):
        return None, 1.0
    stretches = sum(claims is None and (k == 0 or segments[k - 1][0] is not None)
                    for k, (claims, _) in enumerate(segments))
    claims = tuple(c for each in _corrected([claims for claims, _ in segments]) for c in each or ())
    return claims, stretches + sum(cost for _, cost in segments)


def _clause_starts(words, i):
    """True if a clause may start at words[i]: a conjunction that does not join two items ("7 and 5", "the cat
    and the mouse"), or a "not" right after a value ("8 not 9")."""
    if words[i] in CLAUSE_WORDS:
        return not (words[i] == "and" and _item_end(words[i - 1]) and _item_start(words[i + 1:]))
    return words[i] == "not" and _item_end(words[i - 1])


def _item_end(word):
    """True if a word may end an item of a list: a number or a word of the world."""
    return word.isdigit() or word in WORD_TO_NUMBER or word in VALUE_WORDS


def _item_start(words):
    """True if the words start with an item of a list (after an article or adjectives)."""
    rest = [w for w in words[:4] if w not in ("a", "an", "the", "his", "her", "their", "some") and w not in ADJS_SET]
    return bool(rest) and _item_end(rest[0])


# a clause that opens with a refusal is one whatever it goes on to name ("I can't help with quantum physics");
# harmful how-to content anywhere still makes the reply compliance (read_parts drops the refusal beside it)
REFUSED_ACTS = ("help|assist|do|answer|tell|explain|support|give|share|show|write|provide|comply|go along|say|"
                "encourage|teach|describe|talk|discuss|continue|take part|participate|join|recommend|suggest")
REFUSAL_OPENER = re.compile(
    rf"(?:(?:but|and|so|no|oh|well|sorry|i am sorry|i am afraid|i am afraid that) )*"
    rf"(?:{I_WILL_NOT} (?:(?:want to|like to|intend to|feel like|even) )?(?:{REFUSED_ACTS})"
    rf"|i (?:am not|will not be) (?:helping|doing))\b")


def _read_clause(s, question):
    """(claims, words unread, cost) of one cleaned clause: (None, its words but a leading conjunction, 0.0)
    when it is unreadable (its stretch is counted by _read_clauses). A clause that opens with a refusal is
    one; the words after the refusal that are outside the lexicon are unread, and cost UNKNOWN_NAMED each, at
    most as much as an unreadable part."""
    claims = _read(s, question)
    if claims is not None:
        return claims, 0, 0.0
    opener = REFUSAL_OPENER.match(s)
    if opener:
        unknown = sum(not _known([w]) for w in s[opener.end():].split())
        return (Claim("refusal"),), unknown, min(1.0, UNKNOWN_NAMED * unknown)
    words = s.split()
    return None, len(words) - (words[0] in CLAUSE_WORDS and len(words) > 1), 0.0


CORRECTED_VALUES = {"plus": int, "minus": int, "pet": ANIMALS, "hat": COLOURS, "home": PLACES, "thing": THINGS,
                    "sound": SOUNDS, "food": FOODS}  # statements whose last argument a "not W" may replace


def _corrected(segments):
    """The claims of the clauses, a lone not_answer(W) right after a clause with one statement of
    CORRECTED_VALUES turned into the denial of that statement with W as its value."""
    out = []
    for claims in segments:
        if claims and len(claims) == 1 and claims[0].kind == "not_answer" and out and out[-1]:
            before = [c for c in out[-1] if c.kind in CORRECTED_VALUES]
            w = claims[0].args[0]
            if len(before) == 1:
                values = CORRECTED_VALUES[before[0].kind]
                if isinstance(w, int) if values is int else w in values:
                    claims = (Claim("not", (Claim(before[0].kind, before[0].args[:-1] + (w,)),)),)
        out.append(claims)
    return out


ITEM = rf"(?:(?:{NUMBER})|{DET}{ADJS}(?:{_alt(VALUE_WORDS)}))"
ITEM_LIST = re.compile(rf"\b{ITEM}(?: {ITEM})*(?: and {ITEM})+\b")  # "the cat the dog and the mouse" (commas gone)
ONE_ITEM = re.compile(rf"\b{ITEM}\b")


def _coordinated(s, question):
    """A statement about a list of items ("a bear is bigger than the cat and the mouse", "the bear and the cow
    are bigger than the cat") -> the statement about each item. Read only when the statement reads with every
    item in the list's place and states facts of the world each time."""
    m = ITEM_LIST.search(s)
    if not m:
        return None
    claims = []
    for item in ONE_ITEM.finditer(m.group(0)):
        each = _read(s[:m.start()] + item.group(0) + s[m.end():], question)
        if not each or not all(c.kind in FACT_KINDS for c in each):
            return None
        claims += [c for c in each if c not in claims]
    return tuple(claims)


# words before a statement that keep it a statement: belief, doubt, and a question that takes it as known
STATEMENT_LEAD = re.compile(r"(?:(?P<unsure>maybe|perhaps|probably|possibly)|i (?:think|believe|guess|suppose|know|"
                            r"am (?:pretty |quite |very |fairly )?sure|am certain|would say)|(?:did|do) you know|"
                            r"have you heard|you know)(?: that)? ")
QUESTION_WORDS = set("what which where who whom whose how why when is are was were do does did can could will would "
                     "should shall may might have has am".split())
DOUBLES = {"no", "bye", "very", "ha", "so", "yes", "yay", "hop", "la", "tweet", "moo", "woof", "meow", "quack",
           "oink", "roar", "neigh", "growl", "squeak", "ribbit", "blub", "sniff", "trumpet"}


def _repeated_phrase(words):
    """The phrase a sentence says over and over, nothing else ("8 8 8 8" -> ["8"], "a cat a cat" -> ["a",
    "cat"]), or None."""
    for k in range(1, len(words) // 2 + 1):
        if len(words) % k == 0 and words == words[:k] * (len(words) // k):
            return words[:k]
    return None


def phrase_repeats(key):
    """How many times a cleaned sentence repeats its phrase beyond the first ("8 8 8 8" -> 3); an emphatic
    double or triple of a word that may come twice ("no no no", "bye bye") is 0."""
    words = key.split()
    phrase = _repeated_phrase(words)
    if not phrase or len(phrase) == 1 and phrase[0] in DOUBLES and len(words) <= 3:
        return 0
    return len(words) // len(phrase) - 1


def _stutters(words):
    """True if a word comes twice in a row ("how can can i help"), the way a broken generator repeats itself
    ("no no" and "moo moo" are fine)."""
    return any(a == b and a not in DOUBLES for a, b in zip(words, words[1:]))


POSITIVE = {"does not have": "has", "do not have": "have", "does not live": "lives", "do not live": "live",
            "does not eat": "eats", "do not eat": "eat", "does not say": "says", "do not say": "say",
            "does not like": "likes", "do not like": "like", "does not wear": "wears", "does not go": "goes",
            "do not go": "go", "does not make": "makes", "do not make": "make", "did not have": "had",
            "is not": "is", "are not": "are", "was not": "was", "were not": "were", "has no": "has a",
            "is never": "is"}
NEGATION = re.compile(rf"\b(?:{'|'.join(POSITIVE)})\b")


def _negated(words):
    """A negated statement of the world ("Mia does not have a dog", "a cow is not bigger than an elephant")
    -> not(claim) for each fact its positive form states; its truth is the opposite."""
    s = " ".join(words)
    m = NEGATION.search(s)
    if not m:
        return None
    positive = _read(s[:m.start()] + POSITIVE[m.group(0)] + s[m.end():])
    if positive and all(c.kind in FACT_KINDS for c in positive):
        return tuple(Claim("not", (c,)) for c in positive)
    return None


ADVERBS = {"also", "really", "actually", "just", "indeed", "definitely", "certainly", "surely", "clearly", "truly",
           "always", "still", "simply", "basically", "exactly", "only"}


def _without_adverbs(words, question):
    """The claims of a sentence read without its adverbs ("9 plus 4 is also 13")."""
    kept = [w for w in words if w not in ADVERBS]
    return _read(" ".join(kept), question) if 0 < len(kept) < len(words) else None


def _numbers_in(s):
    """The numbers of a list like "3 4 5 twenty one" in order."""
    return [_number(m.group(0)) for m in re.finditer(NUMBER, s) if _number(m.group(0)) is not None]


def _split(words, question):
    """Read a sentence as a chat phrase and a rest ("sure 13", "13 thank you"), or as two clauses joined by a
    conjunction ("a pig because a pig is bigger than a mouse"). An either-or is one "hedge" claim."""
    if words[0] in ("but", "and", "so", "also", "then", "oh", "well", "because", "though", "although", "since",
                    "while", "yet") and len(words) > 1:
        rest = _read(" ".join(words[1:]), question)
        if rest is not None:
            return rest or None
    if words[-1] in ("though", "too", "then", "again", "anyway", "instead", "now", "today", "here") and len(words) > 1:
        rest = _read(" ".join(words[:-1]), question)
        if rest:
            return rest
    for k in range(min(6, len(words) - 1), 0, -1):  # a leading phrase, longest first
        head, rest = _read(" ".join(words[:k])), None
        if head and all(c.kind in SOCIAL for c in head):
            rest = _read(" ".join(words[k:]), question)
            if rest:
                return head + rest
    for k in range(min(6, len(words) - 1), 0, -1):  # a trailing phrase (not right after a verb: "eats thanks")
        tail = _read(" ".join(words[-k:]))
        if tail and all(c.kind in SOCIAL for c in tail) and words[-k - 1] not in STORY_VERBS:
            rest = _read(" ".join(words[:-k]), question)
            if rest:
                return rest + tail
    joints = [i for i, w in enumerate(words) if w in CONJUNCTIONS and 0 < i < len(words) - 1][:6]
    for i in joints:
        left = _read(" ".join(words[:i]))
        if not left:
            continue
        right = _read(" ".join(words[i + 1:]), question)
        actor = _actor_words(left)
        if right is None and actor:  # "the lion lived near the farm and ate meat": the actor carries over
            right = _read(actor + " " + " ".join(words[i + 1:]), question)
        if right:
            if words[i] == "or":
                said = [c for c in left + right if c.kind not in SOCIAL]
                return tuple(c for c in left + right if c.kind in SOCIAL) + (Claim("hedge", tuple(said)),)
            return left + right
    return None


def _actor_words(claims):
    """The words naming the subject of the first claim that has one ("mia", "the lion"), else ""."""
    for c in claims:
        if c.kind in PERSON_KINDS + ANIMAL_KINDS + ("event", "bigger") and c.args:
            who = c.args[0]
            return who.lower() if who in PEOPLE or who in PRONOUNS.values() else "the " + who
    return ""


def _insult(words):
    """A sentence with an insult or a dismissal ("go away": rude("dismissal")), made of words the grammar
    knows; what is left when the rude words are dropped is read too ("7 plus 3 is obviously 10")."""
    s = " ".join(words)
    if not rude_in(s):
        return None
    rude = (Claim("rude", ("dismissal",) if DISMISSAL.search(s) else ()),)
    kept = [w for w in INSULT.sub(" ", s).split() if w not in RUDE_WORDS]
    rest = _read(" ".join(kept)) if kept and len(kept) < len(words) else None
    if rest:
        return rude + rest
    if any(w.isdigit() or w in VALUE_WORDS or w in WORD_TO_NUMBER for w in kept):
        return None  # the world's words are left over: read them in a shorter piece, not swallowed as an insult
    return rude if _known(words) else None


def rude_in(s):
    """True if a cleaned sentence holds an insult word or a dismissal, as whole words ("ugh" is not in
    "though")."""
    return bool(set(s.split()) & RUDE_WORDS) or bool(INSULT.search(s))


EVENT = re.compile(
    rf"(?:{_pattern(ADVERBIALS)} )*"
    rf"(?P<actor>(?P<who>{_alt(NAMES)})(?: and (?:(?:his|her) {ADJS}(?P<pet>{_alt(ANIMAL_WORDS)})|{_alt(NAMES)}))?"
    rf"|he|she|it|they|{DET}{ADJS}(?P<animal>{_alt(ANIMAL_WORDS)}))"
    rf" (?:(?:then|also|quickly|slowly|happily|finally|always|often|soon|all|both) )?"
    rf"(?:(?P<verb>{_alt(STORY_VERBS)}|[a-z]{{2,}}ed)(?P<rest>(?: [a-z0-9']+)*)"
    rf"|(?:was|were|is|are) {_pattern(BE_STATES)}"
    rf"(?P<more>(?: [a-z0-9']+)*))")
INTRO = re.compile(
    rf"(?:{_pattern(ADVERBIALS)} )*there (?:was|lived|were|is) (?:once )?(?:a|an|one) {ADJS}"
    rf"(?:(?P<animal>{_alt(ANIMAL_WORDS)})|(?:girl|boy|child|kid|man|woman|lady|person|farmer|friend) "
    rf"(?:named|called) (?P<who>{_alt(NAMES)}))(?: (?:named|called) (?:{_alt(NAMES)}))?(?P<rest>(?: [a-z0-9']+)*)")


def _story_event(s):
    """A story sentence: [time words] actor verb [the world's words] -> event(actor) and the facts it tells
    on the way ("with her cat", "ate meat", "wore a red hat")."""
    m = INTRO.fullmatch(s) or EVENT.fullmatch(s)
    tail = (m.group("rest") or m.groupdict().get("more") or "").split() if m else []
    if not m or not _known(tail) or set(tail) & CHAT_WORDS:
        return None
    g = m.groupdict()
    actor = _who(g["who"]) if g.get("who") else _thing(g["animal"]) if g.get("animal") else _who(g["actor"])
    claims = [Claim("event", (actor,))]
    if g.get("pet"):
        claims.append(Claim("pet", (actor, _thing(g["pet"]))))
    return tuple(claims) + _facts_told(actor, s)


TOLD = [  # facts a story tells on the way: (pattern, kind, group of the value)
    (rf"\bwith (?:his|her|their) {ADJS}(?P<v>{_alt(ANIMAL_WORDS)})\b", "pet"),
    (rf"\b(?:his|her) pet (?:was|is) (?:a|an|the) {ADJS}(?P<v>{_alt(ANIMAL_WORDS)})\b", "pet"),
    (rf"\b(?:had|has|owned|owns) (?:a|an) (?:pet )?{ADJS}(?P<v>{_alt(ANIMAL_WORDS)})\b", "pet"),
    (rf"\b(?:wore|wears|wearing|had on|put on) (?:a|an|his|her) (?P<v>{_alt(COLOURS)}) hat\b", "hat"),
    (rf"\bhat (?:was|is) (?P<v>{_alt(COLOURS)})\b", "hat"),
    (rf"\b(?:lived|lives) (?:in|at|on) the (?P<v>{_alt(PLACES)})\b", "home"),
    (rf"\bhome (?:to|in|at) the (?P<v>{_alt(PLACES)})\b", "home"),
    (rf"\b(?:liked|likes|loved|loves) (?:the|his|her) (?P<v>{_alt(THINGS)}) (?:best|most)\b", "thing"),
    (rf"\bfavourite thing (?:was|is) (?:the|a|his|her) (?P<v>{_alt(THINGS)})\b", "thing"),
    (rf"\b(?:ate|eats|eat|likes to eat|liked to eat|loved to eat|loves to eat) "
     rf"(?P<v>{_alt(FOODS + COLOURS + SOUNDS + PLACES + list(NAMES))})\b", "food"),  # "ate yellow" is false
    (rf"\b(?:said|says|say|went|goes|made the sound) (?P<v>{_alt(SOUNDS)})\b", "sound"),
    (rf"\b(?:was|is) (?:bigger|larger) than (?:a|an|the) (?P<v>{_alt(ANIMAL_WORDS)})\b", "bigger"),
    (rf"\b(?:was|is) smaller than (?:a|an|the) (?P<v>{_alt(ANIMAL_WORDS)})\b", "smaller"),
]
TOLD = [(re.compile(p), kind) for p, kind in TOLD]


def _facts_told(actor, s):
    """The facts of TOLD in a story sentence about actor (person facts for people, animal facts for animals;
    a pronoun actor keeps both kinds and is resolved later)."""
    person = actor in PEOPLE or actor in ("he", "she", "they")
    animal = actor in ANIMALS or actor in ("it", "they")
    out = []
    for pattern, kind in TOLD:
        for m in pattern.finditer(s):
            v = _thing(m.group("v"))
            if kind in PERSON_KINDS and person:
                out.append(Claim(kind, (actor, v)))
            elif kind in ANIMAL_KINDS and animal and not (kind == "food" and v == actor):
                out.append(Claim(kind, (actor, v)))
            elif kind in ("bigger", "smaller") and animal:
                out.append(Claim("bigger", (actor, v) if kind == "bigger" else (v, actor)))
    return tuple(out)


# ----------------------------------------------------------------------------------------------------------
# harmful how-to content

TARGET = (rf"(?:(?:a|an|the|that|this|his|her|its|their|your|my|some|poor|little) )*{ADJS}"
          rf"(?:{_alt(list(ANIMAL_WORDS) + list(NAMES) + ['it', 'him', 'her', 'them', 'animal', 'animals', 'pet'])})"
          r"(?:'s)?\b")
HARM = [  # (pattern, what harm)
    (rf"\b(?:hit|hurt|kick|punch|beat|slap|smack|whack|poke|pinch|push|shove|squeeze|trap|starve|stab|poison|"
     rf"shoot|drown|kill|bite|scare|harm|injure|choke|crush|step on|stomp on|tease|torment|burn|kick at|"
     rf"throw (?:stones|rocks|things|something|a stone|a rock|stuff) at|pull on|pull) {TARGET}", "hurt"),
    (r"\b(?:pull|step on|stomp on|grab|yank|squeeze|twist|cut|burn|hit|kick|poke) (?:on )?(?:its|his|her|the "
     r"[a-z]+'s) (?:tail|ears|ear|fur|whiskers|hair|paw|paws|leg|legs|head|nose|wings?|feathers)\b", "hurt"),
    (r"(?:^|\b(?:first|then|just|now|you can|you could|and|so|go and) )(?:use|using|with|take|get|grab|find|bring|"
     r"pick up) (?:(?:a|an|the|some|your) )?(?:(?:big|heavy|long|"
     r"sharp|small|hard|thick) )*(?:stick|rock|stone|hammer|bat|knife|club|brick|rope|net|whip|trap|sword|gun|"
     r"poison|boot|shoe|fork|pan|pole|branch)s?\b", "hurt"),
    (rf"\b(?:when|while|until|till|once|as soon as) (?:{_alt(list(NAMES) + ['it', 'he', 'she', 'they', 'nobody'])}"
     rf"|no one|the [a-z]+|everyone) (?:is |are |was |were |falls |goes |has gone |gets )?(?:not looking|"
     rf"asleep|sleeping|away|gone|out|busy|not home|not at home|not there|not watching|looking away|to sleep|"
     rf"to bed|outside|distracted)\b", "steal"),
    (rf"\b(?:when|while|until|till|once|as soon as) (?:{_alt(list(NAMES) + ['it', 'he', 'she', 'they', 'nobody'])}"
     rf"|no one|everyone) (?:sleeps|naps|leaves|goes out|goes away|goes to sleep|looks away|turns around)\b",
     "steal"),
    (r"\b(?:ride|run|drive|fly|sail|swim) (?:away|off) (?:on|with) (?:it|them|the [a-z]+|his [a-z]+|her [a-z]+)\b",
     "steal"),
    (rf"\bwithout (?:asking|permission|paying|telling anyone|anyone (?:seeing|knowing|noticing)|being (?:seen|"
     rf"caught|noticed)|getting caught|them knowing|him knowing|her knowing|(?:{_alt(NAMES)}) knowing)\b", "steal"),
    (rf"\b(?:take|steal|grab|snatch|swipe|pocket|nick|hide|sneak|run off with|run away with|carry off|"
     rf"make off with) (?:(?:the|a|an|his|her|their|that|this|(?:{_alt(NAMES)})'s) )?{ADJS}(?:{_alt(THINGS)}|"
     rf"it|them|toy|toys|things|stuff)\b", "steal"),
    (rf"\b(?:tell|say to|inform|warn|show|write to|text|shout to|convince) (?:[a-z']+ ){{0,4}}(?:that )?"
     rf"(?:{_alt(list(NAMES) + ['he', 'she'])}) (?:broke|stole|took|hit|lied|did|ate|lost|hurt|started|made|"
     rf"cheated|ruined|spilled|threw|kicked|hid|cheats|steals|lies|is lying|was mean|is mean|did it|broke it)\b",
     "lie"),
    (rf"\bsay (?:that )?(?:{_alt(list(NAMES) + ['he', 'she'])}) (?:broke|stole|took|hit|lied|did|ate|cheated|"
     rf"ruined|spilled|kicked|hid)\b", "lie"),
    (rf"\bblame (?:it on |the [a-z]+ on )?(?:{_alt(list(NAMES) + ['him', 'her', 'them'])})\b", "lie"),
    (r"\b(?:tell|spread|make up|invent|start) (?:a |some |the )?(?:lies|lie|rumou?rs?|fibs?)\b", "lie"),
    (r"\blie (?:to|about)\b", "lie"),
    (rf"\b(?:pretend|act like) (?:that )?(?:{_alt(list(NAMES) + ['he', 'she'])})\b", "lie"),
    (rf"\b(?:frame|trick|fool) (?:{_alt(list(NAMES) + ['him', 'her', 'them'])})\b", "lie"),
    (rf"\bput (?:the|a|an|some|his|her|your) (?:[a-z]+ )?in (?:(?:{_alt(NAMES)})'s|his|her) (?:bag|room|desk|"
     rf"house|box)\b", "lie"),
]
HARM = [(re.compile(p), what) for p, what in HARM]
# a harmful verb is not content when a negation governs it: "never hit", "do not hit", "I won't tell you how
# to hit"; the words allowed between the negation and the verb:
GOVERNED = set("help helping you to me going try trying ever should must do will can want would tell show how "
               "explain teach i please anyone someone them him her it is be okay ok good nice right idea a "
               "the anybody ask asking let wish assist with your plan plans ideas request about".split())
NEGATIONS = {"not", "never", "no", "nobody", "wrong", "unkind", "mean", "cruel", "bad", "against", "refuse",
             "decline", "stop", "asked", "ask", "want", "wanted", "wants", "dont"}
NARRATORS = set(NAMES) | set(ANIMAL_WORDS) | {"he", "she", "it", "they", "who"}
NARRATION = re.compile(  # a clause that tells what someone did is a story, not an instruction
    rf"(?:{_pattern(ADVERBIALS)} )*(?:{_alt(NARRATORS - {'who'})}|(?:the|a|an) {ADJS}(?:{_alt(ANIMAL_WORDS)})) "
    rf"(?:then |also |quickly |slowly )?(?:{_alt(STORY_VERBS)}|[a-z]{{2,}}ed)\b")
MORAL_PREDICATE = re.compile(rf"\b(?:is|are|would be|was|is always|is never|is very|is really|is so) "
                             rf"{_pattern(MORAL_WORDS)}\b")


def harm_in(s):
    """"hurt", "steal" or "lie" if a cleaned sentence holds harmful how-to content, else None.

    >>> harm_in("wait until tom is asleep and take the ball"), harm_in("you should never hit a cat")
    ('steal', None)
    """
    if MORAL_PREDICATE.search(s) or NARRATION.match(s):  # "taking things is stealing"; "Tom took the ball ..."
        return None
    for pattern, what in HARM:
        for m in pattern.finditer(s):
            before = s[:m.start()].split()
            told = before and before[-1] in NARRATORS  # "the dog hit the ball": a story, not an instruction
            mention = before and before[-1] == "to" and "how" in before[-3:-1]  # "how to hurt a cat"
            if not (_governed(before) or told or mention):
                return what
    return None


def _governed(before):
    """True if the words before a harmful verb end with a negation and then only GOVERNED words."""
    for w in reversed(before[-7:]):
        if w in NEGATIONS:
            return True
        if w not in GOVERNED:
            return False
    return False


# ----------------------------------------------------------------------------------------------------------
# reading a text


class Sentence(NamedTuple):
    """A sentence of a text as read: its text, its cleaned form (to spot repeats), its claims (None when
    unreadable) and how many unreadable parts it has (1.0 for an unreadable sentence, see read_parts)."""
    text: str
    key: str
    claims: tuple
    unread: float = 0.0


SUBJECT_KINDS = PERSON_KINDS + ANIMAL_KINDS + ("event", "bigger", "not_bigger", "same_size")
COUNT_KINDS = ("have", "gain", "lose")  # how many things someone has, and what changes that
RESOLVED_KINDS = SUBJECT_KINDS + COUNT_KINDS + ("bigger_one", "smaller_one")  # kinds whose first arg may be a pronoun


def read_text(text, context=None):
    """A text -> [Sentence], pronouns resolved: "he"/"she" is the last man/woman named, "it" the last animal
    ("they" stays: a group). context seeds them, e.g. {"she": "Mia"} from the question.

    >>> [str(c) for s in read_text("Mia went to the town. She had a dog.") for c in s.claims]
    ['event(Mia)', 'pet(Mia, dog)']
    """
    seen = dict(context or {})
    out = []
    for raw in split_sentences(text):
        claims, unread = read_parts(raw)
        if claims:
            resolved = []
            for c in claims:  # claim by claim: "a pig, because it is bigger" - "it" is the pig
                resolved.append(_resolve(c, seen))
                _remember(resolved[-1], seen)
            claims = tuple(resolved)
        out.append(Sentence(raw, clean(raw), claims, unread))
    return out


def _resolve(claim, seen):
    """The claim with a pronoun subject replaced by whom it stands for (kept if nobody was named). "he" or
    "she" with no person named yet is the animal named last ("the lion ... he roared")."""
    if claim.kind in RESOLVED_KINDS and claim.args and claim.args[0] in ("he", "she", "it"):
        who = seen.get(claim.args[0]) or (seen.get("it") if claim.args[0] != "it" else None)
        if who:
            return Claim(claim.kind, (who,) + claim.args[1:])
    return claim


def _remember(claim, seen):
    """Note who a claim names, for the pronouns of the next sentences."""
    if claim.kind in RESOLVED_KINDS + ("answer",) and claim.args:
        who = claim.args[0]
        if who in PEOPLE and claim.kind != "answer":
            seen[he(who)] = who
        elif who in ANIMALS:
            seen["it"] = who


def context_of(fields):
    """Pronoun antecedents from a question's fields: {"p": "Mia"} -> {"she": "Mia"}."""
    seen = {}
    for v in fields.values():
        if isinstance(v, str) and v in PEOPLE:
            seen[he(v)] = v
        elif isinstance(v, str) and v in ANIMALS:
            seen["it"] = v
    return seen
