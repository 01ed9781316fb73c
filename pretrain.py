"""
Stage 1, pre-training: a GPT learns language, and the facts of its world, by predicting the next token.

The whole objective is one line: for every position t of a window of text, make the model give high
probability to the token that actually comes next, x[t+1]. Nobody labels anything: the text is its own
answer key (self-supervised). Facts come along for free: to predict "Mia's hat is ___" well, the model has to
know that Mia's hat is red. What pre-training does NOT teach is to answer: given "What colour is Mia's hat?"
a pre-trained model continues the text (another question, a story...). That is SFT's job (sft.py).

    python pretrain.py                                   # CPU, the tinyworld, ~4 minutes on 2 cores
    python pretrain.py --preset gpu                      # a laptop GPU: a 10M-parameter model (bf16 on CUDA)
    python pretrain.py --preset gpu --compile            # the same, torch.compile'd (first step compiles)
    torchrun --nproc_per_node=4 pretrain.py --preset gpu # several GPUs (DDP; nccl on CUDA, gloo on CPU)
    python pretrain.py --resume                          # continue out/pretrain where it stopped
    python -m data.prepare --input my_text.txt --tokenizer gpt2 --out data/my_text
    python pretrain.py --data_dir data/my_text           # any text file (the tokenizer comes with the data)
    python pretrain.py --data_dir data/my_text --init gpt2:DIR --block_size 256 --lr 1e-4 --min_lr 1e-5
                                                         # continue GPT-2's weights (a local Hugging Face dir)
    python -m data.prepare --input data/tinyworld/corpus_train.txt --tokenizer gpt2 --out data/tinyworld_gpt2
    python pretrain.py --data_dir data/tinyworld_gpt2 --preset gpt2 --compile   # GPT-2 124M's shape (big GPU)

Where this departs from GPT-2 / nanoGPT-style training:
1. The model is tiny (about a million parameters) and the data synthetic, so a laptop CPU trains it in minutes.
2. Batches are random windows drawn with a generator seeded by the step number (and dropout is seeded the
   same way), so a resumed run sees exactly the batches the uninterrupted run would have seen.
3. No learning-rate or batch-size scaling rules: the defaults were picked for the tinyworld on a CPU; the
   schedule (linear warm-up, cosine decay) and AdamW's betas (0.9, 0.95) follow GPT-3, not GPT-2.
4. "Epochs" do not exist: every step draws fresh random windows, so some text is seen twice before other
   text is seen once (nanoGPT does the same).
"""

import contextlib
import gc
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from checkpoint import check_tokenizer, checkpoint_file, load_checkpoint, save_checkpoint
from config import opt, parse_config, resumed_config, run
from data.datasets import DEFAULT_DATA_DIR, ensure_data_dir, tokenizer_for
from device import autocast, get_device, peak_flops, set_seed
from logger import MetricsLogger
from model import GPT, GPTConfig, evaluating, load_model, model_from_checkpoint
from tokenizer import BOS, token_byte_lengths
from training import (RESUME_MAY_CHANGE, StopRequest, clip_gradients, exit_interrupted, lr_at, nothing_to_resume,
                      prepare_out_dir, save_run, set_lr)


# ----------------------------------------------------------------------------------------------------------
# loss


def causal_lm_loss(logits, targets, reduction="mean"):
    """Mean next-token cross-entropy over every position whose target is not -1.

    logits (B, T, V): the model's scores for the next token at every position of idx (B, T);
    targets (B, T): targets[:, t] = idx[:, t+1], the token that really follows position t. That is the shift:
    from a window w of T + 1 tokens, idx = w[:, :-1] and targets = w[:, 1:], so one forward pass trains T
    predictions at once, each seeing only its past (the attention is causal). Targets of -1 are ignored
    (padding; pre-training windows have none). With N = the number of targets that are not -1:

        loss = -(1/N) * sum_{b,t: targets[b,t] != -1} log softmax(logits[b, t])[targets[b, t]]

    At initialisation every token is about equally likely, so the loss starts near ln(V); a model that
    knows nothing but the token frequencies would reach their entropy; 0 means it predicts every token surely.
    reduction="none" returns the (B, T) loss of every position instead (0 where the target is -1).
    """
    B, T, V = logits.shape
    # float32 for the softmax even under bf16 autocast; cross_entropy = log_softmax + pick the target's entry
    loss = F.cross_entropy(logits.float().reshape(B * T, V), targets.reshape(B * T), ignore_index=-1,
                           reduction=reduction)
    return loss.view(B, T) if reduction == "none" else loss


def bits_per_byte(token_losses, targets, token_bytes):
    """The loss in bits per byte of text: a number that, unlike the loss per token, does not depend on the tokenizer.

    token_losses (B, T): the loss in nats of each prediction (causal_lm_loss(..., reduction="none"));
    targets (B, T): the token each position predicts (-1 = ignored); token_bytes (V,): how many UTF-8 bytes each
    token id decodes to, 0 for special tokens (tokenizer.token_byte_lengths). Over the set P of predictions
    whose target is an ordinary token (not -1, not a special token):

        bpb = sum_{t in P} loss_t / (ln 2 * sum_{t in P} bytes(targets_t))

    The sum of the losses is what it costs, in nats, to encode those tokens with the model's probabilities
    (divide by ln 2 for bits); dividing by the bytes they spell gives a cost per byte of text. A tokenizer with
    longer tokens makes fewer, harder predictions, so its loss per token is higher for the same model quality;
    its bits per byte is not. On the same held-out text, any two tokenizers (or a character model: on ASCII
    text one character is one byte, so bpb = its loss per character / ln 2) can be compared. Special tokens are
    markup between documents, not text: they are left out of both sums.
    """
    counted = targets >= 0
    n_bytes = torch.where(counted, token_bytes[targets.clamp(min=0)], 0)  # (B, T) bytes of each target
    counted &= n_bytes > 0  # special tokens spell no bytes
    nats = torch.where(counted, token_losses.float(), 0.0).sum()
    return (nats / (math.log(2) * n_bytes.sum())).item()


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """Pre-train a GPT with the causal language-modelling loss."""
    data_dir: str = opt(DEFAULT_DATA_DIR, "train.bin, val.bin, meta.json (the tinyworld is generated if missing)")
    tokenizer: str = opt("", "'' = the data's own (data_dir/tokenizer.bpe, or gpt2 per meta.json), 'gpt2', or a .bpe")
    out_dir: str = opt("out/pretrain", "where the checkpoint, log.jsonl, loss.png and metrics.json go")
    init: str = opt("scratch", "'scratch', a pretrain checkpoint to start from, or 'gpt2:DIR' (a local HF GPT-2)")
    resume: bool = opt(False, "continue out_dir's checkpoint with its saved config: same schedule and data order")
    preset: str = opt("", "'gpu' (a laptop GPU) or 'gpt2' (GPT-2 124M's shape): see PRESETS; later options win")
    # model (ignored when the weights come from --init)
    n_layer: int = opt(4, "transformer blocks", at_least=1)
    n_head: int = opt(4, "attention heads (must divide n_embd)", at_least=1)
    n_embd: int = opt(128, "embedding width", at_least=1)
    block_size: int = opt(128, "context length (tokens per window)", at_least=1)
    dropout: float = opt(0.0, "dropout probability while training", at_least=0, below=1)
    # optimisation
    batch_size: int = opt(32, "windows per micro-batch (per process)", at_least=1)
    grad_accum: int = opt(1, "micro-batches per optimizer step", at_least=1)
    max_iters: int = opt(800, "optimizer steps (the cosine schedule ends here)", at_least=1)
    stop_at: int = opt(0, "stop after this many steps (0 = max_iters), on max_iters' schedule; --resume goes on",
                       at_least=0)
    lr: float = opt(3e-3, "peak learning rate", at_least=0)
    min_lr: float = opt(3e-4, "learning rate at the end of the cosine decay", at_least=0)
    warmup: int = opt(50, "linear warm-up steps", at_least=0)
    weight_decay: float = opt(0.1, "AdamW weight decay (matrices only)", at_least=0)
    grad_clip: float = opt(1.0, "clip the gradient norm to this (0 = off)", at_least=0)
    # evaluation, logging
    eval_interval: int = opt(200, "evaluate, print samples and save a checkpoint every this many steps", at_least=1)
    eval_iters: int = opt(10, "batches per loss estimate", at_least=1)
    log_interval: int = opt(10, "print a log line every this many steps", at_least=1)
    sample_tokens: int = opt(48, "tokens per printed sample", at_least=1)
    # system
    device: str = opt("auto", "auto | cpu | cuda | mps")
    compile: bool = opt(False, "torch.compile the model (CUDA)")
    seed: int = opt(1337, "random seed")


# Presets are command-line options put before the user's own, so anything given explicitly still wins.
PRESETS = {
    # ~11M parameters, 16k tokens a step: a few minutes on a laptop GPU (not measured here: no GPU was at hand).
    # GPU memory, estimated (not measured) for CUDA with bf16 autocast and flash attention, at V = 2,052 (bpe:2048):
    #   fp32 weights + gradients + AdamW's two moments: 16 bytes x 11.5M parameters                   ~0.2 GB
    #   activations kept for backward, ~40 bytes x n_embd per token and layer (bf16 matmul inputs,
    #   fp32 LayerNorm inputs, dropout masks): 40 x 384 x 16,384 tokens x 6 layers                    ~1.5 GB
    #   logits, bf16 (B, T, V) + fp32 log-softmax + two fp32 (B, T, V) in backward: 14 x 16,384 x V   ~0.5 GB
    #   total ~2.2 GB, ~3 GB with the CUDA context: fits 8 GB. Attention without flash kernels keeps the
    #   (B, heads, T, T) probabilities (~1.7 GB more): still fits. With GPT-2's 50k vocabulary the logits
    #   alone take ~11.5 GB: add --batch_size 16 --grad_accum 4 (the same tokens a step, ~4 GB in all).
    "gpu": "--n_layer 6 --n_head 6 --n_embd 384 --block_size 256 --batch_size 64 --max_iters 1000 --lr 1e-3 "
           "--min_lr 1e-4 --warmup 100 --dropout 0.1 --eval_interval 250",
    # GPT-2 small (124M) from scratch, 64k tokens a step; needs GPT-2-tokenised data (python -m data.prepare)
    "gpt2": "--n_layer 12 --n_head 12 --n_embd 768 --block_size 1024 --batch_size 16 --grad_accum 4 --lr 6e-4 "
            "--min_lr 6e-5 --warmup 200 --max_iters 2000 --eval_interval 250 --eval_iters 20",
}
def resolve_config(argv=None):
    """Command line -> (Config, checkpoint to resume or None): the preset's options first, then the user's;
    with --resume, the configuration saved in the checkpoint except the options in training.RESUME_MAY_CHANGE
    (another value given for any other option is an error), and nothing to do once the run reached its end."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_config(Config, argv)
    if cfg.preset:
        if cfg.preset not in PRESETS:
            raise ValueError(f"--preset {cfg.preset!r}: unknown; choose one of {', '.join(PRESETS)}")
        cfg = parse_config(Config, PRESETS[cfg.preset].split() + argv)
    if not cfg.resume:
        return cfg, None
    ckpt = load_checkpoint(cfg.out_dir, expected_stage="pretrain")
    cfg = resumed_config(Config, cfg, ckpt["train_config"], argv, RESUME_MAY_CHANGE)
    if ckpt["step"] >= min(cfg.stop_at or cfg.max_iters, cfg.max_iters):
        stopped = 0 < cfg.stop_at < cfg.max_iters
        nothing_to_resume(cfg.out_dir, ckpt["step"], cfg.stop_at if stopped else cfg.max_iters,
                          "stop_at" if stopped else "max_iters",
                          *([f"give a later --stop_at (up to --max_iters {cfg.max_iters})"] if stopped else []))
    return cfg, ckpt


def setup_device(name):
    """The device of this process -> (ddp, rank, world_size, device). Under torchrun (WORLD_SIZE > 1) it joins the
    process group, each process on its own GPU (nccl) or on the CPU (gloo); alone: (False, 0, 1, device)."""
    device = get_device(name)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True  # what autocast leaves in fp32 still uses tensor cores
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world_size = 0, 1
    if ddp:
        import torch.distributed as dist
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return ddp, rank, world_size, device


def wrapped_for_training(model, compile, ddp, device_type):
    """model inside torch.compile and/or DDP, as asked; the plain module stays what evaluation, sampling and
    checkpoints use."""
    if compile:
        model = torch.compile(model)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[int(os.environ["LOCAL_RANK"])]
                                                          if device_type == "cuda" else None)
    return model


def agree_over_processes(loss, stop, device, world_size):
    """DDP, once per step: the mean loss over all processes (each sees its own micro-batches) and whether any of
    them was asked to stop (Ctrl-C, SIGTERM), in one all-reduce -> (mean loss, stop). Every rank gets the same
    answer, so every rank stops at the same step."""
    t = torch.tensor([loss, float(stop)], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t[0].item() / world_size, t[1].item() > 0


def leave_process_group():
    """DDP: every rank calls this on its way out, at the same point of the run. The barrier makes the other ranks
    wait while rank 0 evaluates, samples and saves, so that no rank tears the group down (and exits) while
    another is still working. The caller drops its DDP wrapper first: the wrapper holds the group, and a gloo
    group that outlives destroy_process_group() is torn down while the interpreter exits, which can abort the
    process ("terminate called without an active exception")."""
    gc.collect()  # the dropped DDP wrapper, if a reference cycle still holds it
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


# ----------------------------------------------------------------------------------------------------------
# data: the token files, memory-mapped; a batch = random windows of block_size + 1 tokens


def load_tokens(data_dir, enc, block_size):
    """data_dir's train.bin and val.bin as memory-mapped arrays of token ids -> {"train": ..., "val": ...}."""
    meta = json.loads((Path(data_dir) / "meta.json").read_text())
    if meta.get("tokenizer", enc.name) != enc.name:
        raise ValueError(f"{data_dir}/meta.json: the tokens were made by tokenizer {meta['tokenizer']!r}, but "
                         f"--tokenizer gives {enc.name!r}; prepare the data again or drop --tokenizer")
    dtype = np.dtype(meta.get("dtype", "uint16"))
    splits = {s: np.memmap(Path(data_dir) / f"{s}.bin", dtype=dtype, mode="r") for s in ("train", "val")}
    for s, arr in splits.items():
        if len(arr) < block_size + 1:
            raise ValueError(f"{data_dir}/{s}.bin has {len(arr)} tokens, fewer than block_size + 1 = {block_size + 1}")
    return splits


def get_batch(tokens, block_size, batch_size, generator, device):
    """batch_size windows of block_size + 1 tokens, at random starts -> x, y (B, T): y is x shifted left by one."""
    starts = torch.randint(len(tokens) - block_size, (batch_size,), generator=generator)
    windows = torch.stack([torch.from_numpy(tokens[s: s + block_size + 1].astype(np.int64)) for s in starts])
    x, y = windows[:, :-1], windows[:, 1:]  # (B, T) each
    return x.to(device), y.to(device)


def step_seed(seed, step, micro, grad_accum, world_size, rank):
    """The seed of one micro-batch's windows and dropout: a function of (step, micro-batch, rank) only, so a
    resumed run draws the very same windows and dropout masks as the uninterrupted one."""
    return seed * 1_000_003 + (step * grad_accum + micro) * world_size + rank


# ----------------------------------------------------------------------------------------------------------
# model


def build_model(cfg, enc, ckpt, device):
    """The GPT to train -> (model, the step it has reached): the checkpoint being resumed, GPT-2's weights
    (--init gpt2:DIR), another pre-training checkpoint (--init PATH), or a new one (--init scratch), on device.
    Every one must have been trained with this run's tokenizer."""
    if ckpt is not None:  # --resume
        check_tokenizer(enc, ckpt, checkpoint_file(cfg.out_dir))
        return model_from_checkpoint(ckpt, checkpoint_file(cfg.out_dir)).to(device), ckpt["step"]
    if cfg.init.startswith("gpt2:"):
        if enc.name != "gpt2":
            raise ValueError("--init gpt2:DIR needs GPT-2's tokenizer: data prepared with "
                             "`python -m data.prepare --tokenizer gpt2` (or pass --tokenizer gpt2)")
        model = GPT.from_pretrained(cfg.init[len("gpt2:"):], vocab_size=enc.n_vocab, dropout=cfg.dropout)
    elif cfg.init != "scratch":
        model, _ = load_model(cfg.init, expected_stage="pretrain", tokenizer=enc)
    else:
        model = GPT(GPTConfig(block_size=cfg.block_size, vocab_size=enc.n_vocab, n_layer=cfg.n_layer,
                              n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout))
    if model.config.vocab_size < enc.n_vocab:
        raise ValueError(f"the model has {model.config.vocab_size} tokens but tokenizer {enc.name} has {enc.n_vocab}")
    if cfg.block_size > model.config.block_size:
        raise ValueError(f"--block_size {cfg.block_size} exceeds the model's {model.config.block_size} positions")
    return model.to(device), 0


# ----------------------------------------------------------------------------------------------------------
# evaluation: the same fixed batches every time, so numbers are comparable across steps and runs


@torch.no_grad()
def estimate_loss(model, splits, block_size, batch_size, eval_iters, device, token_bytes):
    """causal_lm_loss over eval_iters batches of each split, always the same ones -> {"train": .., "val": ..} in
    nats per token, and {"train_bpb": .., "val_bpb": ..} in bits per byte (token_bytes: token_byte_lengths)."""
    out = {}
    with evaluating(model):  # dropout off
        for split, tokens in splits.items():
            g = torch.Generator().manual_seed(10_000)
            losses, targets = [], []
            for _ in range(eval_iters):
                x, y = get_batch(tokens, block_size, batch_size, g, device)
                with autocast(device):
                    logits = model(x)  # (B, T, V)
                losses.append(causal_lm_loss(logits, y, reduction="none"))  # (B, T) nats per prediction
                targets.append(y)
            losses, targets = torch.cat(losses), torch.cat(targets)  # (eval_iters * B, T)
            out[split] = losses.mean().item()
            out[f"{split}_bpb"] = bits_per_byte(losses, targets, token_bytes)
    return out


def evaluate(model, enc, splits, cfg, device, step):
    """What is printed at step 0 and every eval_interval steps: the losses on fixed batches of both splits (at
    step 0 beside ln V, the loss of a uniform guess) and, once training has begun, 3 documents the model writes
    -> {"step", "train_loss", "val_loss", "train_bpb", "val_bpb", "samples"}."""
    token_bytes = torch.tensor(token_byte_lengths(enc), device=device)  # (V,) bytes per token id, 0 for specials
    losses = estimate_loss(model, splits, cfg.block_size, cfg.batch_size, cfg.eval_iters, device, token_bytes)
    texts = sample_documents(model, enc, 3, cfg.sample_tokens, cfg.seed, device) if step > 0 else []
    print(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
          + (f" (ln V = {math.log(enc.n_vocab):.4f})" if step == 0 else "")
          + f"; val {losses['val_bpb']:.4f} bits per byte")
    for text in texts:
        print(f"  sample: {text[:200]!r}")
    return {"step": step, "train_loss": losses["train"], "val_loss": losses["val"], "train_bpb": losses["train_bpb"],
            "val_bpb": losses["val_bpb"], "samples": texts}


def sample_documents(model, enc, n, max_tokens, seed, device):
    """n documents written by the model: every document starts with <|endoftext|>, so generating from it alone
    writes a new one (temperature 0.8, top-k 50), cut at the next <|endoftext|>."""
    bos = torch.tensor([[enc.encode_single_token(BOS)]] * n, device=device)  # (n, 1)
    g = torch.Generator(device=device).manual_seed(seed)
    out = model.generate(bos, min(max_tokens, model.config.block_size - 1), temperature=0.8, top_k=50, generator=g)
    return [enc.decode(row[1:].tolist()).split(BOS)[0].strip() for row in out]


# ----------------------------------------------------------------------------------------------------------
# one optimizer step's gradients


def accumulate_gradients(model, tokens, cfg, step, world_size, rank, device):
    """The gradients of one optimizer step, from cfg.grad_accum micro-batches of this process's windows, added up
    in the parameters' .grad -> the step's mean loss on this process. Under DDP (model wrapped) the gradients
    are all-reduced once, after the last micro-batch; the earlier ones skip it (no_sync)."""
    loss_sum = 0.0
    for micro in range(cfg.grad_accum):
        seed = step_seed(cfg.seed, step, micro, cfg.grad_accum, world_size, rank)
        x, y = get_batch(tokens, cfg.block_size, cfg.batch_size, torch.Generator().manual_seed(seed), device)  # (B, T)
        torch.manual_seed(seed)  # dropout masks
        last = micro == cfg.grad_accum - 1
        with model.no_sync() if (world_size > 1 and not last) else contextlib.nullcontext():
            with autocast(device):
                logits = model(x)  # (B, T, V)
            loss = causal_lm_loss(logits, y) / cfg.grad_accum  # the sum over micro-batches is the mean
            loss.backward()
        loss_sum += loss.item()
    return loss_sum


# ----------------------------------------------------------------------------------------------------------
# main


def main(argv=None):
    # ------------------------------------------------------------------------------------------------------
    # config; DDP: torchrun sets WORLD_SIZE/RANK/LOCAL_RANK, and every process trains on different windows
    cfg, ckpt = resolve_config(argv)
    ddp, rank, world_size, device = setup_device(cfg.device)
    master = rank == 0
    set_seed(cfg.seed)
    device_type = device.split(":")[0]
    data_dir = ensure_data_dir(cfg.data_dir) if master or not ddp else Path(cfg.data_dir)
    if ddp:
        torch.distributed.barrier()  # rank 0 may have generated the data
    enc = tokenizer_for(data_dir, cfg.tokenizer)

    # ------------------------------------------------------------------------------------------------------
    # model
    model, step = build_model(cfg, enc, ckpt, device)
    raw_model = model  # the plain module: what evaluation, sampling and checkpoints use
    if master:
        print(f"model: {raw_model.num_params(non_embedding=False) / 1e6:.2f}M parameters, {model.config}; device "
              f"{device}, {world_size} process(es)" + (f"; resuming step {step}, saved config" if step else ""))
    model = wrapped_for_training(model, cfg.compile, ddp, device_type)

    # ------------------------------------------------------------------------------------------------------
    # data
    splits = load_tokens(data_dir, enc, cfg.block_size)

    # ------------------------------------------------------------------------------------------------------
    # optimizer and schedule: AdamW, decay on matrices only; lr_at = linear warm-up then cosine to min_lr
    optimizer = raw_model.configure_optimizer(cfg.weight_decay, cfg.lr, (0.9, 0.95), device_type)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])

    # ------------------------------------------------------------------------------------------------------
    # training loop (rank 0 alone writes: a new run first moves an earlier run in out_dir aside)
    out_dir = prepare_out_dir(cfg.out_dir, resume=ckpt is not None) if master else Path(cfg.out_dir)
    logger = MetricsLogger(out_dir, "pretrain", resume_from=step if ckpt else None) if master else None
    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum * world_size
    flops_per_step = raw_model.flops_per_token(cfg.block_size) * tokens_per_step
    peak = peak_flops(device)  # None unless we know this GPU's peak: then no MFU is printed
    stop_at = min(cfg.stop_at or cfg.max_iters, cfg.max_iters)
    metrics = dict(ckpt["extra"]) if ckpt is not None else {}  # the last evaluation's numbers
    if master and step == 0:
        metrics = evaluate(raw_model, enc, splits, cfg, device, step)
        logger.log(0, **{k: metrics[k] for k in ("train_loss", "val_loss", "train_bpb", "val_bpb")})
    t_start = time.time()
    steps_run, train_time, stop_now = 0, 0.0, False
    model.train()
    with StopRequest(escalate=not ddp) as stop:  # Ctrl-C / SIGTERM: finish the step, save, exit
        while step < stop_at and not stop_now:
            t0 = time.time()
            lr = lr_at(step, cfg.max_iters, cfg.lr, cfg.warmup, cfg.min_lr)
            set_lr(optimizer, lr)
            loss_sum = accumulate_gradients(model, splits["train"], cfg, step, world_size, rank, device)
            stop_now = stop.requested is not None
            if ddp:
                loss_sum, stop_now = agree_over_processes(loss_sum, stop_now, device, world_size)
            if not math.isfinite(loss_sum):  # every rank sees the same mean loss: all of them stop here
                last_ckpt = checkpoint_file(out_dir)
                msg = (f"loss is {loss_sum} at step {step + 1}: stopping before the update. The last good checkpoint "
                       f"({last_ckpt if last_ckpt.exists() else 'none yet'}) is kept; try a lower --lr or --grad_clip.")
                if ddp:
                    del model
                    leave_process_group()
                raise FloatingPointError(msg)
            norm = clip_gradients(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            dt = time.time() - t0
            steps_run, train_time = steps_run + 1, train_time + dt
            if master and (step % cfg.log_interval == 0 or step == 1):
                fields = dict(loss=loss_sum, lr=lr, norm=float(norm), ms=1000 * dt, **{"tok/s": tokens_per_step / dt})
                if peak:  # model FLOPs utilisation: achieved training FLOP/s over the GPUs' peak
                    fields["mfu"] = flops_per_step / dt / (peak * world_size)
                logger.log(step, **fields)
            if master and (step % cfg.eval_interval == 0 or step == stop_at):
                metrics = evaluate(raw_model, enc, splits, cfg, device, step)
                logger.log(step, **{k: metrics[k] for k in ("train_loss", "val_loss", "train_bpb", "val_bpb")})
            # save (atomically: a kill during the save leaves the previous checkpoint whole); an interrupted run
            # saves too: its step is complete, so the checkpoint resumes exactly
            if master and (step % cfg.eval_interval == 0 or step == stop_at or stop_now):
                save_checkpoint(out_dir, raw_model, stage="pretrain", step=step, tokenizer=enc.name,
                                optimizer=optimizer, train_config=asdict(cfg),
                                extra={k: v for k, v in metrics.items() if k != "samples"})
        interrupted = stop.requested or "a signal to another process" if stop_now else None
    if ddp:
        del model  # the DDP wrapper (raw_model stays)
        leave_process_group()
    if interrupted:
        exit_interrupted(interrupted, step, out_dir, "pretrain.py", show=master)
    if not master:
        return {}

    # ------------------------------------------------------------------------------------------------------
    # save: the checkpoint is written at every evaluation; the run's numbers and its loss curves
    tokens_per_s = tokens_per_step * steps_run / max(train_time, 1e-9)
    metrics.update(signal="text only", labels=0,  # where the training signal came from; preference labels used
                   seconds=round(time.time() - t_start, 1), tokens_per_s=round(tokens_per_s), tokenizer=enc.name,
                   vocab_size=enc.n_vocab, params=raw_model.num_params(non_embedding=False),
                   **({"mfu": round(tokens_per_s * flops_per_step / tokens_per_step / (peak * world_size), 4)}
                      if peak else {}),
                   **({"peak_gpu_gb": round(torch.cuda.max_memory_allocated(device) / 1e9, 2)}  # what a GPU needs
                      if device_type == "cuda" else {}))
    save_run(out_dir, metrics, [("loss.png", [["loss", "train_loss", "val_loss"], "lr"], "pre-training")])
    print(f"done: {step} steps in {metrics['seconds']:.0f}s, {tokens_per_s:,.0f} tokens/s"
          + (f", peak GPU memory {metrics['peak_gpu_gb']} GB" if "peak_gpu_gb" in metrics else ""))
    return metrics


if __name__ == "__main__":
    run(main, FloatingPointError)
