"""
Stage 1, pre-training: a GPT learns language, and the facts of its world, by predicting the next token.

The whole objective is one line: for every position t of a window of text, make the model give high
probability to the token that actually comes next, x[t+1]. Nobody labels anything: the text is its own
answer key (self-supervised). Facts come along for free: to predict "Mia's hat is ___" well, the model has to
know that Mia's hat is red. What pre-training does NOT teach is to answer: given "What colour is Mia's hat?"
a pre-trained model continues the text (another question, a story...). That is SFT's job (sft.py).

    python pretrain.py                                   # CPU, the tinyworld, ~5 minutes
    python pretrain.py --device cuda --compile --batch_size 64 --n_layer 6 --n_embd 384 --n_head 6 \
        --block_size 256 --max_iters 5000                # a laptop GPU (bf16 autocast is automatic on CUDA)
    torchrun --nproc_per_node=4 pretrain.py ...          # several GPUs (DDP; gloo on CPU, nccl on CUDA)
    python -m data.prepare --input shakespeare.txt --tokenizer gpt2 --out data/shakespeare
    python pretrain.py --data_dir data/shakespeare       # any text file
    python pretrain.py --resume                          # continue out/pretrain where it stopped

Where this departs from GPT-2 / nanoGPT-style training:
1. The model is tiny (about a million parameters) and the data synthetic, so a laptop CPU trains it in minutes.
2. Batches are random windows drawn with a generator seeded by the step number, so a resumed run sees exactly
   the batches the uninterrupted run would have seen.
3. No learning-rate or batch-size scaling rules: the defaults were picked for the tinyworld on a CPU.
"""

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

from common import (MetricsLogger, autocast, ensure_data_dir, get_device, lr_at, opt, parse_config, peak_flops,
                    plot_log, set_seed, tokenizer_for)
from model import GPT, GPTConfig, checkpoint_file, load_checkpoint, save_checkpoint, unwrapped


# ----------------------------------------------------------------------------------------------------------
# loss


def causal_lm_loss(logits, targets):
    """Mean next-token cross-entropy.

    logits (B, T, V): the model's scores at every position; targets (B, T): targets[:, t] is the token that
    follows position t, i.e. the input shifted left by one (inputs x[0..T-1], targets x[1..T]). Positions with
    target -1 are ignored (padding).

        loss = - 1/N * sum_{b,t: target != -1} log softmax(logits[b, t])[targets[b, t]]

    At initialisation every token is about equally likely, so the loss starts near ln(V).
    """
    B, T, V = logits.shape
    return F.cross_entropy(logits.float().reshape(B * T, V), targets.reshape(B * T), ignore_index=-1)


# ----------------------------------------------------------------------------------------------------------
# config


@dataclass
class Config:
    """Pre-train a GPT with the causal language-modelling loss."""
    data_dir: str = opt("data/tinyworld", "directory with train.bin, val.bin, meta.json (the tinyworld is generated if missing)")
    tokenizer: str = opt("", "tokenizer: '' = data_dir/tokenizer.bpe, or 'gpt2', or a .bpe path")
    out_dir: str = opt("out/pretrain", "where the checkpoint, log.jsonl, loss.png and metrics.json go")
    init: str = opt("scratch", "'scratch', a checkpoint path to continue from, or 'gpt2:DIR' (local Hugging Face GPT-2)")
    resume: bool = opt(False, "continue out_dir's checkpoint: same schedule, same data order")
    # model (ignored when the weights come from --init)
    n_layer: int = opt(4, "transformer blocks")
    n_head: int = opt(4, "attention heads")
    n_embd: int = opt(128, "embedding width")
    block_size: int = opt(128, "context length (tokens)")
    dropout: float = opt(0.0, "dropout probability while training")
    # optimisation
    batch_size: int = opt(32, "windows per micro-batch (per process)")
    grad_accum: int = opt(1, "micro-batches per optimizer step")
    max_iters: int = opt(800, "optimizer steps (the cosine schedule ends here)")
    stop_at: int = opt(0, "stop after this many steps (0 = max_iters), keeping the schedule of max_iters; --resume continues")
    lr: float = opt(3e-3, "peak learning rate")
    min_lr: float = opt(3e-4, "learning rate at the end of the cosine decay")
    warmup: int = opt(50, "linear warm-up steps")
    weight_decay: float = opt(0.1, "AdamW weight decay (matrices only)")
    grad_clip: float = opt(1.0, "clip the gradient norm to this (0 = off)")
    # evaluation, logging
    eval_interval: int = opt(200, "evaluate, print samples and save a checkpoint every this many steps")
    eval_iters: int = opt(10, "batches per loss estimate")
    log_interval: int = opt(10, "print a log line every this many steps")
    sample_tokens: int = opt(48, "tokens per printed sample")
    # system
    device: str = opt("auto", "auto | cpu | cuda | mps")
    compile: bool = opt(False, "torch.compile the model (CUDA)")
    seed: int = opt(1337, "random seed")


def main(argv=None):
    cfg = parse_config(Config, argv)

    # DDP: torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; every process trains on different windows
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world_size = 0, 1
    device = get_device(cfg.device)
    if ddp:
        import torch.distributed as dist
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    master = rank == 0
    set_seed(cfg.seed)
    device_type = device.split(":")[0]

    # ------------------------------------------------------------------------------------------------------
    # data: the token files, memory-mapped; a batch = random windows of block_size + 1 tokens
    data_dir = ensure_data_dir(cfg.data_dir) if master or not ddp else Path(cfg.data_dir)
    if ddp:
        torch.distributed.barrier()  # rank 0 may have generated the data
    meta = json.loads((Path(cfg.data_dir) / "meta.json").read_text())
    enc = tokenizer_for(cfg.data_dir, cfg.tokenizer)
    dtype = np.dtype(meta.get("dtype", "uint16"))
    splits = {s: np.memmap(Path(data_dir) / f"{s}.bin", dtype=dtype, mode="r") for s in ("train", "val")}
    for s, arr in splits.items():
        if len(arr) <= cfg.block_size + 1:
            raise ValueError(f"{data_dir}/{s}.bin has {len(arr)} tokens: fewer than block_size + 2 = {cfg.block_size + 2}")

    def get_batch(split, generator):
        arr = splits[split]
        starts = torch.randint(len(arr) - cfg.block_size - 1, (cfg.batch_size,), generator=generator)
        windows = torch.stack([torch.from_numpy(arr[s: s + cfg.block_size + 1].astype(np.int64)) for s in starts])
        x, y = windows[:, :-1], windows[:, 1:]  # (B, T) each: y is x shifted left by one
        return x.to(device), y.to(device)

    def batch_generator(step, micro):
        # seeded by (step, micro-batch, rank): a resumed run draws the very same windows
        return torch.Generator().manual_seed(cfg.seed * 1_000_003 + (step * cfg.grad_accum + micro) * world_size + rank)

    # ------------------------------------------------------------------------------------------------------
    # model
    out_dir = Path(cfg.out_dir)
    step, optimizer_state = 0, None
    if cfg.resume:
        ckpt = load_checkpoint(out_dir, expected_stage="pretrain")
        model = GPT(GPTConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["model"])
        step, optimizer_state = ckpt["step"], ckpt["optimizer"]
        if master:
            print(f"resuming {checkpoint_file(out_dir)} at step {step}")
    elif cfg.init.startswith("gpt2:"):
        if enc.name != "gpt2":
            raise ValueError("--init gpt2:DIR needs GPT-2's tokenizer: pass --tokenizer gpt2 (and data prepared with it)")
        model = GPT.from_pretrained(cfg.init[len("gpt2:"):], vocab_size=enc.n_vocab, dropout=cfg.dropout)
    elif cfg.init != "scratch":
        ckpt = load_checkpoint(cfg.init, expected_stage="pretrain")
        model = GPT(GPTConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["model"])
    else:
        model = GPT(GPTConfig(block_size=cfg.block_size, vocab_size=enc.n_vocab, n_layer=cfg.n_layer,
                              n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout))
    if model.config.vocab_size < enc.n_vocab:
        raise ValueError(f"the model has {model.config.vocab_size} tokens but tokenizer {enc.name} has {enc.n_vocab}")
    if cfg.block_size > model.config.block_size:
        raise ValueError(f"--block_size {cfg.block_size} exceeds the model's {model.config.block_size} positions")
    model.to(device)
    raw_model = model
    if master:
        print(f"model: {model.num_params() / 1e6:.2f}M parameters, {model.config}; device {device}, "
              f"{world_size} process(es)")
    if cfg.compile:
        model = torch.compile(model)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[int(os.environ["LOCAL_RANK"])]
                                                          if device_type == "cuda" else None)

    # ------------------------------------------------------------------------------------------------------
    # optimizer and schedule
    optimizer = raw_model.configure_optimizer(cfg.weight_decay, cfg.lr, (0.9, 0.95), device_type)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)

    # ------------------------------------------------------------------------------------------------------
    # evaluation: the same fixed batches every time, so numbers are comparable across steps and runs
    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {}
        for split in ("train", "val"):
            g = torch.Generator().manual_seed(10_000 + rank)
            losses = []
            for _ in range(cfg.eval_iters):
                x, y = get_batch(split, g)
                with autocast(device):
                    losses.append(causal_lm_loss(model(x), y).item())
            out[split] = sum(losses) / len(losses)
        model.train()
        return out

    def samples(n=2):
        bos = torch.tensor([[enc.encode_single_token("<|endoftext|>")]] * n, device=device)
        g = torch.Generator(device=device).manual_seed(cfg.seed)
        out = raw_model.generate(bos, cfg.sample_tokens, temperature=0.8, top_k=50, generator=g)
        return [enc.decode(row[1:].tolist()).split("<|endoftext|>")[0].strip() for row in out]

    # ------------------------------------------------------------------------------------------------------
    # training loop
    logger = MetricsLogger(out_dir, "pretrain", resume=cfg.resume, quiet=not master)
    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum * world_size
    peak = peak_flops(device)
    stop_at = cfg.stop_at or cfg.max_iters
    if master:
        losses0 = estimate_loss() if step == 0 else None
        if losses0:
            print(f"step 0: train {losses0['train']:.4f}, val {losses0['val']:.4f} (ln V = {math.log(enc.n_vocab):.4f})")
            logger.log(0, train_loss=losses0["train"], val_loss=losses0["val"])
    t_start = time.time()
    metrics, steps_run, train_time = {}, 0, 0.0
    model.train()
    while step < min(stop_at, cfg.max_iters):
        t0 = time.time()
        lr = lr_at(step, cfg.max_iters, cfg.lr, cfg.warmup, cfg.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for micro in range(cfg.grad_accum):
            x, y = get_batch("train", batch_generator(step, micro))
            sync = (not ddp) or micro == cfg.grad_accum - 1  # DDP: all-reduce gradients only once per step
            ctx = model.no_sync() if (ddp and not sync) else torch.enable_grad()
            with ctx, autocast(device):
                loss = causal_lm_loss(model(x), y) / cfg.grad_accum
                loss.backward()
            loss_sum += loss.item()
        if ddp:
            t = torch.tensor(loss_sum, device=device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.AVG)
            loss_sum = t.item()
        if not math.isfinite(loss_sum):
            last = checkpoint_file(out_dir)
            msg = (f"loss is {loss_sum} at step {step + 1}: stopping. The last good checkpoint "
                   f"({last if last.exists() else 'none yet'}) is kept; try a lower --lr or --grad_clip.")
            if ddp:
                torch.distributed.destroy_process_group()
            raise FloatingPointError(msg)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        dt = time.time() - t0
        steps_run, train_time = steps_run + 1, train_time + dt
        if master and (step % cfg.log_interval == 0 or step == 1):
            fields = dict(loss=loss_sum, lr=lr, norm=float(norm), ms=1000 * dt, **{"tok/s": tokens_per_step / dt})
            if peak:
                fields["mfu"] = raw_model.flops_per_token(cfg.block_size) * tokens_per_step / dt / (peak * world_size)
            logger.log(step, **fields)
        if master and (step % cfg.eval_interval == 0 or step == cfg.max_iters or step == stop_at):
            losses = estimate_loss()
            texts = samples()
            print(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            for t in texts:
                print(f"  sample: {t[:200]!r}")
            logger.log(step, train_loss=losses["train"], val_loss=losses["val"])
            metrics = {"step": step, "train_loss": losses["train"], "val_loss": losses["val"], "samples": texts}
            # ----------------------------------------------------------------------------------------------
            # save (atomically: a kill during the save leaves the previous checkpoint whole)
            save_checkpoint(out_dir, raw_model, stage="pretrain", step=step, tokenizer=enc.name,
                            optimizer=optimizer, train_config=asdict(cfg), extra={k: v for k, v in metrics.items()
                                                                                  if k != "samples"})
    if ddp:
        torch.distributed.destroy_process_group()
    if not master:
        return {}
    elapsed = time.time() - t_start
    metrics.update(seconds=round(elapsed, 1), tokens_per_s=round(tokens_per_step * steps_run / max(train_time, 1e-9)),
                   params=raw_model.num_params(), tokenizer=enc.name, vocab_size=enc.n_vocab)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    plot_log(out_dir / "log.jsonl", out_dir / "loss.png", [["loss", "train_loss", "val_loss"], "lr"],
             title="pre-training")
    print(f"done: {step} steps in {elapsed:.0f}s; wrote {checkpoint_file(out_dir)}, {out_dir / 'loss.png'}")
    return metrics


if __name__ == "__main__":
    try:
        main()
    except (FloatingPointError, FileNotFoundError, ValueError) as e:
        sys.exit(f"pretrain.py: {e}")
