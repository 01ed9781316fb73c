"""
Stage 2, supervised fine-tuning (SFT): from a document completer to a chat model.

A pre-trained model continues text: ask it "What is 2 plus 3?" and it may write another question, or a story.
SFT shows it conversations written by people, rendered with the chat template

    <|endoftext|><|user|>What is 2 plus 3?<|end|><|assistant|>Sure! 2 plus 3 is 5.<|end|>
                                                              ^^^^^^^^^^^^^^^^^^^^^^^^^^^ mask = 1

and trains the same next-token loss as pre-training, but only on the assistant's tokens (mask = 1): the
model should learn to write replies, not to predict what users type. Afterwards it answers in the chat format
and stops with <|end|>. It also copies the style of its demonstrations, good and bad: the tinyworld's
demonstrations come from a crowd of annotators of mixed quality (some rude, some rambling, some wrong), and the
SFT model reproduces that mixture. Preference tuning (ppo.py, dpo.py) is what moves it towards the best style.

After training, the base and the SFT model answer the same held-out prompts (sampled at temperature 1.0 with
a fixed seed: the distribution PPO optimises; ppo.py and dpo.py evaluate the same way, with
evaluate.compare_models), and the tinyworld's gold judge scores the replies: format compliance (the reply ends
with <|end|>; writing the user's next turn itself, ending the document with <|endoftext|>, or never stopping
are the failures, counted as stop_user, stop_other, no_stop), correctness on verifiable tasks, the gold score
and its parts. The table, three example replies and out_dir/{metrics.json, samples.jsonl} show the difference.

    python sft.py                                  # CPU, after pretrain.py; ~1.5 minutes on 2 cores
    python sft.py --device cuda --batch_size 64    # one GPU
    python sft.py --train_file my_chats.jsonl      # your own {"messages": [...]} conversations
    python sft.py --tools                          # the tool-using model: out/sft -> out/sft_tools (~2 min)

Tool use (--tools): the same loss on the helpful annotator's demonstrations with tool calls (sft_tools_*.jsonl:
a calculator and a lookup, called on arithmetic, word problems and facts, not on the others). The template puts the
call and the tool's result inside the assistant's turn (tokenizer.py); the mask is 1 on the call and 0 on the
result, so the model learns when and how to call, never to write results. It is a short run of its own on top of
the SFT model (TOOLS_OPTIONS), and its evaluation runs the tools inside generation (data.tinyworld.run_tool):
the table shows tool_calls, the calls per reply, and tool_calls_right, the share of calls that asked the right
question. The main pipeline (reward model, PPO, DPO) never sees a tool.

Where this departs from InstructGPT-style SFT:
1. The loss is averaged over all assistant tokens of the (accumulated) batch, not per conversation, so long
   replies weigh more; a per-sequence mean would let a one-word reply count as much as a story.
2. Batches are drawn at random with replacement, seeded by step (reproducible), not in epochs.
3. Conversations longer than the context are dropped (and counted), not truncated: a truncated reply has no
   <|end|> to learn, and the model would learn that replies may break off.
4. No packing of several conversations into one row: rows are right-padded to the longest of the batch (the
   model needs no attention mask for right padding: see model.py).

Ctrl-C or SIGTERM stops the loop after the current step and saves out_dir/ckpt.pt with its optimizer and random
state; `python sft.py --resume` continues it exactly (the batches are drawn by step, so the resumed run is the
uninterrupted one, step for step). An exact resume costs this stage only the optimizer's state in the file, so it
gets one rather than a restart from the saved weights (--init), which would warm up and decay the learning rate
again.
"""

import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from config import opt, parse_config, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, prompts_that_fit, render_conversations, tokenizer_for
from data.tinyworld import VERIFIABLE, run_tool
from device import autocast, get_device, set_seed
from evaluate import SUMMARY_KEYS, compare_models
from logger import MetricsLogger
from model import evaluating, load_model, pad_batch
from training import (StopRequest, clip_gradients, draw_batch, lr_at, prepare_out_dir, restore, resume_state,
                      save_progress, save_run, set_lr, start_or_resume)

# ----------------------------------------------------------------------------------------------------------
# loss


def sft_loss(logits, targets, mask, normalizer=None):
    """Cross-entropy on the assistant's tokens only.

    logits (B, T, V); targets (B, T), targets[:, t] = the token after position t; mask (B, T), 1 where that
    target is an assistant token (its reply or its <|end|>), 0 on prompt, role markers and padding.

        loss = sum_{b,t} mask[b,t] * CE(logits[b,t], targets[b,t]) / N,    N = sum_{b,t} mask[b,t]
        CE(z, y) = -log softmax(z)[y]

    Where mask is 0 the target is never read (it may be padding or -1).

    N counts tokens over the whole batch (every assistant token weighs the same). With gradient accumulation,
    pass normalizer = the number of assistant tokens of the whole accumulated batch, so the micro-batch losses
    add up to the loss of the big batch. A batch without assistant tokens gives 0 (and zero gradients), not NaN.
    """
    B, T, V = logits.shape
    ce = F.cross_entropy(logits.float().reshape(B * T, V), targets.reshape(B * T).clamp(min=0), reduction="none")
    mask = mask.reshape(B * T).float()
    n = mask.sum() if normalizer is None else torch.as_tensor(normalizer, dtype=torch.float32, device=logits.device)
    return (ce * mask).sum() / n.clamp(min=1.0)


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """Supervised fine-tuning on conversations, loss on the assistant's tokens only."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "tinyworld directory (generated if missing); default files come from here")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    tools: bool = opt(False, "learn tool use: train on data_dir/sft_tools_*.jsonl with TOOLS_OPTIONS (from out/sft "
                      "to out/sft_tools) and evaluate with the tools running")
    init: str = opt("out/pretrain", "checkpoint to start from (a 'pretrain' or 'sft' stage)")
    out_dir: str = opt("out/sft", "where the checkpoint, logs, metrics.json and samples.jsonl go")
    resume: bool = opt(False, "continue the stopped run in out_dir (Ctrl-C, SIGTERM) with its saved options")
    train_file: str = opt("", "conversations JSONL ({'messages': [...]}); '' = data_dir/sft_train.jsonl "
                          "(sft_tools_train.jsonl with --tools)")
    eval_file: str = opt("", "held-out conversations for the validation loss; '' = data_dir/sft_val.jsonl "
                         "(sft_tools_val.jsonl with --tools)")
    eval_prompts: str = opt("", "held-out prompts for the generation evaluation; '' = data_dir/prompts_val.jsonl")
    batch_size: int = opt(32, "conversations per micro-batch", at_least=1)
    grad_accum: int = opt(1, "micro-batches per optimizer step", at_least=1)
    max_iters: int = opt(500, "optimizer steps", at_least=1)
    lr: float = opt(1e-3, "peak learning rate", at_least=0)
    min_lr: float = opt(1e-4, "final learning rate (cosine decay)", at_least=0)
    warmup: int = opt(20, "warm-up steps", at_least=0)
    weight_decay: float = opt(0.0, "AdamW weight decay", at_least=0)
    grad_clip: float = opt(1.0, "gradient-norm clip (0 = off)", at_least=0)
    eval_interval: int = opt(100, "validation loss every this many steps", at_least=1)
    log_interval: int = opt(10, "log line every this many steps", at_least=1)
    n_eval_prompts: int = opt(300, "held-out prompts to generate replies for (0 = skip the generation evaluation)",
                              at_least=0)
    eval_temperature: float = opt(1.0, "sampling temperature of the evaluation (0 = greedy)", at_least=0)
    max_new_tokens: int = opt(64, "longest reply in the evaluation", at_least=1)
    device: str = opt("auto", "auto | cpu | cuda | mps")
    compile: bool = opt(False, "torch.compile the model (CUDA)")
    seed: int = opt(1337, "random seed")


# The tool-using model: a short run on top of the SFT model. These options are put before the user's own, so
# anything given explicitly still wins.
TOOLS_OPTIONS = "--init out/sft --out_dir out/sft_tools --max_iters 900 --warmup 10"


def with_tools_options(argv=None):
    """The command line, with TOOLS_OPTIONS put before the user's options when it asks for --tools (the user's
    options come last and win)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return TOOLS_OPTIONS.split() + argv if parse_config(Config, argv).tools else argv


# ----------------------------------------------------------------------------------------------------------
# data


def sft_batch(examples, device):
    """Rendered conversations [(ids, mask), ...] -> x, y, mask, each (B, T-1) and right-padded, and the number of
    real tokens in x. x = ids[:, :-1] are the inputs, y = ids[:, 1:] the targets, mask[:, t] = 1 where y[:, t] is
    the assistant's (the chat template's mask, shifted like the targets)."""
    ids, _ = pad_batch([e[0] for e in examples], pad_id=0, side="right")
    mask, _ = pad_batch([e[1] for e in examples], pad_id=0, side="right")
    x, y, m = ids[:, :-1], ids[:, 1:], mask[:, 1:]  # (B, T-1) each
    return x.to(device), y.to(device), m.to(device), sum(len(e[0]) - 1 for e in examples)


# ----------------------------------------------------------------------------------------------------------
# evaluation

# the comparison table at the end also shows the ways to fail the format and the parts of the gold score
REPORT_KEYS = (SUMMARY_KEYS[:3] + ["stop_user", "stop_other", "no_stop"] + SUMMARY_KEYS[3:]
               + ["gold_correctness", "gold_safety", "gold_tone", "gold_concision", "gold_format", "tool_calls",
                  "tool_calls_right"] + [f"correctness_{task}" for task in VERIFIABLE])


@torch.no_grad()
def validation_loss(model, examples, batch_size, device):
    """sft_loss over every assistant token of the held-out conversations (each token weighs the same)."""
    total, count = 0.0, 0
    with evaluating(model):  # dropout off
        for i in range(0, len(examples), batch_size):
            x, y, m, _ = sft_batch(examples[i: i + batch_size], device)
            with autocast(device):
                logits = model(x)  # (B, T-1, V); right padding: no attention mask needed
            n = m.sum().item()
            total += sft_loss(logits, y, m).item() * n
            count += n
    return total / max(count, 1)


# ----------------------------------------------------------------------------------------------------------
# main


def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config
    cfg, ckpt = start_or_resume(Config, with_tools_options(argv), "sft")  # ckpt: the stopped run --resume continues
    set_seed(cfg.seed)
    device = get_device(cfg.device)
    data_dir = ensure_data_dir(cfg.data_dir)
    enc = tokenizer_for(data_dir, cfg.tokenizer)

    # ------------------------------------------------------------------------------------------------------
    # model: the pre-trained GPT; a second copy stays as it is, for the comparison at the end
    model, _ = load_model(cfg.init, expected_stage=("pretrain", "sft"), device=device, tokenizer=enc)
    base_model, _ = load_model(cfg.init, device=device, tokenizer=enc)
    block_size = model.config.block_size
    if model.config.vocab_size < enc.n_vocab:  # rendering the tool tokens would index past the embedding
        raise ValueError(f"{cfg.init}: a vocabulary of {model.config.vocab_size} tokens, but the tokenizer has "
                         f"{enc.n_vocab} (its tool tokens came later): run pretrain.py and sft.py again")

    # ------------------------------------------------------------------------------------------------------
    # data: every conversation rendered once into (ids, mask); those longer than the context are dropped
    files = "sft_tools" if cfg.tools else "sft"
    train_file = cfg.train_file or str(data_dir / f"{files}_train.jsonl")
    eval_file = cfg.eval_file or str(data_dir / f"{files}_val.jsonl")
    train, dropped = render_conversations(enc, train_file, block_size)
    val, val_dropped = render_conversations(enc, eval_file, block_size)
    prompts = prompts_that_fit(enc, cfg.eval_prompts or str(data_dir / "prompts_val.jsonl"), block_size,
                               limit=cfg.n_eval_prompts)
    print(f"{len(train)} training conversations from {train_file}, {len(val)} held out from {eval_file} "
          f"(dropped, longer than the context of {block_size} tokens: {dropped} and {val_dropped})")

    # ------------------------------------------------------------------------------------------------------
    # optimizer and schedule: AdamW (decay on matrices only), linear warm-up then cosine decay
    optimizer = model.configure_optimizer(cfg.weight_decay, cfg.lr, (0.9, 0.95), device.split(":")[0])
    train_model = torch.compile(model) if cfg.compile else model

    # ------------------------------------------------------------------------------------------------------
    # training loop (Ctrl-C / SIGTERM: it stops after the step, saves, and --resume goes on from there)
    start = restore(ckpt, model, optimizer)  # 0 for a new run
    out_dir = prepare_out_dir(cfg.out_dir, resume=ckpt is not None)  # a new run moves an earlier one aside
    logger = MetricsLogger(out_dir, "sft", resume_from=start if ckpt else None)
    base_val = validation_loss(base_model, val, cfg.batch_size, device)  # the base model: high on <|end|>
    if start == 0:
        logger.log(0, val_loss=base_val)
    model.train()
    t_start = time.time()
    done = start  # steps completed
    with StopRequest() as stop:
        for step in range(start, cfg.max_iters):
            t0 = time.time()
            lr = lr_at(step, cfg.max_iters, cfg.lr, cfg.warmup, cfg.min_lr)
            set_lr(optimizer, lr)
            batches = [sft_batch(draw_batch(train, cfg.batch_size,
                                            seed=cfg.seed * 1_000_003 + step * cfg.grad_accum + micro), device)
                       for micro in range(cfg.grad_accum)]
            n_assistant = sum(int(m.sum()) for _, _, m, _ in batches)  # the normaliser: assistant tokens of the step
            loss_sum, n_tokens = 0.0, 0
            for x, y, m, n in batches:
                with autocast(device):
                    # the micro-batches add up to the mean of the step
                    loss = sft_loss(train_model(x), y, m, normalizer=n_assistant)
                loss.backward()
                loss_sum, n_tokens = loss_sum + loss.item(), n_tokens + n
            clip_gradients(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            dt = time.time() - t0
            if (step + 1) % cfg.log_interval == 0 or step == 0:
                logger.log(step + 1, loss=loss_sum, lr=lr, ms=1000 * dt, **{"tok/s": n_tokens / dt},
                           assistant_tokens=n_assistant)
            if (step + 1) % cfg.eval_interval == 0 and step + 1 < cfg.max_iters:
                logger.log(step + 1, val_loss=validation_loss(model, val, cfg.batch_size, device))
            done = step + 1
            if stop.requested:
                break
    save_progress(stop, out_dir, model, "sft.py", stage="sft", step=done, tokenizer=enc.name, optimizer=optimizer,
                  train_config=asdict(cfg), resume=resume_state())  # an interrupted run exits here
    train_seconds = time.time() - t_start

    # ------------------------------------------------------------------------------------------------------
    # evaluation: the validation loss; the base model and the SFT model on the same held-out prompts
    val_loss = validation_loss(model, val, cfg.batch_size, device)
    logger.log(cfg.max_iters, val_loss=val_loss)
    print(f"\nvalidation loss {base_val:.3f} -> {val_loss:.3f}")
    metrics = {"val_loss": val_loss, "base_val_loss": base_val, "train_seconds": round(train_seconds, 1),
               "n_train": len(train), "n_dropped": dropped,
               "signal": f"{len(train):,} {'tool ' if cfg.tools else ''}demonstrations", "labels": 0}  # the training signal; preference labels
    names = ("sft", "sft_tools") if cfg.tools else ("base", "sft")  # the model it started from, the one it trained
    if prompts:  # with --tools, both answer with the tools running
        metrics.update(compare_models(dict(zip(names, (base_model, model))), enc, prompts, keys=REPORT_KEYS,
                                      temperature=cfg.eval_temperature, max_new_tokens=cfg.max_new_tokens,
                                      seed=cfg.seed, device=device, samples_file=f"{out_dir}/samples.jsonl",
                                      tools=run_tool if cfg.tools else None))

    # ------------------------------------------------------------------------------------------------------
    # save
    save_run(out_dir, metrics, [("loss.png", [["loss", "val_loss"], "lr"], "SFT")], model=model, stage="sft",
             step=cfg.max_iters, tokenizer=enc.name, train_config=asdict(cfg),
             extra={"val_loss": val_loss, "signal": metrics["signal"], "labels": 0,
                    **({"sft": metrics[names[1]]} if prompts else {})}, started=t_start)
    return metrics


if __name__ == "__main__":
    run(main)
