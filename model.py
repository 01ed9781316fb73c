"""
The one GPT of this project: the GPT-2 architecture, written out by hand, reused by every stage.

    tokens -> token embedding + position embedding -> n_layer x Block -> LayerNorm -> logits over the vocabulary
    Block:  x = x + attention(LayerNorm(x));  x = x + MLP(LayerNorm(x))        ("pre-LayerNorm", as GPT-2)

Besides the model it holds what every stage needs from a language model:
- `sequence_logprobs`: log p(token_t+1 | tokens_<=t) of given sequences, the one function SFT evaluation,
  PPO and DPO all use, so that "the log-prob of a reply" means the same thing everywhere;
- `generate`: sampling with a KV cache, for a batch of prompts of different lengths (left-padded);
- `ScalarGPT`: the same trunk with a scalar head (the reward model, and PPO's value function);
- `GPT.from_pretrained`: GPT-2 weights from a local Hugging Face directory (no download);
- `save_checkpoint` / `load_checkpoint`: atomic writes, and loading that never runs pickled code.

Padding, the place where batched LM code most often goes wrong, is handled in one place: an attention mask
(B, T) with 1 on real tokens. From it come the position ids (a token's position counts only the real tokens
before it, so a left-padded prompt gets exactly the positions it would get alone) and the attention pattern
(no query ever looks at a padding key).
"""

import json
import math
import os
import pickle
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int = 256  # longest sequence (number of position embeddings)
    vocab_size: int = 2052  # tinyworld BPE: 2048 merges+bytes and 4 special tokens
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2


# ----------------------------------------------------------------------------------------------------------
# the blocks


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, attn_mask=None, cache=None, layer=0):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            # The KV cache: keys and values of earlier tokens do not change when a new token arrives (causal
            # attention: a token never looks forward), so they are computed once and stored; each new token
            # computes only its own q, k, v and attends to everything stored so far.
            k, v = cache.append(layer, k, v)  # (B, n_head, T_seen, head_dim)
        dropout_p = self.dropout if self.training else 0.0
        if attn_mask is None:  # no padding: plain causal attention (one new token may look at every cached key)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=k.size(2) == T, dropout_p=dropout_p)
        else:  # attn_mask (B, 1, T, T_seen), True where a query may look at a key
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, attn_mask=None, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), attn_mask, cache, layer)
        x = x + self.mlp(self.ln_2(x))
        return x


class KVCache:
    """Per layer, keys and values of all tokens seen so far, in buffers allocated once: (B, n_head, T_max, head_dim)."""

    def __init__(self, config, batch_size, max_len, device, dtype):
        shape = (batch_size, config.n_head, max_len, config.n_embd // config.n_head)
        self.k = [torch.empty(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [torch.empty(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.length = 0  # tokens stored so far (the same for every layer once a forward pass is done)

    def append(self, layer, k, v):
        start, end = self.length, self.length + k.size(2)
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        if layer == len(self.k) - 1:
            self.length = end
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]


def positions_from_mask(attention_mask):
    """(B, T) mask of 1/0 -> (B, T) position ids: the number of real tokens before each token.

    A prompt padded on the left, [pad pad a b c], gets positions [0 0 0 1 2] for [pad pad a b c]: a, b, c get
    0, 1, 2, exactly as without padding, so the model computes the same thing for them.
    """
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


def attention_pattern(attention_mask, T):
    """(B, T_seen) mask -> (B, 1, T, T_seen) booleans for the last T queries: causal, never a padding key.

    Columns are absolute: query i (column T_seen - T + i) may look at key j if j <= its own column and key j is
    a real token. A padding query may look at itself, so that no row is empty (an all-False row gives NaN); its
    output is never used.
    """
    B, T_seen = attention_mask.shape
    q_cols = torch.arange(T_seen - T, T_seen, device=attention_mask.device)  # (T,)
    k_cols = torch.arange(T_seen, device=attention_mask.device)  # (T_seen,)
    causal = k_cols[None, :] <= q_cols[:, None]  # (T, T_seen)
    real_key = attention_mask.bool()[:, None, :]  # (B, 1, T_seen)
    itself = k_cols[None, :] == q_cols[:, None]  # (T, T_seen)
    return ((causal[None] & real_key) | itself[None])[:, None]  # (B, 1, T, T_seen)


def logprobs_from_logits(logits, targets):
    """(B, T, V) logits, (B, T) targets -> (B, T) log softmax(logits)[target], computed in float32."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return torch.gather(logp, -1, targets.unsqueeze(-1)).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------
# the GPT


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embedding
            wpe=nn.Embedding(config.block_size, config.n_embd),  # position embedding
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one matrix reads tokens in and writes them out
        # GPT-2 initialisation: N(0, 0.02) everywhere; the projections that add into the residual stream are
        # scaled by 1/sqrt(2 * n_layer) so that the stream's variance does not grow with depth.
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=True):
        """Parameter count; position embeddings excluded by default (token embeddings count: they are tied
        to the output layer and do work there)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def flops_per_token(self, T=None):
        """Training FLOPs per token (forward + backward): 6 per parameter, plus attention's 12 * L * C * T."""
        T = T or self.config.block_size
        return 6 * self.num_params() + 12 * self.config.n_layer * self.config.n_embd * T

    def hidden(self, idx, attention_mask=None, position_ids=None, cache=None):
        """idx (B, T) -> final hidden states (B, T, C), after the last LayerNorm.

        attention_mask: (B, T) 1 on real tokens, 0 on padding (any side). With a cache it covers all tokens
        seen so far, the new ones included: (B, cache.length + T).
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        if position_ids is None:
            if attention_mask is not None:
                position_ids = positions_from_mask(attention_mask)[:, -T:]
            else:
                position_ids = torch.arange(past, past + T, device=idx.device).expand(B, T)
        if int(position_ids.max()) >= self.config.block_size:
            raise ValueError(f"sequence reaches position {int(position_ids.max())}, but the model has only "
                             f"block_size={self.config.block_size} positions")
        attn_mask = None
        if attention_mask is not None:
            attn_mask = attention_pattern(attention_mask, T)
        elif cache is not None and past > 0 and T > 1:
            attn_mask = attention_pattern(torch.ones(B, past + T, dtype=torch.long, device=idx.device), T)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(position_ids))  # (B, T, C)
        for i, block in enumerate(self.transformer.h):
            x = block(x, attn_mask, cache, i)
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None, attention_mask=None, position_ids=None):
        """idx (B, T) -> logits (B, T, V); with targets (B, T) also the mean cross-entropy (targets -1 ignored)."""
        logits = self.lm_head(self.hidden(idx, attention_mask, position_ids))  # (B, T, V)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def sequence_logprobs(self, idx, attention_mask=None, temperature=1.0):
        """(B, T) tokens -> (B, T-1): out[:, t] = log p(idx[:, t+1] | idx[:, :t+1]) under softmax(logits / temperature).

        The temperature must be the one the tokens were sampled with, or the ratio of PPO and the KL estimate
        compare two different distributions. temperature 0 (greedy) counts as 1.
        """
        logits = self.forward(idx, attention_mask=attention_mask)[:, :-1]  # (B, T-1, V)
        if temperature not in (0, 1.0):
            logits = logits / temperature
        return logprobs_from_logits(logits, idx[:, 1:])

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, stop_tokens=None, attention_mask=None,
                 pad_id=0, use_cache=True, generator=None, return_logprobs=False, callback=None):
        """Sample max_new_tokens after the prompts idx (B, T0), left-padded as described by attention_mask.

        temperature 0 = argmax (greedy). A row that emits one of stop_tokens keeps it, and is padded with pad_id
        afterwards; the loop ends early once every row has stopped. Returns the sequences (B, T0 + N), N <=
        max_new_tokens; with return_logprobs, also the log-probs (B, N) of the sampled tokens under the
        distribution they were sampled from, and new_mask (B, N), 1 on generated tokens up to the stop token.
        Runs in eval mode (dropout off) and restores the previous mode. callback(tokens (B,)), if given, sees
        each step's tokens as they are sampled (chat.py streams text with it).
        """
        was_training = self.training
        self.eval()
        try:
            B, T0 = idx.shape
            mask = attention_mask.long() if attention_mask is not None else torch.ones_like(idx)
            stop = torch.tensor(list(stop_tokens or []), dtype=torch.long, device=idx.device)
            cache = None
            if use_cache:
                dtype = self.transformer.wte.weight.dtype
                cache = KVCache(self.config, B, T0 + max_new_tokens, idx.device, dtype)
            fed = idx  # what the model has been fed so far (B, T0 + steps)
            done = torch.zeros(B, dtype=torch.bool, device=idx.device)
            tokens, logps, alive = [], [], []
            # prefill: the whole prompt in one pass (fills the cache); then one token per step
            logits = self.lm_head(self.hidden(idx, mask, cache=cache)[:, -1])  # (B, V)
            for _ in range(max_new_tokens):
                logits = logits.float()
                if temperature == 0:
                    next_token = logits.argmax(dim=-1)
                    logp = F.log_softmax(logits, dim=-1)
                else:
                    logits = logits / temperature
                    if top_k is not None:
                        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    logp = F.log_softmax(logits, dim=-1)
                    next_token = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
                token_logp = logp.gather(1, next_token[:, None]).squeeze(1)
                # rows that already stopped get pad_id (shown) and feed token 0 as padding (masked out)
                out_token = torch.where(done, torch.full_like(next_token, pad_id), next_token)
                fed_token = torch.where(done, torch.zeros_like(next_token), next_token)
                tokens.append(out_token)
                if callback is not None:
                    callback(out_token)
                logps.append(torch.where(done, torch.zeros_like(token_logp), token_logp))
                alive.append(~done)
                mask = torch.cat([mask, (~done).long()[:, None]], dim=1)
                done = done | torch.isin(next_token, stop)
                fed = torch.cat([fed, fed_token[:, None]], dim=1)
                if bool(done.all()) or len(tokens) == max_new_tokens:
                    break
                if use_cache:  # only the new token goes through the model
                    h = self.hidden(fed_token[:, None], mask, cache=cache)
                else:  # recompute everything, the slow reference the cache must equal
                    h = self.hidden(fed, mask)
                logits = self.lm_head(h[:, -1])
        finally:
            self.train(was_training)
        seq = torch.cat([idx] + [t[:, None] for t in tokens], dim=1)  # (B, T0 + N)
        if not return_logprobs:
            return seq
        return seq, torch.stack(logps, dim=1), torch.stack(alive, dim=1).long()

    def configure_optimizer(self, weight_decay, lr, betas=(0.9, 0.95), device_type="cpu"):
        """AdamW; weight decay on matrices (>= 2-D: Linear weights, embeddings), none on biases and LayerNorms."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        extra = {"fused": True} if device_type == "cuda" else {}
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **extra)

    @classmethod
    def from_pretrained(cls, path, vocab_size=None, dropout=0.0):
        """GPT-2 weights from a local Hugging Face checkpoint directory (config.json + model.safetensors or
        pytorch_model.bin). Nothing is downloaded. vocab_size larger than the checkpoint's adds rows to the
        embedding (for our chat tokens), initialised to the mean embedding."""
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path}: no config.json (expected a Hugging Face GPT-2 directory)")
        hf = json.loads((path / "config.json").read_text())
        config = GPTConfig(block_size=hf["n_positions"], vocab_size=hf["vocab_size"], n_layer=hf["n_layer"],
                           n_head=hf["n_head"], n_embd=hf["n_embd"], dropout=dropout, bias=True)
        if (path / "model.safetensors").exists():
            sd_hf = read_safetensors(path / "model.safetensors")
        elif (path / "pytorch_model.bin").exists():
            sd_hf = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise FileNotFoundError(f"{path}: neither model.safetensors nor pytorch_model.bin")
        sd_hf = {(k if k.startswith(("transformer.", "lm_head.")) else "transformer." + k): v
                 for k, v in sd_hf.items()}
        model = cls(config)
        sd = model.state_dict()
        # Hugging Face's GPT-2 stores these Linear layers as "Conv1D" with the weight transposed: (in, out).
        transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
        with torch.no_grad():
            for k in sd:
                if k == "lm_head.weight":
                    continue  # tied to transformer.wte.weight
                if k not in sd_hf:
                    raise KeyError(f"{path}: the checkpoint has no weight {k}")
                w = sd_hf[k].float()
                sd[k].copy_(w.t() if k.endswith(transposed) else w)
        if vocab_size is not None and vocab_size > config.vocab_size:
            model.resize_vocab(vocab_size)
        return model

    def resize_vocab(self, vocab_size):
        """Grow the (tied) token embedding to vocab_size rows; new rows start at the mean embedding."""
        old = self.transformer.wte.weight.data
        new = nn.Embedding(vocab_size, old.size(1)).to(old.device, old.dtype)
        with torch.no_grad():
            new.weight[: old.size(0)] = old
            new.weight[old.size(0):] = old.mean(dim=0)
        self.transformer.wte = new
        self.lm_head = nn.Linear(old.size(1), vocab_size, bias=False).to(old.device, old.dtype)
        self.lm_head.weight = self.transformer.wte.weight
        self.config.vocab_size = vocab_size


class ScalarGPT(nn.Module):
    """The GPT trunk with one number per position instead of logits: the reward model and PPO's value function."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.gpt = GPT(config)
        self.head = nn.Linear(config.n_embd, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_gpt(cls, gpt):
        model = cls(gpt.config)
        model.gpt.load_state_dict(gpt.state_dict())
        return model.to(gpt.transformer.wte.weight.device)

    def load_trunk_from(self, gpt_state_dict):
        self.gpt.load_state_dict(gpt_state_dict)

    def forward(self, idx, attention_mask=None, position_ids=None):
        """idx (B, T) -> (B, T): the scalar read at every position (callers pick the position they need)."""
        return self.head(self.gpt.hidden(idx, attention_mask, position_ids)).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------
# weights on disk


def read_safetensors(path):
    """The safetensors format by hand: 8 bytes (little-endian header size), a JSON header naming each tensor's
    dtype, shape and byte range, then the raw bytes. No code can hide in it, which is the point of the format."""
    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = dtypes[info["dtype"]]
        if end == start:
            tensors[name] = torch.empty(info["shape"], dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(data[start:end]), dtype=dtype).reshape(info["shape"])
    return tensors


CHECKPOINT_FORMAT = "tinyalign-checkpoint-v1"
MODEL_TYPES = {"GPT": GPT, "ScalarGPT": ScalarGPT}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, unreadable, foreign, unsafe, wrong stage); names the file."""


def checkpoint_file(path):
    """A checkpoint path may name the file (*.pt) or the stage's output directory (then DIR/ckpt.pt)."""
    path = Path(path)
    return path if path.suffix == ".pt" else path / "ckpt.pt"


def unwrapped(model):
    """The plain module inside a DDP (`.module`) and/or torch.compile (`._orig_mod`) wrapper."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_checkpoint(path, model, *, stage, step=0, tokenizer=None, optimizer=None, train_config=None, extra=None):
    """Write model + everything needed to use or resume it, atomically: a crash mid-write leaves the old file.

    Only tensors and plain Python values go in, so `load_checkpoint` can read it with weights_only=True.
    """
    file = checkpoint_file(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    model = unwrapped(model)
    state = {k.replace("_orig_mod.", "").replace("module.", "", 1) if k.startswith("module.") else
             k.replace("_orig_mod.", ""): v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_type": type(model).__name__,
        "model": state,
        "config": asdict(model.config),
        "stage": stage,
        "step": int(step),
        "tokenizer": tokenizer if tokenizer is None or isinstance(tokenizer, str) else tokenizer.name,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "train_config": train_config or {},
        "extra": extra or {},
    }
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)  # atomic on POSIX and Windows: readers see the old file or the new one
    finally:
        if tmp.exists():
            tmp.unlink()
    return file


def load_checkpoint(path, expected_stage=None, map_location="cpu"):
    """Read a checkpoint written by save_checkpoint; every failure is a CheckpointError that names the file."""
    file = checkpoint_file(path)
    if not file.exists():
        raise CheckpointError(f"{file}: no checkpoint there (run the stage that writes it first, or pass its path)")
    try:
        ckpt = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{file}: refused: it holds pickled objects other than tensors and plain data, "
                              f"which could run code when loaded ({str(e).splitlines()[0]})") from None
    except Exception as e:
        raise CheckpointError(f"{file}: unreadable, the file is truncated or not a PyTorch checkpoint "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{file}: not a checkpoint of this project (no '{CHECKPOINT_FORMAT}' format tag)")
    if expected_stage is not None:
        stages = (expected_stage,) if isinstance(expected_stage, str) else tuple(expected_stage)
        if ckpt["stage"] not in stages:
            raise CheckpointError(f"{file}: is a '{ckpt['stage']}' checkpoint, but this needs "
                                  f"{' or '.join(repr(s) for s in stages)}")
    return ckpt


def load_model(path, expected_stage=None, device="cpu"):
    """-> (model, checkpoint dict): the GPT or ScalarGPT a checkpoint holds, on device, in eval mode."""
    ckpt = load_checkpoint(path, expected_stage)
    cls = MODEL_TYPES.get(ckpt["model_type"])
    if cls is None:
        raise CheckpointError(f"{checkpoint_file(path)}: unknown model type {ckpt['model_type']!r}")
    model = cls(GPTConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt
