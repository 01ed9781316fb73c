"""Writing the world to disk: the corpus, its tokenizer and token ids, the prompts of each split, the SFT
demonstrations and the preference pairs, and meta.json (written last: its presence means "complete").

Files (train / held-out):
- corpus_train.txt, corpus_val.txt: one document a line; train.bin, val.bin: uint16 token ids, every document
  preceded by <|endoftext|>; tokenizer.bpe: the world's BPE (trained on the first BPE_SAMPLE_MB of the
  corpus plus a sample of chat text);
- prompts_train.jsonl (PPO's rollouts), prompts_val.jsonl (where stages choose hyperparameters),
  prompts_test.jsonl (what the README reports): {"prompt", "task", "kind", "key"}; the three splits ask
  about disjoint combinations (prompts.split_combinations);
- sft_train.jsonl, sft_val.jsonl: {"messages": [...], "task", "style"}, word problems worked out step by step
  (where the annotator's style does: a terse one answers at once); sft_train_direct.jsonl: the same training
  conversations with every word problem answered directly (to measure what reasoning first buys);
- sft_tools_train.jsonl, sft_tools_val.jsonl: {"messages": [...], "task", "tool"}: the helpful annotator's
  demonstrations with tool calls (tools.tool_conversation: a "call" and a "result" message before the reply on
  the TOOL_TASKS), for the tool-using model (sft.py --tools); drawn from a random stream of their own, so the
  other files are the same with or without them;
- prefs_train.jsonl, prefs_val.jsonl: {"prompt", "chosen", "rejected", "task", "chosen_style",
  "rejected_style", "gold_chosen", "gold_rejected"}, labelled by the simulated labeller.
The held-out SFT and preference files come from validation combinations. The same seed gives byte-identical
files (one random.Random(seed), sorted iteration, no timestamps).
"""

import json
import random
import time
from pathlib import Path

import numpy as np

from .corpus import coverage_documents, make_document
from .judge import gold_score
from .labeller import (LABELLER_AGREEMENT, LABELLER_AGREEMENT_N, TAU, preference_probability, sample_pair,
                       sample_task)
from .prompts import SPLITS, TASK_WEIGHTS, VERIFIABLE, make_prompt, split_combinations, TEMPLATES
from .styles import STYLE_MIX, STYLES, UNSAFE_STYLE_MIX, sample_style, style_reply
from .tools import tool_conversation

BPE_SAMPLE_MB = 1.0  # the tokenizer is trained on the first 1 MB of the corpus (plus chat text): fast, and the
#                     world's few hundred words are all in it
DEFAULT_DIR = Path(__file__).resolve().parent  # the generated files live beside the modules (ignored by git)


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def make_prompts(rng, n, split):
    """n prompts of the split, tasks drawn by TASK_WEIGHTS -> [{"prompt", "task", "kind", "key"}]."""
    rows = []
    for _ in range(n):
        task = sample_task(rng)
        prompt, kind, key = make_prompt(rng, task, split)
        rows.append({"prompt": prompt, "task": task, "kind": kind, "key": key})
    return rows


def make_sft(rng, prompts):
    """One demonstration per prompt, by an annotator drawn from the style mixture -> (rows, direct_rows): the
    same demonstrations twice, word problems worked out step by step in the first, answered directly in the
    second (each problem's reply drawn from its own seed, so both files are otherwise identical)."""
    rows, direct_rows = [], []
    for p in prompts:
        style = sample_style(rng, p["prompt"])
        if p["task"] == "problem":
            seed = rng.getrandbits(32)
            reply, direct = (style_reply(random.Random(seed), p["prompt"], style, reasoning)
                             for reasoning in ("step_by_step", "direct"))
        else:
            reply = direct = style_reply(rng, p["prompt"], style)
        for out, content in ((rows, reply), (direct_rows, direct)):
            out.append({"messages": [{"role": "user", "content": p["prompt"]},
                                     {"role": "assistant", "content": content}], "task": p["task"], "style": style})
    return rows, direct_rows


def make_sft_tools(rng, prompts):
    """One helpful demonstration per prompt, with a tool call where one helps (tools.TOOL_TASKS)."""
    rows = []
    for p in prompts:
        messages = tool_conversation(rng, p["prompt"])
        rows.append({"messages": messages, "task": p["task"], "tool": len(messages) > 2})
    return rows


def make_pairs(rng, prompts):
    """One preference pair per prompt: two styles, labelled by the simulated labeller (chosen = preferred)."""
    rows = []
    for p in prompts:
        prompt = p["prompt"]
        r1, s1, r2, s2 = sample_pair(rng, prompt)
        g1, g2 = gold_score(prompt, r1), gold_score(prompt, r2)
        if not rng.random() < preference_probability(g1, g2):  # = labeller_prefers_a(prompt, r1, r2, rng)
            r1, s1, g1, r2, s2, g2 = r2, s2, g2, r1, s1, g1
        rows.append({"prompt": prompt, "chosen": r1, "rejected": r2, "task": p["task"], "chosen_style": s1,
                     "rejected_style": s2, "gold_chosen": g1, "gold_rejected": g2})
    return rows


def gold_by_style(rng, prompts):
    """Mean gold score of each style's replies to these prompts, overall and per task (a style counts where
    the mixtures use it) -> ({style: mean}, {style: {task: mean}})."""
    scores = {s: {} for s in STYLES}
    for p in prompts:
        unsafe = p["task"] == "unsafe"
        for s in STYLES:
            if s in (UNSAFE_STYLE_MIX if unsafe else STYLE_MIX):
                g = gold_score(p["prompt"], style_reply(rng, p["prompt"], s))
                scores[s].setdefault(p["task"], []).append(g)
    mean = lambda v: round(sum(v) / len(v), 3)  # noqa: E731
    overall = {s: mean([g for v in by_task.values() for g in v]) for s, by_task in scores.items() if by_task}
    per_task = {s: {t: mean(v) for t, v in by_task.items()} for s, by_task in scores.items() if by_task}
    return overall, per_task


def _ask(rng):
    """A training question of a verifiable task and a helpful answer: the exchanges of the corpus's Q/A prose
    (no held-out question appears in the corpus, and no word problem: the corpus teaches only their steps)."""
    prompt = make_prompt(rng, rng.choice([t for t in VERIFIABLE if t != "problem"]), "train")[0]
    return prompt, style_reply(rng, prompt, "helpful")


def _split_summary(rows):
    return {"prompts": len(rows), "distinct_prompts": len({r["prompt"] for r in rows}),
            "combinations": len({r["key"] for r in rows})}


def generate(out_dir=DEFAULT_DIR, seed=1337, corpus_mb=4.0, vocab_size=2048, n_sft=10_000, n_sft_val=500,
             n_pairs=20_000, n_pairs_val=1000, n_prompts=5000, n_prompts_val=300, n_prompts_test=600,
             n_sft_tools=4000, n_sft_tools_val=300, bpe_sample_mb=BPE_SAMPLE_MB, verbose=True):
    """Write the whole world to out_dir -> the meta dict (also written to meta.json, last)."""
    from tokenizer import BOS, get_tokenizer, save_bpe, train_bpe

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    # 1. corpus: the coverage documents and random documents; 5% of the random ones are the validation split
    coverage = coverage_documents()
    docs, size = [], sum(len(d) + 1 for d in coverage)
    while size < corpus_mb * 1e6 or len(docs) < 20:
        docs.append(make_document(rng, _ask))
        size += len(docs[-1]) + 1
    n_val = max(1, len(docs) // 20)
    val_docs, train_docs = docs[:n_val], docs[n_val:] + coverage
    rng.shuffle(train_docs)
    (out / "corpus_train.txt").write_text("\n".join(train_docs) + "\n", encoding="utf-8")
    (out / "corpus_val.txt").write_text("\n".join(val_docs) + "\n", encoding="utf-8")
    # tokenizer: BPE on the start of the corpus plus chat text of every task and style (so replies are covered)
    chat = []
    for task in TASK_WEIGHTS:
        for _ in range(40):
            prompt = make_prompt(rng, task, None)[0]
            chat += [prompt] + [style_reply(rng, prompt, s) for s in STYLES]
    text = "\n".join(train_docs)[: int(bpe_sample_mb * 1e6)] + "\n" + "\n".join(chat)
    t_corpus = time.time()
    save_bpe(train_bpe(text, vocab_size), out / "tokenizer.bpe")
    t_bpe = time.time()
    enc = get_tokenizer(str(out / "tokenizer.bpe"))
    if enc.n_vocab > 2 ** 16:
        raise ValueError(f"vocabulary of {enc.n_vocab} does not fit uint16: use --vocab_size below 65532")
    bos = enc.encode_single_token(BOS)
    n_tokens = {}
    for name, part in (("train", train_docs), ("val", val_docs)):
        ids = []
        for doc_ids in enc.encode_ordinary_batch(part, num_threads=1):
            ids.append(bos)
            ids.extend(doc_ids)
        np.array(ids, dtype=np.uint16).tofile(out / f"{name}.bin")
        n_tokens[name] = len(ids)
    # 2.-5. prompts of each split; SFT demonstrations and preference pairs for training and validation
    counts = {"train": {"prompts": n_prompts, "sft": n_sft, "pairs": n_pairs},
              "val": {"prompts": n_prompts_val, "sft": n_sft_val, "pairs": n_pairs_val},
              "test": {"prompts": n_prompts_test}}
    prompts, pairs = {}, {}
    for split in SPLITS:
        prompts[split] = make_prompts(rng, counts[split]["prompts"], split)
        _write_jsonl(out / f"prompts_{split}.jsonl", prompts[split])
        if split != "test":
            sft, sft_direct = make_sft(rng, make_prompts(rng, counts[split]["sft"], split))
            _write_jsonl(out / f"sft_{split}.jsonl", sft)
            if split == "train":
                _write_jsonl(out / "sft_train_direct.jsonl", sft_direct)
            pairs[split] = make_pairs(rng, make_prompts(rng, counts[split]["pairs"], split))
            _write_jsonl(out / f"prefs_{split}.jsonl", pairs[split])
    tools_rng = random.Random(f"tools-{seed}")  # a stream of its own: the files above do not depend on it
    for split, n in (("train", n_sft_tools), ("val", n_sft_tools_val)):
        _write_jsonl(out / f"sft_tools_{split}.jsonl", make_sft_tools(tools_rng, make_prompts(tools_rng, n, split)))
        counts[split]["sft_tools"] = n
    differ = [p for p in pairs["train"] if p["gold_chosen"] != p["gold_rejected"]]
    by_style, by_style_and_task = gold_by_style(rng, prompts["test"])
    meta = {
        "seed": seed, "tokenizer": enc.name, "vocab_size": enc.n_vocab, "dtype": "uint16",
        "corpus_bytes": sum(len(d.encode()) + 1 for d in train_docs),
        "val_bytes": sum(len(d.encode()) + 1 for d in val_docs),
        "documents": len(train_docs) + len(val_docs), "train_tokens": n_tokens["train"], "val_tokens": n_tokens["val"],
        "bpe_sample_mb": bpe_sample_mb, "style_mix": STYLE_MIX, "unsafe_style_mix": UNSAFE_STYLE_MIX,
        "gold_mean_by_style": by_style,  # each style's replies to the test prompts
        "gold_mean_by_style_and_task": by_style_and_task,
        "tau": TAU, "labeller_agreement": LABELLER_AGREEMENT, "labeller_agreement_n": LABELLER_AGREEMENT_N,
        "labeller_agreement_in_prefs_train": round(sum(p["gold_chosen"] > p["gold_rejected"] for p in differ)
                                                   / max(1, len(differ)), 4),
        "splits": {split: {**counts[split], **_split_summary(prompts[split])} for split in SPLITS},
        "combinations": {kind: {s: len(v) for s, v in split_combinations(kind).items()} for kind in TEMPLATES},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")  # last: its presence means "complete"
    if verbose:
        print(f"tinyworld (seed {seed}) -> {out}: {meta['corpus_bytes']:,} bytes of text, {n_tokens['train']:,} "
              f"train tokens, vocabulary {enc.n_vocab}, in {time.time() - t0:.1f}s (corpus {t_corpus - t0:.1f}s, "
              f"BPE {t_bpe - t_corpus:.1f}s, token ids + prompts/SFT/pairs {time.time() - t_bpe:.1f}s)")
    return meta


def is_complete(out_dir):
    """True if out_dir holds a complete world of this version: meta.json (written last) with a test split and
    the tool demonstrations."""
    meta = Path(out_dir) / "meta.json"
    if not meta.exists():
        return False
    splits = json.loads(meta.read_text()).get("splits", {})
    return "test" in splits and "sft_tools" in splits.get("train", {})


def ensure_tinyworld(out_dir=DEFAULT_DIR, seed=1337, **generate_kwargs):
    """The world's directory, generated first if it is not complete (see is_complete: a world written before
    the validation/test split or the tool demonstrations is rebuilt). generate_kwargs (corpus_mb, n_sft, ...)
    are passed to generate."""
    out = Path(out_dir)
    if not is_complete(out):
        print(f"generating the tinyworld in {out} (once; a few seconds)")
        generate(out, seed=seed, **generate_kwargs)
    return out
