"""
The assistant's replies to prompts: the one place where the models write in the chat format.

Each prompt is rendered with the chat template up to <|assistant|>, the prompts of a batch are left-padded to a
common end, and the model samples (KV cache, dropout off) until it emits one of STOP_TOKENS or runs out of room:

    stop reason   the reply ended with                          the chat format
    "end"         <|end|>                                        kept: the reply is finished
    "user"        <|user|>: the model wrote the user's turn      broken
    "other"       <|endoftext|> or <|assistant|>                 broken
    "length"      no stop token within max_new_tokens            broken

Evaluation (evaluate.py, and every stage's table before and after training), PPO's rollouts, DPO's sampled
pairs and chat.py all call `generate_replies`, so "a reply", its tokens and its log-probs mean the same thing
everywhere. `reply_batch` lays a batch of replies out as tensors again, for the forward passes that re-score
them.
"""

from dataclasses import dataclass

import torch

from model import pad_batch
from tokenizer import ASSISTANT, BOS, END, USER, render_prompt, special_id

STOP_TOKENS = (END, USER, BOS, ASSISTANT)  # the first of these the model emits ends its reply


class PromptTooLong(ValueError):
    """A prompt leaves no room for a reply in the model's context."""


@dataclass
class Reply:
    """One reply. Token lists are plain Python lists; logprobs and mask are aligned with reply_ids."""
    prompt: object  # the prompt: a string, or a conversation (messages) ending with a user turn
    prompt_ids: list  # the rendered prompt, <|endoftext|><|user|> ... <|end|><|assistant|>
    reply_ids: list  # the tokens after the prompt, the stop token included (if there is one)
    logprobs: list  # each reply token's log-prob under the distribution it was sampled from
    mask: list  # 1 on the reply tokens the model sampled (all of them here): what a loss may count
    stop: str  # why the reply ended: "end", "user", "other" or "length"
    text: str  # reply_ids decoded, without the stop token

    @property
    def finished(self):
        """The reply ended with <|end|>, as the chat format asks."""
        return self.stop == "end"


def stop_ids(enc):
    """The ids of STOP_TOKENS in this encoding."""
    return [special_id(enc, t) for t in STOP_TOKENS]


def stop_reason(reply_ids, enc):
    """Why a reply (its token ids, as sampled) ended: "end", "user", "other" or "length"."""
    last = reply_ids[-1] if reply_ids else None
    if last == special_id(enc, END):
        return "end"
    if last == special_id(enc, USER):
        return "user"
    return "other" if last in stop_ids(enc) else "length"


@torch.no_grad()
def generate_replies(model, enc, prompts, *, max_new_tokens=64, temperature=1.0, top_k=None, batch_size=32,
                     seed=0, generator=None, device="cpu", on_token=None):
    """The model's reply to each prompt -> a list of `Reply`, in the prompts' order.

    prompts: strings, or conversations ending with a user turn. Sampling at `temperature` (0 = greedy), from the
    top_k likeliest tokens if given, batch_size prompts at a time. The draws come from `generator`, or from a
    new one seeded with `seed` (then the same call gives the same replies). A reply is cut at max_new_tokens, or
    earlier where the model's context ends. on_token(tokens (B,)) sees each step's new tokens as they come.
    """
    stops = stop_ids(enc)
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(seed)
    replies = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i: i + batch_size]
        prompt_ids = [render_prompt(enc, p) for p in chunk]
        room = model.config.block_size - max(len(p) for p in prompt_ids)
        if room <= 0:
            longest = max(range(len(chunk)), key=lambda j: len(prompt_ids[j]))
            text = chunk[longest] if isinstance(chunk[longest], str) else chunk[longest][-1]["content"]
            raise PromptTooLong(f"the prompt {text[:60]!r} is {len(prompt_ids[longest])} tokens long with the chat "
                                f"template: no room for a reply in the model's context of {model.config.block_size}")
        ids, mask = pad_batch(prompt_ids, pad_id=0, side="left")  # (B, P): every prompt ends at column P
        mask = None if mask.all() else mask.to(device)  # prompts of one length need no mask
        new = model.sample(ids.to(device), min(max_new_tokens, room), temperature=temperature, top_k=top_k,
                           stop_tokens=stops, attention_mask=mask, generator=generator, on_token=on_token)
        for p, p_ids, tokens, logprobs, sampled, held in zip(chunk, prompt_ids, new.tokens.tolist(),
                                                             new.logprobs.tolist(), new.mask.tolist(),
                                                             new.attention_mask.tolist()):
            n = sum(held)  # the reply's tokens are the first n new columns; the rest is padding
            reply_ids = tokens[:n]
            stop = stop_reason(reply_ids, enc)
            text_ids = reply_ids if stop == "length" else reply_ids[:-1]
            replies.append(Reply(prompt=p, prompt_ids=p_ids, reply_ids=reply_ids, logprobs=logprobs[:n],
                                 mask=sampled[:n], stop=stop, text=enc.decode(text_ids)))
    return replies


def reply_batch(replies):
    """Replies to one batch of prompts as tensors, in the layout they were sampled in: the prompts left-padded to
    P columns, then the replies right-padded to T columns (padding id 0).

    -> ids (B, P + T), attention_mask (B, P + T) 1 on every real token, mask (B, T) 1 on the sampled reply
    tokens (what a loss counts), and P.
    """
    prompt_ids, prompt_mask = pad_batch([r.prompt_ids for r in replies], pad_id=0, side="left")
    reply_ids, reply_attention = pad_batch([r.reply_ids for r in replies], pad_id=0, side="right")
    mask, _ = pad_batch([r.mask for r in replies], pad_id=0, side="right")
    P = prompt_ids.size(1)
    return torch.cat([prompt_ids, reply_ids], dim=1), torch.cat([prompt_mask, reply_attention], dim=1), mask, P
