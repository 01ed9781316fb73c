"""
Benchmarks of the GPT on this machine:

1. training-step throughput (forward + backward + AdamW, tokens/s) of model.GPT at pretrain.py's default
   configuration, against a plain, straightforward GPT of exactly the same size written below (attention as
   explicit q @ k^T, mask, softmax, @ v; no fused kernel), one run each, same batches;
2. generation speed with and without the KV cache: 256 new tokens, 4 layers, 128 dims, batch 1 and batch 8.

    python bench.py                 # CPU, about a minute
    python bench.py --device cuda   # a GPU
"""

import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from model import GPT, GPTConfig


class PlainGPT(nn.Module):
    """The same GPT-2 maths, written the obvious way: the reference our GPT must not be slower than."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.wte, self.wpe = nn.Embedding(c.vocab_size, c.n_embd), nn.Embedding(c.block_size, c.n_embd)
        self.blocks = nn.ModuleList()
        for _ in range(c.n_layer):
            self.blocks.append(nn.ModuleDict(dict(
                ln1=nn.LayerNorm(c.n_embd), q=nn.Linear(c.n_embd, c.n_embd), k=nn.Linear(c.n_embd, c.n_embd),
                v=nn.Linear(c.n_embd, c.n_embd), proj=nn.Linear(c.n_embd, c.n_embd), ln2=nn.LayerNorm(c.n_embd),
                fc=nn.Linear(c.n_embd, 4 * c.n_embd), out=nn.Linear(4 * c.n_embd, c.n_embd))))
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx):
        B, T = idx.shape
        H, D = self.c.n_head, self.c.n_embd // self.c.n_head
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        causal = torch.tril(torch.ones(T, T, device=idx.device, dtype=torch.bool))
        for b in self.blocks:
            h = b["ln1"](x)
            q, k, v = (b[n](h).view(B, T, H, D).transpose(1, 2) for n in ("q", "k", "v"))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
            att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
            x = x + b["proj"]((att @ v).transpose(1, 2).reshape(B, T, -1))
            x = x + b["out"](F.gelu(b["fc"](b["ln2"](x)), approximate="tanh"))
        return self.head(self.ln_f(x))


def train_throughput(model, batches, device):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for x, y in batches:
        t0 = time.perf_counter()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    steady = sorted(times[2:])[len(times[2:]) // 2]  # median after 2 warm-up steps
    return x.numel() / steady


def generation_speed(model, batch, new_tokens, use_cache, device):
    idx = torch.randint(0, model.config.vocab_size, (batch, 16), device=device,
                        generator=torch.Generator(device=device).manual_seed(0))
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        model.generate(idx, new_tokens, temperature=0, use_cache=use_cache)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    from pretrain import Config as PretrainConfig
    d = PretrainConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    ap.add_argument("--steps", type=int, default=12, help="training steps timed per model (the first 2 are warm-up)")
    ap.add_argument("--vocab_size", type=int, default=1070, help="vocabulary (the tinyworld's is about 1,070)")
    ap.add_argument("--batch_size", type=int, default=d.batch_size, help="training batch (pretrain.py's default)")
    ap.add_argument("--new_tokens", type=int, default=256, help="tokens generated in the KV-cache benchmark")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=d.block_size, vocab_size=args.vocab_size, n_layer=d.n_layer, n_head=d.n_head,
                    n_embd=d.n_embd)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"1. training step, pretrain.py's configuration: {cfg}, batch {args.batch_size}")
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randint(0, cfg.vocab_size, (args.batch_size, cfg.block_size), generator=g).to(args.device),
                torch.randint(0, cfg.vocab_size, (args.batch_size, cfg.block_size), generator=g).to(args.device))
               for _ in range(args.steps)]
    ours = GPT(cfg).to(args.device)
    plain = PlainGPT(cfg).to(args.device)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in plain.parameters())
    tps_ours = train_throughput(ours, batches, args.device)
    tps_plain = train_throughput(plain, batches, args.device)
    print(f"   model.GPT  {tps_ours:10,.0f} tokens/s\n   plain GPT  {tps_plain:10,.0f} tokens/s\n"
          f"   ratio      {tps_ours / tps_plain:10.2f}x")
    print(f"2. generation of {args.new_tokens} new tokens, 4 layers x 128 dims (greedy)")
    gen_cfg = GPTConfig(block_size=16 + args.new_tokens, vocab_size=2052, n_layer=4, n_head=4, n_embd=128)
    gen_model = GPT(gen_cfg).to(args.device).eval()
    results = {}
    for batch in (1, 8):
        cached = generation_speed(gen_model, batch, args.new_tokens, True, args.device)
        full = generation_speed(gen_model, batch, args.new_tokens, False, args.device)
        results[batch] = full / cached
        print(f"   batch {batch}: KV cache {cached:6.2f}s ({batch * args.new_tokens / cached:7,.0f} tokens/s), "
              f"recompute {full:6.2f}s -> {full / cached:5.1f}x faster")
    return {"train_tokens_per_s": tps_ours, "plain_tokens_per_s": tps_plain, "kv_speedup": results}


if __name__ == "__main__":
    main()
