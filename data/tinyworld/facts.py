"""The world's facts: its people, its animals, and its numbers with their names.

Everything else in the package (the language, the documents, the prompts, the replies and the judge) is built
on these tables. They are fixed: the seed of a build only changes which documents and prompts are drawn.

    >>> PEOPLE["Mia"]
    ('cat', 'red', 'town', 'kite')
    >>> person_fact("Mia", "hat"), animal_fact("cow", "sound"), number_word(21)
    ('red', 'moo', 'twenty-one')
"""

PEOPLE = {  # name: (pet, hat colour, home, favourite thing)
    "Mia": ("cat", "red", "town", "kite"), "Tom": ("dog", "blue", "farm", "ball"),
    "Ana": ("bird", "green", "forest", "book"), "Ben": ("fish", "yellow", "lake", "boat"),
    "Lily": ("horse", "pink", "hill", "doll"), "Sam": ("duck", "purple", "village", "drum"),
    "Zoe": ("rabbit", "orange", "beach", "bike"), "Max": ("frog", "white", "city", "cake"),
    "Eva": ("mouse", "red", "farm", "book"), "Leo": ("pig", "blue", "town", "drum"),
    "Ivy": ("cow", "green", "village", "kite"), "Jack": ("dog", "yellow", "beach", "ball"),
    "Nina": ("cat", "purple", "lake", "bike"), "Omar": ("horse", "white", "forest", "boat"),
    "Rosa": ("bird", "orange", "hill", "cake"), "Finn": ("rabbit", "pink", "city", "doll"),
}
SHE = {"Mia", "Ana", "Lily", "Zoe", "Eva", "Ivy", "Nina", "Rosa"}  # the others are "he"
ANIMALS = {  # name: (size, 1 = smallest; sound; food)
    "mouse": (1, "squeak", "cheese"), "frog": (2, "ribbit", "flies"), "fish": (2, "blub", "worms"),
    "bird": (3, "tweet", "seeds"), "duck": (4, "quack", "bread"), "rabbit": (4, "sniff", "carrots"),
    "cat": (5, "meow", "fish"), "dog": (6, "woof", "bones"), "pig": (7, "oink", "apples"),
    "lion": (9, "roar", "meat"), "horse": (10, "neigh", "hay"), "cow": (10, "moo", "grass"),
    "bear": (11, "growl", "honey"), "elephant": (12, "trumpet", "leaves"),
}
COLOURS = ["blue", "green", "orange", "pink", "purple", "red", "white", "yellow"]
PLACES = ["beach", "city", "farm", "forest", "hill", "lake", "town", "village"]
THINGS = ["ball", "bike", "boat", "book", "cake", "doll", "drum", "kite"]
SOUNDS = sorted(sound for _, sound, _ in ANIMALS.values())
FOODS = sorted({food for _, _, food in ANIMALS.values()})

PERSON_ATTRIBUTES = ("pet", "hat", "home", "thing")  # the order of a PEOPLE row
ANIMAL_ATTRIBUTES = ("sound", "food")  # the last two of an ANIMALS row

ARITH_MAX = 10  # arithmetic operands are 0..10: sums up to 20, differences 0..10
NUMBER_MAX = 20  # numbers that are counted and compared: 0..20
DIGITS_SHARE = 0.7  # a sentence or prompt writes its numbers in digits 70% of the time, in words otherwise


def person_fact(name, attribute):
    """What the world says about a person: person_fact("Tom", "pet") -> "dog"."""
    return PEOPLE[name][PERSON_ATTRIBUTES.index(attribute)]


def animal_fact(animal, attribute):
    """What the world says about an animal: animal_fact("cat", "food") -> "fish"."""
    return ANIMALS[animal][1 + ANIMAL_ATTRIBUTES.index(attribute)]


def size(animal):
    """An animal's size, 1 (the mouse) to 12 (the elephant)."""
    return ANIMALS[animal][0]


ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen").split()
TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}


def number_word(n):
    """0 -> "zero", 21 -> "twenty-one" (0..99)."""
    if n < 20:
        return ONES[n]
    return TENS[n // 10] if n % 10 == 0 else f"{TENS[n // 10]}-{ONES[n % 10]}"


WORD_TO_NUMBER = {number_word(n): n for n in range(100)}


def say(n, form):
    """A number as a sentence writes it: form "digits" -> "7", "words" -> "seven"."""
    return str(n) if form == "digits" else number_word(n)
