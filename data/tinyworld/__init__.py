"""The tinyworld: a small synthetic world whose "human preference" we know exactly.

Everything every stage trains and is measured on comes from here, generated from a seed in seconds, offline.
The modules read in order, each importing only earlier ones:

1. facts.py     the people, the animals and the numbers with their names (fixed, not drawn)
2. language.py  the world's sentences, and a reader that turns any sentence back into claims of the world
3. corpus.py    the pre-training documents
4. problems.py  multi-step word problems, their replies (step by step or direct) and the verifier check_answer
5. prompts.py   the task prompts, the combinations they ask about, the train/validation/test splits
6. styles.py    replies in the styles of a crowd of annotators of mixed quality
7. tools.py     two tools over the world (calc, lookup), run_tool, and the helpful annotator's tool calls
8. judge.py     the gold judge, gold_score / gold_breakdown: a careful reader of the world's language
9. labeller.py  the simulated labeller: prefers reply A with probability sigmoid((gold(A) - gold(B)) / TAU)
10. build.py    generate / ensure_tinyworld: the files; __main__.py: the command line

    python -m data.tinyworld --seed 1337 --out data/tinyworld        # the default world (~4 MB of text)
    python -m data.tinyworld --seed 1 --out /tmp/tw --corpus_mb 0.2  # a small one

Design choices for learnability (a ~1M-parameter GPT trained for minutes on a CPU must learn this world):
a small world, every fact repeated many times in a few regular phrasings, arithmetic on 0..10 only (sums up
to 20, so every answer is one word), one number form per sentence (digits or words, never mixed), and
replies that copy the prompt's number form.
"""

from .facts import ANIMALS, COLOURS, PEOPLE, PLACES, THINGS, number_word
from .language import Claim, read_sentence, read_text, truth
from .corpus import coverage_documents, make_document, story
from .problems import (check_answer, check_steps, direct_answer, final_number, parse_problem, problem_answer,
                       problem_text, reasons_step_by_step, states_false_sum, step_by_step)
from .prompts import (SPLITS, TASK_OF, TASK_WEIGHTS, TEMPLATES, VERIFIABLE, answer_of, combination_key,
                      combinations, make_prompt, parse_prompt, split_combinations)
from .styles import STYLE_MIX, STYLES, UNSAFE_STYLE_MIX, sample_style, style_reply
from .tools import TOOL_TASKS, TOOLS, calculator, call_is_right, lookup, run_tool, tool_call, tool_conversation
from .judge import EMPTY_SCORE, gold_breakdown, gold_score
from .labeller import (LABELLER_AGREEMENT, LABELLER_AGREEMENT_N, TAU, labeller_prefers_a, measure_labeller_agreement,
                       preference_probability, sample_pair)
from .build import ensure_tinyworld, generate

__all__ = ["ANIMALS", "COLOURS", "PEOPLE", "PLACES", "THINGS", "number_word", "Claim", "read_sentence", "read_text",
           "truth", "coverage_documents", "make_document", "story", "check_answer", "check_steps", "direct_answer",
           "final_number", "parse_problem", "problem_answer", "problem_text", "reasons_step_by_step",
           "states_false_sum", "step_by_step", "SPLITS", "TASK_OF", "TASK_WEIGHTS",
           "TEMPLATES", "VERIFIABLE", "answer_of", "combination_key", "combinations", "make_prompt", "parse_prompt",
           "split_combinations", "STYLE_MIX", "STYLES", "UNSAFE_STYLE_MIX", "sample_style", "style_reply",
           "TOOL_TASKS", "TOOLS", "calculator", "call_is_right", "lookup", "run_tool", "tool_call", "tool_conversation",
           "EMPTY_SCORE", "gold_breakdown", "gold_score", "LABELLER_AGREEMENT", "LABELLER_AGREEMENT_N", "TAU",
           "labeller_prefers_a", "measure_labeller_agreement", "preference_probability", "sample_pair",
           "ensure_tinyworld", "generate"]
