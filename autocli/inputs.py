"""Batch inputs: TEXT arguments, '-' or piped stdin, --input FILE, or --jsonl objects.

Every line becomes exactly one Item, in order; a line that cannot be used (invalid UTF-8,
NUL byte, bad JSON, empty) becomes an Item with an error, so its output record is an
error record and no other input is lost.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from autocli.errors import AutocliError, UsageError

# One line of input is refused above this size rather than fed to a tokenizer.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class Item:
    index: int
    fields: dict = field(default_factory=dict)
    error: AutocliError | None = None

    @property
    def text(self) -> str:
        return self.fields.get("text", "")


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


def _bad(index: int, message: str, hint: str | None = None) -> Item:
    return Item(index, {}, UsageError(message, hint))


def _parse_line(index: int, raw: bytes, jsonl: bool, primary: str, allow_empty: bool) -> Item:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > MAX_LINE_BYTES:
        return _bad(index, f"input {index} is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit")
    if b"\x00" in raw:
        return _bad(index, f"input {index} contains a NUL byte", "is the input a binary file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return _bad(index, f"input {index} is not valid UTF-8 (byte {e.start})", "convert the file to UTF-8")
    if text.startswith("\ufeff") and index == 0:
        text = text[1:]  # a byte-order mark on the first line is not content
    if not jsonl:
        if not text.strip() and not allow_empty:
            return _bad(index, f"input {index} is empty")
        return Item(index, {primary: text})
    if not text.strip():
        return _bad(index, f"input {index} is an empty line, not a JSON object")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return _bad(index, f"input {index} is not valid JSON: {e.msg} at column {e.colno}")
    if isinstance(obj, str):
        obj = {primary: obj}
    if not isinstance(obj, dict):
        return _bad(index, f"input {index} is a JSON {type(obj).__name__}, not an object", f'use {{"{primary}": ...}}')
    return Item(index, obj)


def split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line does not start another
    return lines


def read_inputs(
    args: list[str] | None,
    input_file: Path | None = None,
    jsonl: bool = False,
    primary: str = "text",
    allow_empty: bool = False,
    stdin: BinaryIO | None = None,
) -> list[Item]:
    """Collect the inputs of one command invocation, one Item each, in order."""
    args = [a for a in (args or [])]
    if args and args != ["-"]:
        if input_file is not None:
            raise UsageError("give inputs as arguments or with --input, not both")
        if jsonl:
            return [_parse_line(i, a.encode("utf-8", "surrogateescape"), True, primary, allow_empty) for i, a in enumerate(args)]
        return [Item(i, {primary: a}) for i, a in enumerate(args)]
    stream = stdin or _stdin()
    if input_file is not None and str(input_file) != "-":
        try:
            data = Path(input_file).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read --input {input_file}: {e.strerror}", "check the path") from None
    elif args == ["-"] or input_file is not None or not stream.isatty():
        data = stream.read()
    else:
        raise UsageError("no input given", "pass TEXT arguments, '-' to read stdin, or --input FILE")
    return [_parse_line(i, raw, jsonl, primary, allow_empty) for i, raw in enumerate(split_lines(data))]


def require(item: Item, *names: str) -> None:
    """Give the item an error when a JSONL field the command needs is missing or not a string."""
    if item.error:
        return
    for name in names:
        value = item.fields.get(name)
        if not isinstance(value, str):
            got = "missing" if value is None else f"a {type(value).__name__}"
            item.error = UsageError(f"input {item.index}: field '{name}' is {got}", f'each JSONL object needs "{name}": "..."')
            return
