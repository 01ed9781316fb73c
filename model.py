"""
The one GPT of this project: the GPT-2 architecture, written out by hand, reused by every stage.

    tokens -> token embedding + position embedding -> n_layer x Block -> LayerNorm -> logits over the vocabulary
    Block:  x = x + attention(LayerNorm(x));  x = x + MLP(LayerNorm(x))        ("pre-LayerNorm", as GPT-2)

Besides the model it holds what every stage needs from a language model:
- `GPT.token_logprobs`: log p(token_t+1 | tokens_<=t) of given sequences, the one function SFT evaluation,
  PPO and DPO all use, so that "the log-prob of a reply" means the same thing everywhere;
- `GPT.sample`: sampling with a KV cache for a batch of prompts of different lengths (left-padded); it returns
  a `Sample` (new tokens, their log-probs and masks). `GPT.generate` returns just the sequences;
- `ScalarGPT`: the same trunk with a scalar head (the reward model, and PPO's value function);
- `GPT.from_pretrained` and `load_model`: models built from the files that checkpoint.py reads.

Padding, the place where batched LM code most often goes wrong, is handled in one place, here. `pad_batch` makes
a batch and its attention mask (B, T), 1 on real tokens. Right padding (training batches: every row starts at
column 0) needs no mask in the model: attention is causal, so a real token never looks at the padding after
it, and its positions are 0, 1, 2, ... anyway; leaving the mask out keeps PyTorch's fast causal kernel. Left
padding (prompts for generation, all ending at the same column) needs it: from the mask come the position ids
(a token's position counts only the real tokens before it, so a left-padded prompt gets exactly the positions it
would get alone) and the attention pattern (no query ever looks at a padding key). `last_index` finds each row's
last real token, whatever the padding.
"""

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# save_checkpoint and load_checkpoint are also importable from this module
from checkpoint import CheckpointError, checkpoint_file, load_checkpoint, read_gpt2, save_checkpoint  # noqa: F401

TORCH_VERSION = tuple(int(part) for part in torch.__version__.split(".")[:2])


@dataclass
class GPTConfig:
    block_size: int = 256  # longest sequence (number of position embeddings)
    vocab_size: int = 50264  # GPT-2's 50,257 tokens and 7 chat and tool tokens; the stages pass their tokenizer's n_vocab
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2
    gelu: str = "exact"  # the MLP's GELU: "exact" (erf), or "tanh", the approximation GPT-2's weights were trained with

    def __post_init__(self):
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: must be a positive integer")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}: each of the n_head "
                             f"attention heads works on n_embd / n_head dimensions")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout {self.dropout}: must be at least 0 and less than 1")


# ----------------------------------------------------------------------------------------------------------
# the blocks


def dropout(x, p, training):
    """Dropout with probability p while training; nothing at all otherwise (not even a call into PyTorch: the
    model runs thousands of these per generated reply)."""
    return F.dropout(x, p, training=True) if training and p > 0 else x


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x, attn_mask=None, cache=None, layer=0):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
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
        return dropout(self.c_proj(y), self.dropout, self.training)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dropout = config.dropout
        if config.gelu not in ("exact", "tanh"):
            raise ValueError(f"GPTConfig.gelu must be 'exact' or 'tanh', not {config.gelu!r}")
        self.approximate = "none" if config.gelu == "exact" else "tanh"
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        # GELU(x) = x * Phi(x), Phi the normal CDF; GPT-2 used a tanh approximation of it, which the CPU computes
        # 2-3x slower than the exact erf form: models trained here use the exact one, GPT-2's weights the tanh one
        h = F.gelu(self.c_fc(x), approximate=self.approximate)
        return dropout(self.c_proj(h), self.dropout, self.training)


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


# ----------------------------------------------------------------------------------------------------------
# padding


def pad_batch(seqs, pad_id=0, side="right"):
    """list of B token lists -> (ids (B, T), mask (B, T)), T = longest; mask is 1 on real tokens.

    Right padding suits training (real tokens keep positions 0..n-1, and the model needs no mask); left padding
    suits generation (every prompt ends at the same column, so new tokens are appended in one place).
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        n = len(s)
        if n == 0:
            continue
        cols = slice(0, n) if side == "right" else slice(T - n, T)
        ids[i, cols] = torch.tensor(s, dtype=torch.long)
        mask[i, cols] = 1
    return ids, mask


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


def last_index(mask):
    """(B, T) 0/1 mask -> (B,) the column of each row's last 1: its last real token, whatever the padding side."""
    columns = torch.arange(mask.size(1), device=mask.device).expand_as(mask)  # (B, T)
    last = torch.where(mask.bool(), columns, -1).max(dim=1).values  # (B,)
    if (last < 0).any():
        raise ValueError("last_index: a row of the mask has no 1 (no real token)")
    return last


def at_last_token(values, mask):
    """values (B, T) one number per position, mask (B, T) -> (B,) each row's value at its last real token."""
    return values.gather(1, last_index(mask)[:, None]).squeeze(1)


def logprobs_from_logits(logits, targets):
    """(B, T, V) logits, (B, T) targets -> (B, T) log softmax(logits)[target], computed in float32."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return torch.gather(logp, -1, targets.unsqueeze(-1)).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------
# sampling


@contextlib.contextmanager
def evaluating(model):
    """model in eval mode (dropout off) inside the `with` block; its previous mode is restored after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def sample_token(logits, temperature=1.0, top_k=None, generator=None):
    """(B, V) logits of the next token -> (token (B,), its log-prob (B,)) under the distribution it is drawn from:
    softmax(logits / temperature), limited to the top_k likeliest tokens if top_k is given. temperature 0 is
    argmax (greedy), with the log-probs of softmax(logits)."""
    logits = logits.float()
    if temperature == 0:
        token = logits.argmax(dim=-1)
        logp = F.log_softmax(logits, dim=-1)
    else:
        logits = logits / temperature
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        logp = F.log_softmax(logits, dim=-1)
        token = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
    return token, logp.gather(1, token[:, None]).squeeze(1)


@dataclass
class Sample:
    """What `GPT.sample` returns for B prompts: N new columns (N <= max_new_tokens: sampling ends early once every
    row has emitted a stop token).

    tokens (B, N): the new tokens; after a row's stop token, pad_id.
    logprobs (B, N): each sampled token's log-prob under the distribution it was drawn from; 0 where mask is 0.
    mask (B, N): 1 on the tokens the model sampled, up to and including the stop token: what a loss may count.
    attention_mask (B, N): 1 on the tokens the row holds: what a forward pass over prompt + new tokens attends
        to. It is 1 where mask is 1, and also on the tokens a runtime inserted (a tool's result, see
        `GPT.sample`'s insert_after), which the model read but did not sample: mask is 0 there.
    """
    tokens: torch.Tensor
    logprobs: torch.Tensor
    mask: torch.Tensor
    attention_mask: torch.Tensor


# ----------------------------------------------------------------------------------------------------------
# the GPT


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embedding
            wpe=nn.Embedding(config.block_size, config.n_embd),  # position embedding
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

    def hidden(self, idx, attention_mask=None, cache=None):
        """idx (B, T) -> final hidden states (B, T, C), after the last LayerNorm.

        attention_mask (B, T): 1 on real tokens, 0 on padding; only needed when a row has padding before real
        tokens (left padding). With a cache it covers every token seen so far, the new ones included:
        (B, cache.length + T).
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"a sequence of {past + T} tokens, but the model has only block_size="
                             f"{self.config.block_size} positions")
        if attention_mask is None:  # no padding before real tokens: positions past, past+1, ... in every row
            positions = torch.arange(past, past + T, device=idx.device)  # (T,)
            attn_mask = None  # causal attention (a single new token may look at every cached key)
            if past > 0 and T > 1:  # several new tokens after cached ones: causal from column `past` on
                attn_mask = attention_pattern(torch.ones(B, past + T, dtype=torch.long, device=idx.device), T)
        else:
            positions = positions_from_mask(attention_mask)[:, -T:]  # (B, T)
            attn_mask = attention_pattern(attention_mask, T)  # (B, 1, T, past + T)
        x = self.transformer.wte(idx) + self.transformer.wpe(positions)  # (B, T, C)
        x = dropout(x, self.config.dropout, self.training)
        for i, block in enumerate(self.transformer.h):
            x = block(x, attn_mask, cache, i)
        return self.transformer.ln_f(x)

    def forward(self, idx, attention_mask=None):
        """idx (B, T) -> logits (B, T, V) for the token after each position."""
        return self.lm_head(self.hidden(idx, attention_mask))

    def token_logprobs(self, idx, attention_mask=None, temperature=1.0):
        """(B, T) tokens -> (B, T-1): out[:, t] = log p(idx[:, t+1] | idx[:, :t+1]) under softmax(logits / temperature).

        The temperature must be the one the tokens were sampled with, or the ratio of PPO and the KL estimate
        compare two different distributions. temperature 0 (greedy) counts as 1.
        """
        logits = self.forward(idx, attention_mask)[:, :-1]  # (B, T-1, V)
        if temperature not in (0, 1.0):
            logits = logits / temperature
        return logprobs_from_logits(logits, idx[:, 1:])

    def sample(self, idx, max_new_tokens, temperature=1.0, top_k=None, stop_tokens=(), attention_mask=None,
               pad_id=0, use_cache=True, generator=None, on_token=None, insert_after=None, banned_tokens=()):
        """Sample up to max_new_tokens after the prompts idx (B, T0) -> a `Sample`.

        attention_mask (B, T0): 1 on real prompt tokens, for prompts left-padded to a common end (None: no
        padding). temperature 0 = argmax (greedy); top_k keeps the k likeliest tokens. A row that emits one of
        stop_tokens keeps it and holds pad_id afterwards; sampling ends once every row has stopped.
        on_token(tokens (B,)), if given, sees each step's tokens as they come (chat.py streams text with it).
        Runs in eval mode (dropout off) and restores the previous mode. use_cache=False recomputes the whole
        sequence at every step: the slow reference that the KV cache must equal.

        insert_after = (trigger, insert): when a row samples the token id `trigger`, insert(row, new_tokens)
        (new_tokens: that row's new tokens so far, the trigger last) returns token ids that the runtime writes
        into the row next (a tool's result: replies.py runs the tool). They are fed one per step in place of
        that row's sample, while the other rows go on sampling, so the batch stays in step and the KV cache
        works as usual: the row holds them (attention_mask 1) but did not sample them (mask 0, log-prob 0), and
        they never stop the row. They count towards max_new_tokens.
        banned_tokens: ids whose logits are set to -inf before every draw (e.g. the tool-call token, to measure
        the same model without tools); the log-probs are then those of that restricted distribution.
        """
        with torch.inference_mode(), evaluating(self):  # inference_mode: no autograd bookkeeping at all
            B, T0 = idx.shape
            stop = torch.tensor(list(stop_tokens), dtype=torch.long, device=idx.device)
            banned = torch.tensor(list(banned_tokens), dtype=torch.long, device=idx.device)
            cache = None
            if use_cache:
                cache = KVCache(self.config, B, T0 + max_new_tokens, idx.device, self.transformer.wte.weight.dtype)
            seen_mask = None  # with left padding: the mask over prompt + new columns (new columns are all real)
            if attention_mask is not None:
                seen_mask = torch.ones(B, T0 + max_new_tokens, dtype=torch.long, device=idx.device)
                seen_mask[:, :T0] = attention_mask
            seq = idx  # everything fed so far (B, T0 + steps)
            active = torch.ones(B, dtype=torch.bool, device=idx.device)  # rows that have not stopped
            queued = [[] for _ in range(B)]  # per row, the inserted tokens still to be fed
            tokens, logprobs, sampled, held = [], [], [], []  # per step, (B,) each
            h = self.hidden(idx, attention_mask, cache=cache)  # prefill: the whole prompt in one pass
            for step in range(max_new_tokens):
                logits = self.lm_head(h[:, -1])  # (B, V)
                if len(banned):
                    logits = logits.index_fill(1, banned, float("-inf"))
                token, logp = sample_token(logits, temperature, top_k, generator)  # (B,) each
                forced = torch.zeros(B, dtype=torch.bool, device=idx.device)  # rows fed an inserted token
                if any(queued):
                    forced = torch.tensor([bool(q) for q in queued], device=idx.device)
                    token = torch.where(forced, torch.tensor([q.pop(0) if q else 0 for q in queued],
                                                             device=idx.device), token)
                chosen = active & ~forced  # the model chose this token: a loss may count it
                tokens.append(torch.where(active, token, pad_id))
                logprobs.append(torch.where(chosen, logp, 0.0))
                sampled.append(chosen)
                held.append(active)  # the row holds this token: later forward passes attend to it
                if on_token is not None:
                    on_token(tokens[-1])
                active = active & ~(chosen & torch.isin(token, stop))
                if insert_after is not None and (chosen & (token == insert_after[0])).any():
                    for row in (chosen & (token == insert_after[0])).nonzero()[:, 0].tolist():
                        queued[row] = list(insert_after[1](row, torch.stack(tokens)[:, row].tolist()))
                if step + 1 == max_new_tokens or not active.any():
                    break
                # feed this step's tokens; what a stopped row computes from here on is never used
                seq = torch.cat([seq, token[:, None]], dim=1)
                mask = seen_mask[:, : seq.size(1)] if seen_mask is not None else None
                h = self.hidden(token[:, None], mask, cache=cache) if use_cache else self.hidden(seq, mask)
            tokens, logprobs, mask, attention_mask = (torch.stack(x, dim=1) for x in (tokens, logprobs, sampled, held))
        # tensors made under inference_mode cannot take part in autograd later: hand out ordinary copies
        return Sample(tokens=tokens.clone(), logprobs=logprobs.clone(), mask=mask.long(),
                      attention_mask=attention_mask.long())

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, **kwargs):
        """KV-cache sampling after the prompts idx (B, T0) -> the sequences (B, T0 + N), N <= max_new_tokens.
        temperature 0 = greedy. Other keyword arguments (stop_tokens, attention_mask, generator, ...) are those
        of `sample`, which also returns the log-probs and masks."""
        return torch.cat([idx, self.sample(idx, max_new_tokens, temperature, top_k, **kwargs).tokens], dim=1)

    def configure_optimizer(self, weight_decay, lr, betas=(0.9, 0.95), device_type="cpu"):
        """AdamW; weight decay on matrices (>= 2-D: Linear weights, embeddings), none on biases and LayerNorms."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        # fused: the whole update in one kernel per device (on the CPU from torch 2.4 on; 4x faster there)
        fused = device_type == "cuda" or (device_type == "cpu" and TORCH_VERSION >= (2, 4))
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **({"fused": True} if fused else {}))

    @classmethod
    def from_pretrained(cls, path, vocab_size=None, dropout=0.0):
        """GPT-2 weights from a local Hugging Face checkpoint directory (config.json + model.safetensors or
        pytorch_model.bin, read by checkpoint.read_gpt2). Nothing is downloaded. vocab_size larger than the
        checkpoint's adds rows to the embedding (for our chat tokens), initialised to the mean embedding."""
        shape, weights = read_gpt2(path)
        try:
            config = GPTConfig(**shape, dropout=dropout, bias=True, gelu="tanh")
        except ValueError as e:
            raise CheckpointError(f"{path}/config.json: {e}") from None
        model = cls(config)
        with torch.no_grad():
            for name, param in model.state_dict().items():
                if name == "lm_head.weight":
                    continue  # tied to transformer.wte.weight
                if name not in weights:
                    raise CheckpointError(f"{path}: the checkpoint has no weight {name}")
                if weights[name].shape != param.shape:
                    raise CheckpointError(f"{path}: weight {name} has shape {tuple(weights[name].shape)}, but "
                                          f"config.json makes it {tuple(param.shape)}")
                param.copy_(weights[name])
        if vocab_size is not None and vocab_size > model.config.vocab_size:
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
        """A ScalarGPT whose trunk is a copy of gpt (its vocabulary head is not used) and whose head is new."""
        model = cls(gpt.config)
        model.gpt.load_state_dict(gpt.state_dict())
        return model.to(gpt.transformer.wte.weight.device)

    def forward(self, idx, attention_mask=None):
        """idx (B, T) -> (B, T): the scalar read at every position (callers pick the position they need)."""
        return self.head(self.gpt.hidden(idx, attention_mask)).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------
# a model from a checkpoint

MODEL_TYPES = {"GPT": GPT, "ScalarGPT": ScalarGPT}


def model_from_checkpoint(ckpt, path):
    """The GPT or ScalarGPT a checkpoint dict holds (on the CPU). A checkpoint whose contents do not make that
    model (an unknown model type or config key, a missing or misshapen weight) is a CheckpointError naming path."""
    cls = MODEL_TYPES.get(ckpt["model_type"])
    if cls is None:
        raise CheckpointError(f"{path}: unknown model type {ckpt['model_type']!r}")
    try:
        model = cls(GPTConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["model"])
    except (TypeError, ValueError, RuntimeError) as e:  # unknown config key, bad value, missing/misshapen weight
        raise CheckpointError(f"{path}: its weights do not make a {cls.__name__} "
                              f"({' '.join(str(e).split())[:300]})") from None
    return model


def load_model(path, expected_stage=None, device="cpu", tokenizer=None, model_type=None):
    """-> (model, checkpoint dict): the GPT or ScalarGPT a checkpoint holds, on device, in eval mode.
    expected_stage and tokenizer (this run's Encoding) are checked as in checkpoint.load_checkpoint; model_type
    "GPT" refuses a reward model (a ScalarGPT scores replies, it cannot write them), and "ScalarGPT" a GPT."""
    ckpt = load_checkpoint(path, expected_stage, tokenizer)
    file = checkpoint_file(path)
    if model_type is not None and ckpt["model_type"] != model_type:
        what = ("a language model (GPT), which writes replies" if ckpt["model_type"] == "GPT" else
                "a reward model (ScalarGPT), which scores replies and cannot write them")
        raise CheckpointError(f"{file}: holds {what} ('{ckpt['stage']}' checkpoint), but this needs a {model_type}")
    return model_from_checkpoint(ckpt, file).to(device).eval(), ckpt
