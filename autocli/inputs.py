"""Batch inputs: TEXT arguments, '-' or piped stdin, --input FILE, or --jsonl objects.

Every line becomes exactly one Item, in order, read lazily (a million lines never sit in memory at
once). A line that cannot be used (invalid UTF-8, NUL byte, bad JSON, an empty text) becomes an Item
with an error, so its output record is an error record and no other input is lost. No input at all
is a usage error, raised by read_inputs() itself, before any model is loaded.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from autocli.errors import AutocliError, UsageError

# One line of input is refused above this size rather than fed to a tokenizer.
MAX_LINE_BYTES = 16 * 1024 * 1024
STDIN = "-"
EMPTY_HINT = "give every input some text (drop blank lines, e.g. with grep .)"
# The files read as images (the extensions Pillow decodes that cameras and the web use) and as audio: given where
# a text goes, such a file is a mistake, not a text.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
# The first bytes of files people pipe or pass as --input by mistake -> what they are (lines of text are wanted).
MAGIC = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"GIF8", "a GIF image"),
         (b"RIFF", "a RIFF (WAV or WebP) file"), (b"fLaC", "a FLAC audio file"), (b"OggS", "an Ogg audio file"),
         (b"PAR1", "a Parquet file"), (b"PK\x03\x04", "a zip archive"), (b"%PDF", "a PDF document"),
         (b"\x1f\x8b", "a gzip archive"), (b"\xff\xfe", "UTF-16 text"), (b"\xfe\xff", "UTF-16 text"))
# What to do instead, for the files that have a better answer than "pass its path".
INSTEAD = {"a Parquet file": "Parquet is read by the --output engine: add --output DIR (and --text-column / --image-column NAME)",
           "UTF-16 text": "convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8 (PowerShell's > writes UTF-16)"}


@dataclass
class Item:
    index: int
    fields: dict = field(default_factory=dict)
    error: AutocliError | None = None

    @property
    def text(self) -> str:
        return self.fields.get("text", "")

    @property
    def shown(self) -> str:
        """What a table shows for the input: its text, or the file it names."""
        for name in ("text", "image", "audio", "document"):
            value = self.fields.get(name)
            if isinstance(value, str):
                return value
        return ""


class Inputs:
    """The items of one invocation, in order, read as they are iterated; never empty.

    each(fn) adds a check run on every item as it is read (e.g. require a JSONL field)."""

    def __init__(self, items: Iterable[Item]):
        self._items = iter(items)
        first = next(self._items, None)
        if first is None:
            raise UsageError("no input: stdin or the --input file is empty", "pass TEXT arguments, '-' to read stdin, or --input FILE")
        self._first = first
        self._checks: list[Callable[[Item], None]] = []

    def each(self, check: Callable[[Item], None]) -> "Inputs":
        self._checks.append(check)
        return self

    def __iter__(self) -> Iterator[Item]:
        for item in itertools.chain([self._first], self._items):
            for check in self._checks:
                check(item)
            yield item


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


def _bad(index: int, message: str, hint: str | None = None) -> Item:
    return Item(index, {}, UsageError(message, hint))


def _parse_line(index: int, raw: bytes, jsonl: bool, primary: str, allow_empty: bool) -> Item:
    """One line -> one Item. Messages leave out the input number: the record and stderr line carry it."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > MAX_LINE_BYTES:
        return _bad(index, f"the line is over the {MAX_LINE_BYTES:,}-byte limit", "split it into shorter inputs")
    if b"\x00" in raw:
        return _bad(index, "the line contains a NUL byte", "is the input a binary file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return _bad(index, f"not valid UTF-8 (byte {e.start})", "convert the file to UTF-8")
    if text.startswith("\ufeff") and index == 0:
        text = text[1:]  # a byte-order mark on the first line is not content
    if not jsonl:
        return _text_item(index, {primary: text}, primary, allow_empty)
    if not text.strip():
        return _bad(index, "an empty line, not a JSON object", "one JSON object per line; drop blank lines")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return _bad(index, f"not valid JSON: {e.msg} at column {e.colno}", "one JSON object per line")
    if isinstance(obj, str):
        obj = {primary: obj}
    if not isinstance(obj, dict):
        return _bad(index, f"a JSON {type(obj).__name__}, not an object", f'use {{"{primary}": ...}}')
    return Item(index, obj)


def _text_item(index: int, fields: dict, primary: str, allow_empty: bool) -> Item:
    if not allow_empty and not fields[primary].strip():
        return Item(index, fields, UsageError("the text is empty", EMPTY_HINT))
    return Item(index, fields)


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of a stream without their newline, one at a time; a line over the limit is cut there
    (the rest of it skipped) so that it becomes one error record, not a memory spike."""
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:  # drop the remainder of the long line
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield raw
            continue
        yield raw[:-1] if raw.endswith(b"\n") else raw


def split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line does not start another
    return lines


def _open(path: str) -> BinaryIO:
    """A local file, or an s3:// / gs:// object (autocli[remote])."""
    from autocli.engine.files import is_remote, open_input

    return open_input(path) if is_remote(path) else open(path, "rb")


def _raw_lines(args: list[str], input_file: Path | None, stream: BinaryIO) -> Iterator[bytes | str]:
    """Arguments as str, lines read from a file or stdin as bytes, in order. '-' among the arguments
    stands for every line of stdin, at its place."""
    if input_file is not None and str(input_file) != STDIN:
        try:
            handle = _open(str(input_file))
        except OSError as e:
            raise UsageError(f"cannot read --input {input_file}: {e.strerror}", "check the path") from None
        with handle:
            refuse_binary(handle, f"--input {input_file}")
            yield from _lines(handle)
        return
    if not args:
        if input_file is None and stream.isatty():
            raise UsageError("no input given", "pass TEXT arguments, '-' to read stdin, or --input FILE")
        refuse_binary(stream, "stdin")
        yield from _lines(stream)
        return
    for arg in args:
        if arg == STDIN:
            refuse_binary(stream, "stdin")
            yield from _lines(stream)
        else:
            yield arg


def refuse_binary(stream: BinaryIO, where: str) -> None:
    """Inputs are lines (texts, paths or JSON objects): a whole image, recording or Parquet file in their place
    is refused at once rather than cut into lines of garbage, one error record each."""
    peek = getattr(stream, "peek", None)
    head = peek(16)[:16] if peek is not None else b""
    what = next((name for magic, name in MAGIC if head.startswith(magic)), None)
    if what is not None:
        raise UsageError(f"{where} is {what}, not lines of UTF-8 text",
                         INSTEAD.get(what, "pass the file's path as an argument (stdin and --input take one path or text per line)"))


def read_inputs(
    args: list[str] | None,
    input_file: Path | None = None,
    jsonl: bool = False,
    primary: str = "text",
    allow_empty: bool = False,
    stdin: BinaryIO | None = None,
) -> Inputs:
    """The inputs of one command invocation, one Item each, in order, read lazily.

    An empty text is an input error (its own error record) unless allow_empty; no input at all is a
    usage error, raised here."""
    args = list(args or [])
    if args and input_file is not None:
        raise UsageError("give inputs as arguments or with --input, not both")
    if args.count(STDIN) > 1:
        raise UsageError("'-' (stdin) may be given once")

    def items() -> Iterator[Item]:
        for i, raw in enumerate(_raw_lines(args, input_file, stdin or _stdin())):
            if isinstance(raw, bytes):
                yield _parse_line(i, raw, jsonl, primary, allow_empty)
            elif jsonl:
                yield _parse_line(i, raw.encode("utf-8", "surrogateescape"), True, primary, allow_empty)
            else:
                yield _text_item(i, {primary: raw}, primary, allow_empty)

    return Inputs(items())


def require(item: Item, *names: str, allow_empty: bool = False) -> None:
    """Give the item an error when a field the command needs is missing, not a string, or empty; or when a
    text is the path of an image or audio file (a text model would read the file's name)."""
    if item.error:
        return
    for name in names:
        value = item.fields.get(name)
        if not isinstance(value, str):
            got = "missing" if value is None else f"a {type(value).__name__}"
            item.error = UsageError(f"field '{name}' is {got}", f'each JSONL object needs "{name}": "..."')
            return
        if not allow_empty and not value.strip():
            item.error = UsageError(f"field '{name}' is empty", EMPTY_HINT)
            return
        if name == "text" and not_a_text(value):
            item.error = not_a_text(value)
            return


def not_a_text(text: str) -> UsageError | None:
    """The error of a text that names an existing image or audio file (by its suffix), else None."""
    suffix = Path(text.strip()).suffix.lower() if len(text) < 4096 and "\n" not in text else ""
    kind = "an image" if suffix in IMAGE_SUFFIXES else "an audio" if suffix in AUDIO_SUFFIXES else ""
    if not kind or not Path(text.strip()).is_file():
        return None
    return UsageError(f"{text} is {kind} file, and this command reads it as text",
                      "pass the text itself; image and audio files go to a checkpoint that reads them")


def no_such_file(path: str, kind: str, texts: str = "") -> UsageError:
    """A missing input file; a name that reads as a text (spaces, no suffix) is told that the model reads files
    (and, for a model that reads texts too, where they go: `texts`)."""
    name = str(path)
    if " " in name.strip() or not Path(name).suffix:
        return UsageError(f"{name}: no such file; this command reads {kind} files here, not text",
                          f"pass the paths of {kind} files" + (f"; {texts}" if texts else ""))
    return UsageError(f"{name}: no such file", "check the path")


def naming_files(field: str) -> Callable[[Item], None]:
    """For image and audio commands: a plain input line is a file path; a JSONL object names it in `field`."""
    def check(item: Item) -> None:
        if item.error is None and field not in item.fields and "text" in item.fields and len(item.fields) == 1:
            item.fields = {field: item.fields["text"]}
        require(item, field)
    return check


def requiring(*names: str, allow_empty: bool = False) -> Callable[[Item], None]:
    """require() as a check for Inputs.each()."""
    return lambda item: require(item, *names, allow_empty=allow_empty)
