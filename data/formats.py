"""
Loaders for the data formats the ecosystem uses, so users can bring their own files to every stage.
All are JSONL: one JSON object per line.

    SFT conversations   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
                        with tool use: {"messages": [{"role": "user", "content": "What is 2 plus 3?"},
                                                     {"role": "call", "content": "calc 2 plus 3"},
                                                     {"role": "result", "content": "5"},
                                                     {"role": "assistant", "content": "2 plus 3 is 5."}]}
    preference pairs    {"prompt": "...", "chosen": "...", "rejected": "..."}    (TRL / HH-RLHF style)
    prompts             {"prompt": "..."}

Extra fields are allowed and kept (tinyworld's files carry e.g. "task"). Nothing is skipped silently
(blank lines excepted): a malformed line raises DataError "file:line: what is wrong", and an empty file
raises DataError naming the file. Roles are "user" and "assistant", and "call" and "result" for tool use: the
assistant's calls and the tools' results sit between the user's turn and the assistant's text that ends the
turn, each call followed by its result (the chat template renders them inside the assistant's turn: see
tokenizer.py). Every conversation needs at least one assistant turn (otherwise SFT has nothing to learn from it);
one that does not alternate user and assistant turns from a user turn is kept, with a printed note.
"""

import json
from pathlib import Path

from tokenizer import ROLES, check_messages


class DataError(ValueError):
    """A data file that cannot be used; the message starts with "path:line:" (or "path:" for the whole file)."""


def load_jsonl(path):
    """-> list of (line number, record dict), line numbers counted from 1 (so errors can point at the line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").lstrip("\ufeff") if n == 1 else raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{n}: not UTF-8 text") from None
            if not line.strip():
                continue  # blank lines (e.g. a trailing newline) are allowed
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{n}: expected a JSON object {{...}}, got a {type(record).__name__}")
            rows.append((n, record))
    if not rows:
        raise DataError(f"{path}: empty dataset (no records in the file)")
    return rows


def _text(path, n, obj, key, where=""):
    """obj[key] must be a non-empty string; `where` (e.g. "message 1: ") locates obj in the record."""
    if key not in obj:
        raise DataError(f"{path}:{n}: {where}field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, str):
        raise DataError(f"{path}:{n}: {where}field {key!r} must be a string, got {type(value).__name__} {value!r:.40}")
    if not value.strip():
        raise DataError(f"{path}:{n}: {where}field {key!r} is empty")
    return value


def load_conversations(path):
    """-> list of conversations, each a list of message dicts {"role", "content", ...extra fields}.

    A conversation whose turns do not alternate user, assistant, user, ... from a user turn is kept as written (a
    chat template can render it), and a printed note counts them and gives the line of the first."""
    conversations, odd_lines = [], []
    for n, record in load_jsonl(path):
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{path}:{n}: field 'messages' must be a non-empty list of "
                            f"{{'role', 'content'}} objects, got {messages!r:.60}")
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise DataError(f"{path}:{n}: message {i}: must be an object, got {type(m).__name__}")
            if m.get("role") not in ROLES:
                raise DataError(f"{path}:{n}: message {i}: role {m.get('role')!r:.30} is not one of {', '.join(ROLES)}")
            _text(path, n, m, "content", where=f"message {i}: ")
        try:
            check_messages(messages)  # the order of tool calls and results
        except ValueError as e:
            raise DataError(f"{path}:{n}: {e}") from None
        if not any(m["role"] == "assistant" for m in messages):
            raise DataError(f"{path}:{n}: conversation has no assistant turn (nothing to learn from it)")
        turns = [m for m in messages if m["role"] in ("user", "assistant")]  # tool turns sit inside a reply
        if any(m["role"] != ("user", "assistant")[i % 2] for i, m in enumerate(turns)):
            odd_lines.append(n)
        conversations.append([dict(m) for m in messages])
    if odd_lines:
        print(f"note: {path}: {len(odd_lines)} of {len(conversations)} conversations do not alternate user and "
              f"assistant turns from a first user turn (the first at line {odd_lines[0]}); kept as written")
    return conversations


def load_preferences(path):
    """-> list of dicts with non-empty strings "prompt", "chosen", "rejected" (and the file's extra fields)."""
    pairs = []
    for n, record in load_jsonl(path):
        for key in ("prompt", "chosen", "rejected"):
            _text(path, n, record, key)
        pairs.append(record)
    return pairs


def load_prompts(path):
    """-> list of prompt strings (the "prompt" field of each record)."""
    return [r["prompt"] for r in load_prompt_records(path)]


def load_prompt_records(path):
    """-> list of prompt records: dicts with a non-empty "prompt" (tinyworld's also carry "task")."""
    records = []
    for n, record in load_jsonl(path):
        _text(path, n, record, "prompt")
        records.append(record)
    return records
