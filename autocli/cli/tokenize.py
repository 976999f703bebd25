"""`autocli tokenize MODEL [TEXT...]`: token ids, tokens and character spans; --decode turns ids into text.

Needs only the tokenizer files (a Hub checkpoint downloads nothing else) and never imports torch.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Spans are character offsets into each input's own text (a pair's second text has its own); "
    "special tokens added around the text have no span. --decode reads ids separated by commas or spaces, "
    "or JSONL objects with \"ids\". An empty text is tokenized too (only the special tokens).\n\n"
    "As transformers' tokenizer(texts, padding=..., truncation=True, max_length=N): --truncation cuts to "
    "--max-length (default: the model's limit; --max-length alone also truncates), --padding longest pads "
    "every record to the longest input (so it reads all inputs before printing), --padding max_length to "
    "--max-length; records then carry attention_mask (ids = input_ids, type_ids = token_type_ids).\n\n"
    "Examples:\n\n"
    "  autocli tokenize sentence-transformers/all-MiniLM-L6-v2 \"Hello world!\"\n\n"
    "  autocli tokenize ./model \"Where is it?\" --pair \"It is in Paris.\" --max-length 16 --ids\n\n"
    "  cat lines.txt | autocli tokenize ./model --count\n\n"
    "  autocli tokenize ./model --decode 101,7592,2088,999,102"
)

# An id list for --decode: numbers separated by commas and/or whitespace, optionally in [brackets].
ID_SEPARATORS = re.compile(r"[,\s]+")


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


class Padding(str, Enum):
    longest = "longest"
    max_length = "max_length"


def tokenize_items(tokenizer, items, add_special_tokens: bool, max_length: int | None):
    """One record per input, in order, as each is read; an input that cannot be tokenized gets an error record."""
    from autocli.errors import AutocliError, UsageError
    from autocli.results import Tokenized, error_record

    for item in items:
        try:
            if item.error:
                raise item.error
            text, pair = item.fields.get("text"), item.fields.get("text_pair")
            if not isinstance(text, str):
                raise UsageError(f"field 'text' is {'missing' if text is None else 'not a string'}", 'each JSONL object needs "text": "..."')
            if pair is not None and not isinstance(pair, str):
                raise UsageError("field 'text_pair' is not a string", 'use "text_pair": "..."')
            enc = tokenizer.encode(text, pair, add_special_tokens=add_special_tokens, max_length=max_length)
            yield Tokenized(item.index, text, enc.ids, enc.tokens, enc.offsets, enc.type_ids, enc.truncated, pair,
                            _sequence_ids=enc.sequence_ids)
        except AutocliError as e:
            yield error_record(item.index, e)


def padded(records, tokenizer, padding: Padding, max_length: int | None):
    """Records padded as transformers pads a batch (its padding side, pad id and token), with attention_mask."""
    from autocli.errors import UsageError
    from autocli.results import ErrorRecord

    pad_id = tokenizer.pad_id
    if pad_id is None:
        raise UsageError("this tokenizer has no padding token", "leave out --padding")
    pad_token = tokenizer.id_to_token(pad_id)
    if padding == Padding.longest:
        records = list(records)  # the longest input sets the width: all of them first
        width = max((len(r.ids) for r in records if not isinstance(r, ErrorRecord)), default=0)
    else:
        width = max_length
    for rec in records:
        if not isinstance(rec, ErrorRecord):
            n = max(0, width - len(rec.ids))
            rec.attention_mask = [1] * len(rec.ids)
            for name, fill in (("ids", pad_id), ("tokens", pad_token), ("offsets", (0, 0)), ("type_ids", 0),
                               ("attention_mask", 0), ("_sequence_ids", None)):
                value = getattr(rec, name) or [0] * len(rec.ids)
                pad = [fill] * n
                setattr(rec, name, pad + value if tokenizer.padding_side == "left" else value + pad)
        yield rec


def decode_items(tokenizer, items, skip_special_tokens: bool):
    from autocli.errors import AutocliError
    from autocli.results import Decoded, error_record

    for item in items:
        try:
            if item.error:
                raise item.error
            ids = parse_ids(item.fields.get("ids", item.fields.get("text")))
            yield Decoded(item.index, ids, tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))
        except AutocliError as e:
            yield error_record(item.index, e)


@o.shared_options(o.TEXT_OPTIONS)
def tokenize_cmd(
    model: o.Checkpoint,
    texts: Annotated[
        Optional[list[str]],
        typer.Argument(help="Texts to tokenize ('-': stdin, one per line, at its place; none: stdin); with --decode, id lists.", show_default=False),
    ] = None,
    pair: Annotated[Optional[str], typer.Option("--pair", help="Second text of a pair, for every input (JSONL: \"text_pair\").")] = None,
    ids_only: Annotated[bool, typer.Option("--ids", help="Print only the ids: one line per input, space-separated.")] = False,
    count: Annotated[bool, typer.Option("--count", help="Print only the number of tokens: one line per input.")] = False,
    no_special: Annotated[
        bool, typer.Option("--no-special-tokens", help="Add no special tokens ([CLS], <s>, ...); with --decode, drop them.")
    ] = False,
    decode: Annotated[bool, typer.Option("--decode", help="Inputs are token ids (e.g. 101,2023,102); print their text.")] = False,
    padding: Annotated[Optional[Padding], typer.Option("--padding", help="Pad to the longest input or to --max-length; adds attention_mask.")] = None,
    truncation: Annotated[bool, typer.Option("--truncation", help="Cut to --max-length, or to the model's limit.")] = False,
    *,
    shared: o.Shared,
) -> None:
    """Split texts into tokens: ids, tokens and character spans, exactly as the checkpoint's tokenizer does."""
    import time

    from autocli import render
    from autocli.errors import UsageError
    from autocli.results import Tokenized
    from autocli.tasks import check_max_length, describe_tokenizer, load_tokenizer_for

    # --ids, --count and --decode print plain lines (their table form), terminal or pipe.
    max_length = shared.max_length
    fmt = shared.format(o.Format.table if ids_only or count or decode else o.Format.jsonl)
    if ids_only and count:
        raise UsageError("--ids and --count each print one line per input; choose one")
    if (ids_only or count) and fmt != o.Format.table:
        raise UsageError(f"{'--ids' if ids_only else '--count'} prints plain lines; leave out --format {fmt.value}",
                         "the json and jsonl records already hold the ids")
    if decode and (ids_only or count or pair is not None or max_length is not None or padding or truncation):
        raise UsageError("--decode takes ids and prints text; --ids, --count, --pair, --max-length, --padding and --truncation do not apply")
    if padding == Padding.max_length and max_length is None:
        raise UsageError("--padding max_length needs --max-length N")

    def with_pair(item) -> None:
        if pair is not None and item.error is None:
            item.fields.setdefault("text_pair", pair)

    items = shared.read(texts, allow_empty=True).each(with_pair)
    start = time.perf_counter()
    ckpt, tokenizer = load_tokenizer_for(model, shared.tokenizer_source, **shared.hub)
    o.note_time(shared.verbose, start, f"read {describe_tokenizer(tokenizer, shared.tokenizer_source)} from {ckpt.where}")
    if decode:
        render.finish(render.emit_records(decode_items(tokenizer, items, skip_special_tokens=no_special), fmt, None, render.decoded_line))
        return
    limit = max_length if max_length is not None else tokenizer.model_max_length if truncation else None
    if not no_special:
        check_max_length(tokenizer, limit, pair is not None)
    records = tokenize_items(tokenizer, items, add_special_tokens=not no_special, max_length=limit)
    if padding is not None:
        records = padded(records, tokenizer, padding, limit)
    line = render.token_ids_line if ids_only else render.token_count_line if count else None
    tally = render.emit_records(_noting_truncation(records, limit, shared.quiet), fmt, Tokenized, line)
    render.finish(tally)


def _noting_truncation(records, limit, quiet: bool):
    """The records, and at the end one warning naming the truncated inputs."""
    from autocli.tasks.batching import warn_truncated

    truncated = []
    for rec in records:
        if getattr(rec, "truncated", False):
            truncated.append(rec.index)
        yield rec
    warn_truncated(truncated, limit, quiet)
