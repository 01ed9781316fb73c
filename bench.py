"""
Benchmarks of model.GPT on this machine, side by side with reference implementations, in one run:

1. a training step (forward, backward, AdamW step) at nanoGPT's CPU "baby" configuration: 4 layers, 4 heads,
   128 dims, context 64, batch 12, no biases (bias=False on both sides), against nanoGPT's own model.py, each
   model with the optimizer its own code configures (configure_optimizer / configure_optimizers), the same
   batch, the steps of the two models alternating so that both see the same load. Twice, each time with the
   same maths on both sides: the exact (erf) GELU, model.GPT's default and nanoGPT's as it ships, then GPT-2's
   tanh approximation (GPTConfig(gelu="tanh"), what GPT-2's weights need), which PyTorch's CPU kernels compute
   2-3x slower;
2. generation with the KV cache at batch 1 (greedy, 256 new tokens after a 16-token prompt) against Hugging Face
   transformers' GPT2LMHeadModel.generate on a random model of the same size (4 layers, 128 dims, biases);
3. what the KV cache buys: GPT.generate with and without it, at batch 8.

    python bench.py --nanogpt PATH/model.py           # CPU; --device cuda for a GPU
    python bench.py --threads 1 --clock cpu           # a busy machine: CPU seconds of this process, one thread

nanoGPT is not part of this repository. Get its model.py with
    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT   # then --nanogpt /tmp/nanoGPT/model.py
Without --nanogpt the first comparison is skipped, and without transformers (a dev requirement:
pip install -r requirements-dev.txt) the second; the run says so.

Each number is the median of several timed runs after a warm-up, the compared models taking turns; a ratio
above 1 means model.GPT is faster. Wall-clock time is what a user waits; on a machine that other programs keep
busy, --threads 1 --clock cpu measures the CPU time of this process instead, which they disturb much less.
Repeat the run: the ratios move by a few percent from run to run.
"""

import argparse
import contextlib
import importlib.util
import io
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from model import GPT, GPTConfig


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load_nanogpt(path):
    """nanoGPT's model.py, imported from a file path -> the module (its GPT and GPTConfig)."""
    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alternating(runs, repeats, device, clock=time.perf_counter):
    """runs: {name: run()}; each is called repeats + 1 times, the runs taking turns so that they share whatever
    else the machine is doing; the first call warms up -> {name: median seconds of a call}."""
    times = {name: [] for name in runs}
    for r in range(repeats + 1):
        for name, run in runs.items():
            t0 = clock()
            run()
            sync(device)
            if r > 0:
                times[name].append(clock() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def training_step(model, optimizer, loss_of, x, y):
    """One training step of model on the batch (x, y): loss_of(model, x, y) -> loss; backward; optimizer step."""
    model.train()

    def step():
        loss = loss_of(model, x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nanogpt", default="", help="path of nanoGPT's model.py (the training-step comparison)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="wall: elapsed time; cpu: CPU seconds of this process (steadier on a busy machine)")
    ap.add_argument("--vocab_size", "--vocab-size", type=int, default=1065,
                    help="vocabulary of every model (the default tinyworld's is 1,065)")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per model")
    ap.add_argument("--new_tokens", "--new-tokens", type=int, default=256, help="tokens generated per run")
    ap.add_argument("--repeats", type=int, default=5, help="timed generation runs per model")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, V = args.device, args.vocab_size
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, {args.clock} clock")
    results = {}

    # 1. a training step at nanoGPT's baby configuration
    baby = dict(block_size=64, vocab_size=V, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    print(f"\n1. training step (forward, backward, AdamW), {baby}, batch 12")
    if not args.nanogpt or not Path(args.nanogpt).is_file():
        print(f"   skipped: no nanoGPT model.py at {args.nanogpt!r} (git clone https://github.com/karpathy/nanoGPT, "
              f"then --nanogpt nanoGPT/model.py)")
    else:
        nano = load_nanogpt(args.nanogpt)
        g = torch.Generator().manual_seed(0)
        x, y = (torch.randint(0, V, (12, 64), generator=g).to(device) for _ in range(2))

        def our_loss(model, x, y):  # pretrain.causal_lm_loss
            logits = model(x)
            return F.cross_entropy(logits.float().reshape(-1, V), y.reshape(-1), ignore_index=-1)

        for gelu in ("exact", "tanh"):
            torch.manual_seed(0)
            ours = GPT(GPTConfig(**baby, gelu=gelu)).to(device)
            with contextlib.redirect_stdout(io.StringIO()):  # nanoGPT prints its parameter count and optimizer
                theirs = nano.GPT(nano.GPTConfig(**baby)).to(device)
                their_optimizer = theirs.configure_optimizers(0.1, 1e-3, (0.9, 0.95), device.split(":")[0])
            assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
            if gelu == "tanh":
                for block in theirs.transformer.h:
                    block.mlp.gelu = torch.nn.GELU(approximate="tanh")
            our_optimizer = ours.configure_optimizer(0.1, 1e-3, (0.9, 0.95), device.split(":")[0])
            t = alternating({"model.GPT": training_step(ours, our_optimizer, our_loss, x, y),
                             "nanoGPT": training_step(theirs, their_optimizer, lambda m, x, y: m(x, y)[1], x, y)},
                            args.steps, device, clock)
            key = "train_vs_nanogpt" if gelu == "exact" else "train_vs_nanogpt_tanh_gelu"
            results[key] = t["nanoGPT"] / t["model.GPT"]
            print(f"   both with the {'exact GELU (nanoGPT as it ships)' if gelu == 'exact' else 'tanh GELU (GPT-2)'}:")
            for name, sec in t.items():
                print(f"     {name:10s} {1000 * sec:8.2f} ms/step  {12 * 64 / sec:10,.0f} tokens/s")
            print(f"     model.GPT is {results[key]:.2f}x nanoGPT's speed")

    # 2. KV-cache generation at batch 1, against Hugging Face
    N = args.new_tokens
    print(f"\n2. greedy generation of {N} tokens after 16, batch 1, 4 layers x 128 dims, vocabulary {V}")
    idx = torch.randint(0, V, (1, 16), generator=torch.Generator().manual_seed(0)).to(device)
    torch.manual_seed(0)
    ours = GPT(GPTConfig(block_size=16 + N, vocab_size=V, n_layer=4, n_head=4, n_embd=128,
                         gelu="tanh")).to(device).eval()  # Hugging Face's GPT-2 uses the tanh GELU
    try:
        import transformers
    except ImportError:
        print("   skipped: transformers is not installed (pip install -r requirements-dev.txt)")
    else:
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(  # no end token: both write exactly N tokens
            vocab_size=V, n_positions=16 + N, n_embd=128, n_layer=4, n_head=4, bos_token_id=None,
            eos_token_id=None)).to(device).eval()
        hf.generation_config.pad_token_id = 0
        ones = torch.ones_like(idx)
        with torch.no_grad():
            out_hf = hf.generate(idx, attention_mask=ones, max_new_tokens=N, do_sample=False)
        assert out_hf.shape == ours.generate(idx, N, temperature=0).shape == (1, 16 + N)
        t = alternating({"model.GPT": lambda: ours.generate(idx, N, temperature=0),
                         "HF": lambda: hf.generate(idx, attention_mask=ones, max_new_tokens=N, do_sample=False)},
                        args.repeats, device, clock)
        results["generate_vs_hf"] = t["HF"] / t["model.GPT"]
        for name, sec in t.items():
            print(f"   {name:10s} {sec:8.3f} s  {N / sec:10,.0f} tokens/s")
        print(f"   model.GPT.generate is {results['generate_vs_hf']:.2f}x Hugging Face's speed")

    # 3. the KV cache against recomputing every step
    print(f"\n3. KV cache against recomputation, batch 8, {N} new tokens")
    idx8 = torch.randint(0, V, (8, 16), generator=torch.Generator().manual_seed(1)).to(device)
    t = alternating({"cache": lambda: ours.generate(idx8, N, temperature=0),
                     "recompute": lambda: ours.generate(idx8, N, temperature=0, use_cache=False)}, 2, device, clock)
    results["kv_cache_speedup"] = t["recompute"] / t["cache"]
    print(f"   cache {t['cache']:.2f} s, recompute {t['recompute']:.2f} s: the cache is "
          f"{results['kv_cache_speedup']:.1f}x faster")
    return results


if __name__ == "__main__":
    main()
