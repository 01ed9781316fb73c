"""
Loaders for the data formats the ecosystem uses, so users can bring their own files to every stage:

- SFT conversations, JSONL:   {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}
- preference pairs, JSONL:    {"prompt": ..., "chosen": ..., "rejected": ...}   (TRL / HH-RLHF style)
- prompts, JSONL:             {"prompt": ...}

Extra fields are allowed and kept. A malformed line is a DataError that says "file:line: what is wrong";
nothing is skipped silently (blank lines excepted). An empty file is an error too.
"""

import json
from pathlib import Path


class DataError(ValueError):
    pass


def load_jsonl(path):
    """-> list of (line number, record dict)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{n}: expected a JSON object, got {type(record).__name__}")
            rows.append((n, record))
    if not rows:
        raise DataError(f"{path}: empty dataset (no records)")
    return rows


def _text_field(path, n, record, key):
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{path}:{n}: field {key!r} must be a non-empty string, got {value!r:.60}")
    return value


def load_conversations(path):
    """-> list of conversations (lists of {"role", "content"}), each with at least one assistant turn."""
    out = []
    for n, record in load_jsonl(path):
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{path}:{n}: field 'messages' must be a non-empty list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                raise DataError(f"{path}:{n}: message {i} needs role 'user' or 'assistant', got {m!r:.60}")
            if not isinstance(m.get("content"), str):
                raise DataError(f"{path}:{n}: message {i} content must be a string")
        if not any(m["role"] == "assistant" for m in messages):
            raise DataError(f"{path}:{n}: conversation has no assistant turn (nothing to learn)")
        out.append([{"role": m["role"], "content": m["content"]} for m in messages])
    return out


def load_preferences(path):
    """-> list of dicts with prompt, chosen, rejected (and any extra fields of the file)."""
    out = []
    for n, record in load_jsonl(path):
        for key in ("prompt", "chosen", "rejected"):
            _text_field(path, n, record, key)
        out.append(record)
    return out


def load_prompts(path):
    """-> list of prompt strings."""
    return [_text_field(path, n, record, "prompt") for n, record in load_jsonl(path)]


def load_prompt_records(path):
    """-> list of prompt records (dicts with at least "prompt"; tinyworld files also carry "task")."""
    out = []
    for n, record in load_jsonl(path):
        _text_field(path, n, record, "prompt")
        out.append(record)
    return out
