"""`autocli tokenize CHECKPOINT [TEXT...]`: token ids, tokens and character spans; --decode turns ids into text.

Needs only the tokenizer files (a Hub checkpoint downloads nothing else) and never imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Spans are character offsets into each input's own text (a pair's second text has its own); "
    "special tokens added around the text have no span. --decode reads ids separated by commas or spaces, "
    "or JSONL objects with \"ids\".\n\n"
    "Examples:\n\n"
    "  autocli tokenize sentence-transformers/all-MiniLM-L6-v2 \"Hello world!\"\n\n"
    "  autocli tokenize ./model \"Where is it?\" --pair \"It is in Paris.\" --max-length 16 --ids\n\n"
    "  cat lines.txt | autocli tokenize ./model --count\n\n"
    "  autocli tokenize ./model --decode 101,7592,2088,999,102"
)

# An id list for --decode: numbers separated by commas and/or whitespace, optionally in [brackets].
ID_SEPARATORS = re.compile(r"[,\s]+")


@dataclass
class TokenizeRecord:
    index: int
    text: str
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    type_ids: list[int]
    truncated: bool
    _sequence_ids: list = field(default_factory=list)  # for the table's text column; not in JSON


@dataclass
class TokenizePairRecord(TokenizeRecord):
    pair: str = ""


@dataclass
class DecodeRecord:
    index: int
    ids: list[int]
    text: str


def parse_ids(value) -> list[int]:
    """'101,2023 102' or '[101, 2023]' or a JSON list -> ids."""
    from autocli.errors import UsageError

    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        body = value.strip()
        if body.startswith("[") and body.endswith("]"):
            body = body[1:-1]
        items = [p for p in ID_SEPARATORS.split(body) if p]
    else:
        raise UsageError(f"ids must be a list of numbers, not a {type(value).__name__}")
    ids = []
    for p in items:
        try:
            if isinstance(p, bool) or isinstance(p, float):
                raise ValueError
            ids.append(int(p))
        except (TypeError, ValueError):
            raise UsageError(f"{str(p)[:40]!r} is not a token id", "give ids as numbers separated by commas or spaces") from None
    return ids


def tokenize_items(tokenizer, items, add_special_tokens: bool, max_length: int | None):
    """One record per input, in order; an input that cannot be tokenized gets an error record."""
    from autocli import render
    from autocli.errors import AutocliError, UsageError

    batch = render.Batch("tokenize")
    for item in items:
        try:
            if item.error:
                raise item.error
            text, pair = item.fields.get("text"), item.fields.get("text_pair")
            if not isinstance(text, str):
                raise UsageError(f"input {item.index}: field 'text' is {'missing' if text is None else 'not a string'}",
                                 'each JSONL object needs "text": "..."')
            if pair is not None and not isinstance(pair, str):
                raise UsageError(f"input {item.index}: field 'text_pair' is not a string")
            enc = tokenizer.encode(text, pair, add_special_tokens=add_special_tokens, max_length=max_length)
            fields = dict(index=item.index, text=text, ids=enc.ids, tokens=enc.tokens, offsets=enc.offsets,
                          type_ids=enc.type_ids, truncated=enc.truncated, _sequence_ids=enc.sequence_ids)
            batch.records.append(TokenizeRecord(**fields) if pair is None else TokenizePairRecord(**fields, pair=pair))
        except AutocliError as e:
            batch.records.append(render.error_record(item.index, e))
    return batch


def decode_items(tokenizer, items, skip_special_tokens: bool):
    from autocli import render
    from autocli.errors import AutocliError

    batch = render.Batch("detokenize")
    for item in items:
        try:
            if item.error:
                raise item.error
            ids = parse_ids(item.fields.get("ids", item.fields.get("text")))
            batch.records.append(DecodeRecord(item.index, ids, tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)))
        except AutocliError as e:
            batch.records.append(render.error_record(item.index, e))
    return batch


def tokenize_cmd(
    checkpoint: o.Checkpoint,
    texts: Annotated[
        Optional[list[str]],
        typer.Argument(help="Texts to tokenize ('-' or none: stdin, one per line); with --decode, id lists.", show_default=False),
    ] = None,
    pair: Annotated[Optional[str], typer.Option("--pair", help="Second text of a pair, for every input (JSONL: \"text_pair\").")] = None,
    ids_only: Annotated[bool, typer.Option("--ids", help="Print only the ids: one line per input, space-separated.")] = False,
    count: Annotated[bool, typer.Option("--count", help="Print only the number of tokens: one line per input.")] = False,
    no_special: Annotated[
        bool, typer.Option("--no-special-tokens", help="Add no special tokens ([CLS], <s>, ...); with --decode, drop them.")
    ] = False,
    decode: Annotated[bool, typer.Option("--decode", help="Inputs are token ids (e.g. 101,2023,102); print their text.")] = False,
    input_file: o.InputFile = None,
    jsonl: o.JsonlInput = False,
    max_length: o.MaxLength = None,
    revision: o.Revision = None,
    offline: o.Offline = False,
    cache_dir: o.CacheDir = None,
    token: o.Token = None,
    fmt: o.FormatOpt = o.Format.auto,
    json_flag: o.JsonFlag = False,
    quiet: o.Quiet = False,
) -> None:
    """Split texts into tokens: ids, tokens and character spans, exactly as the checkpoint's tokenizer does."""
    from autocli import render
    from autocli.checkpoint import Checkpoint
    from autocli.config import refuse_remote_code
    from autocli.errors import UsageError
    from autocli.inputs import read_inputs
    from autocli.tokenizer import load_tokenizer

    # --ids, --count and --decode print plain lines (their table form), terminal or pipe.
    fmt = o.output_format(fmt, json_flag, o.Format.table if ids_only or count or decode else o.Format.jsonl)
    if ids_only and count:
        raise UsageError("--ids and --count each print one line per input; choose one")
    if (ids_only or count) and fmt != o.Format.table:
        raise UsageError(f"{'--ids' if ids_only else '--count'} prints plain lines; leave out --format {fmt.value}",
                         "the json and jsonl records already hold the ids")
    if decode and (ids_only or count or pair is not None or max_length is not None):
        raise UsageError("--decode takes ids and prints text; --ids, --count, --pair and --max-length do not apply")

    # An empty line is a valid thing to tokenize (zero tokens plus the special ones).
    items = read_inputs(texts, input_file, jsonl, allow_empty=True)
    if pair is not None:
        for item in items:
            if item.error is None:
                item.fields.setdefault("text_pair", pair)
    ckpt = Checkpoint.resolve(checkpoint, revision=revision, cache_dir=cache_dir, token=token, offline=offline)
    refuse_remote_code(ckpt)
    tokenizer = load_tokenizer(ckpt)

    if decode:
        batch = decode_items(tokenizer, items, skip_special_tokens=no_special)
    else:
        batch = tokenize_items(tokenizer, items, add_special_tokens=not no_special, max_length=max_length)
        if ids_only or count:
            batch.kind = "tokenize-ids" if ids_only else "tokenize-count"
    render.emit(batch, fmt)
    truncated = [r.index for r in batch.records if getattr(r, "truncated", False)]
    if truncated and not quiet:
        from autocli.tasks.batching import warn_truncated

        warn_truncated(truncated, max_length, quiet)
    render.finish(batch)
