"""
The assistant's replies to prompts: the one place where the models write in the chat format.

Each prompt is rendered with the chat template up to <|assistant|>, the prompts of a batch are left-padded to a
common end, and the model samples (KV cache, dropout off) until it emits one of STOP_TOKENS or runs out of room:

    stop reason   the reply ended with                          the chat format
    "end"         <|end|>                                        kept: the reply is finished
    "user"        <|user|>: the model wrote the user's turn      broken
    "other"       <|endoftext|>, <|assistant|>, or <|result|>    broken
                  or <|result_end|>: the model wrote a result
    "length"      no stop token within max_new_tokens            broken

Evaluation (evaluate.py, and every stage's table before and after training), PPO's rollouts, DPO's sampled
pairs and chat.py all call `generate_replies`, so "a reply", its tokens and its log-probs mean the same thing
everywhere. `reply_batch` lays a batch of replies out as tensors again, for the forward passes that re-score
them.

Tools. Given `tools` (a function from a call's text to the result's text, such as data.tinyworld.run_tool: this
file knows no tool), generation runs the model's tool calls: when a row samples <|call_end|>, the text since its
last <|call|> is the call, and the runtime writes <|result|> result <|result_end|> into the row (GPT.sample's
insert_after); the model reads the result and goes on. Those tokens are held but not sampled: their mask is 0,
so no loss, log-prob ratio or KL counts them. A reply's `text` is what its reader sees, tool calls and results
left out (`visible`); `calls` lists each call with its result. `ban_calls` forbids <|call|>: the same model
without its tools.
"""

from dataclasses import dataclass, field

import torch

from model import pad_batch
from tokenizer import (ASSISTANT, BOS, CALL, CALL_END, END, RESULT, RESULT_END, USER, render_prompt, result_ids,
                       special_id)

STOP_TOKENS = (END, USER, BOS, ASSISTANT, RESULT, RESULT_END)  # the first of these the model samples ends its reply


class PromptTooLong(ValueError):
    """A prompt leaves no room for a reply in the model's context."""


@dataclass
class Reply:
    """One reply. Token lists are plain Python lists; logprobs and mask are aligned with reply_ids."""
    prompt: object  # the prompt: a string, or a conversation (messages) ending with a user turn
    prompt_ids: list  # the rendered prompt, <|endoftext|><|user|> ... <|end|><|assistant|>
    reply_ids: list  # the tokens after the prompt: tool calls and results, and the stop token (if there is one)
    logprobs: list  # each sampled token's log-prob under the distribution it was sampled from; 0 on results
    mask: list  # 1 on the reply tokens the model sampled (what a loss may count), 0 on the tools' results
    stop: str  # why the reply ended: "end", "user", "other" or "length"
    text: str  # what a reader sees: reply_ids decoded without the stop token, tool calls and results
    calls: list = field(default_factory=list)  # (call text, result text) of each tool call, in order

    @property
    def finished(self):
        """The reply ended with <|end|>, as the chat format asks."""
        return self.stop == "end"


def stop_ids(enc):
    """The ids of STOP_TOKENS in this encoding."""
    return [special_id(enc, t) for t in STOP_TOKENS]


def stop_reason(reply_ids, enc, mask=None):
    """Why a reply (its token ids, as sampled) ended: "end", "user", "other" or "length". With mask (1 on the
    tokens the model sampled), a last token that the runtime inserted (a result cut off by the token limit) is
    no stop token: "length"."""
    last = reply_ids[-1] if reply_ids else None
    if mask is not None and reply_ids and not mask[-1]:
        return "length"
    if last == special_id(enc, END):
        return "end"
    if last == special_id(enc, USER):
        return "user"
    return "other" if last in stop_ids(enc) else "length"


def visible(reply_ids, enc):
    """A reply's tokens -> (the tokens its reader sees, [(call text, result text), ...]).

    From <|call|> to <|call_end|> (a call) and from <|result|> to <|result_end|> (its result) is left out; a
    call or a result cut off by the end of the reply is left out to the end (a call without its result gets "").
    """
    marks = {special_id(enc, t): t for t in (CALL, CALL_END, RESULT, RESULT_END)}
    seen, calls, inside, part = [], [], None, []
    for t in reply_ids:
        mark = marks.get(t)
        if mark in (CALL, RESULT):  # a call or a result opens
            inside, part = mark, []
        elif mark == CALL_END and inside == CALL:
            calls.append((enc.decode(part), ""))
            inside = None
        elif mark == RESULT_END and inside == RESULT:
            if calls:
                calls[-1] = (calls[-1][0], enc.decode(part).removeprefix(" "))  # result_ids put a space first
            inside = None
        elif inside is not None:
            part.append(t)
        elif mark is None:
            seen.append(t)
    if inside == CALL:  # a call cut off by the end of the reply
        calls.append((enc.decode(part), ""))
    return seen, calls


def tool_runtime(enc, tools):
    """GPT.sample's insert_after for the function `tools` (call text -> result text): when a row samples
    <|call_end|>, its call is the text since its last <|call|> (the empty text if it opened none: the tool then
    answers with an error), and the runtime inserts tokenizer.result_ids: <|result|>, the result's tokens (after a
    space) and <|result_end|>, what the chat template renders for a "result" message."""
    call = special_id(enc, CALL)

    def insert(row, new_tokens):  # new_tokens: the row's new tokens so far, <|call_end|> last
        opened = max((i for i, t in enumerate(new_tokens) if t == call), default=len(new_tokens) - 2)
        return result_ids(enc, tools(enc.decode(new_tokens[opened + 1: -1])))  # as the chat template renders it

    return special_id(enc, CALL_END), insert


@torch.no_grad()
def generate_replies(model, enc, prompts, *, max_new_tokens=64, temperature=1.0, top_k=None, batch_size=32,
                     seed=0, generator=None, device="cpu", on_token=None, tools=None, ban_calls=False):
    """The model's reply to each prompt -> a list of `Reply`, in the prompts' order.

    prompts: strings, or conversations ending with a user turn. Sampling at `temperature` (0 = greedy), from the
    top_k likeliest tokens if given, batch_size prompts at a time. The draws come from `generator`, or from a
    new one seeded with `seed` (then the same call gives the same replies). A reply is cut at max_new_tokens (a
    tool's result counts), or earlier where the model's context ends. on_token(tokens (B,)) sees each step's new
    tokens as they come. tools: a function, call text -> result text, that runs the model's tool calls (None:
    calls are not run); ban_calls: the model cannot open a call.
    """
    stops = stop_ids(enc)
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(seed)
    runtime = tool_runtime(enc, tools) if tools is not None else None
    banned = [special_id(enc, CALL)] if ban_calls else []
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
                           stop_tokens=stops, attention_mask=mask, generator=generator, on_token=on_token,
                           insert_after=runtime, banned_tokens=banned)
        for p, p_ids, tokens, logprobs, sampled, held in zip(chunk, prompt_ids, new.tokens.tolist(),
                                                             new.logprobs.tolist(), new.mask.tolist(),
                                                             new.attention_mask.tolist()):
            n = sum(held)  # the reply's tokens are the first n new columns; the rest is padding
            reply_ids = tokens[:n]
            stop = stop_reason(reply_ids, enc, sampled[:n])
            seen, calls = visible(reply_ids if stop == "length" else reply_ids[:-1], enc)
            replies.append(Reply(prompt=p, prompt_ids=p_ids, reply_ids=reply_ids, logprobs=logprobs[:n],
                                 mask=sampled[:n], stop=stop, text=enc.decode(seen), calls=calls))
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


def seen_batch(replies, enc):
    """What a reader of each reply sees, as tensors in reply_batch's layout: the prompt, the reply without its tool
    calls and results (`visible`), and its stop token -> ids (B, P + T'), attention_mask (B, P + T'). Without tool
    calls these are reply_batch's ids and attention_mask. A reward model that never saw a tool reads this."""
    seen = []
    for r in replies:
        stop = [] if r.stop == "length" else r.reply_ids[-1:]
        seen.append(visible(r.reply_ids[: len(r.reply_ids) - len(stop)], enc)[0] + stop)
    prompt_ids, prompt_mask = pad_batch([r.prompt_ids for r in replies], pad_id=0, side="left")
    reply_ids, reply_attention = pad_batch(seen, pad_id=0, side="right")
    return torch.cat([prompt_ids, reply_ids], dim=1), torch.cat([prompt_mask, reply_attention], dim=1)
