"""The column options against what the checkpoint reads, before any shard runs: an image column given to a
text model, a text column to an audio model, or an image model over a listing that names no image would fail
every row alike, so each is one usage error up front instead of one error record per row."""

from __future__ import annotations

import csv
import json

from autocli.engine import files as store
from autocli.engine.shards import Shard, _parquet_shape, _text
from autocli.errors import UsageError

FLAGS = {"text": "--text-column", "image": "--image-column", "audio": "--audio-column"}
# What each kind of family reads, by the fields the column options fill (text families: "text"). Documents and
# image-text models read images and texts both.
READS = {"vision": ("image",), "audio": ("audio",), "document": ("image", "text"), "image-text": ("image", "text")}
SAYS = {"text": "texts", "image": "image files", "audio": "audio files"}
# The commands that read one text per row from the field "text" (of a text model).
TEXT_COMMANDS = ("classify", "tag", "embed", "fill-mask")


def check_fields(model: str, command: str, shared, shards: list[Shard]) -> None:
    """Refuse column options the checkpoint cannot use, and a listing (its first file) that neither names the
    column the model reads (an image or audio model's files, a text model's texts) nor has one called so."""
    from autocli import registry
    from autocli.tasks import resolve

    config = resolve(model, **shared.hub).config()
    fam = registry.family(config.model_type)
    if fam is None:
        return  # the load says what is not supported
    reads = READS.get(fam.kind, ("text",))
    given = {"text": shared.text_column or shared.pair_column, "image": shared.image_column, "audio": shared.audio_column}
    what = f"{model} ({config.model_type}) reads {' and '.join(SAYS[r] for r in reads)}"
    for field, column in given.items():
        if column is not None and field not in reads:
            flag = "--pair-column" if field == "text" and shared.text_column is None else FLAGS[field]
            raise UsageError(f"{flag} {column}: {what}, not {SAYS[field]}",
                             " or ".join(f"{FLAGS[r]} NAME" for r in reads) + " names the column to read")
    if reads in (("image",), ("audio",)) or (reads == ("text",) and command in TEXT_COMMANDS):
        field = reads[0]
        file, names = first_columns(shards, shared.jsonl)
        if given[field] is None and names is not None and field not in names and names != ["text"]:
            raise UsageError(f"{file} has no {field!r} column, and {what}",
                             f"name the column of the {SAYS[field].replace(' files', ' paths')}: {FLAGS[field]} NAME (its columns: {', '.join(names) or 'none'})")


def first_columns(shards: list[Shard], jsonl: bool) -> tuple[str, list[str] | None]:
    """The first readable file and its column names (JSONL: its first object's keys); None for plain lines or
    when they cannot be told (an unreadable file or row is an error record of its own)."""
    shard = next((s for s in shards if s.kind != "unreadable"), None)
    if shard is None:
        return "", None
    try:
        return shard.file, _names(shard, jsonl)
    except (OSError, ValueError, csv.Error):  # a store that stops answering, a file that is not UTF-8
        return shard.file, None


def _names(shard: Shard, jsonl: bool) -> list[str] | None:
    if shard.kind == "parquet":
        return _parquet_shape(shard.file)[0]
    if shard.kind == "csv":
        with _text(shard.file) as handle:
            return next(csv.reader(handle), [])  # the header alone: the rows were counted when the shards were cut
    if not jsonl:
        return None
    with store.open_input(shard.file) as handle:
        handle.seek(shard.offset)
        first = json.loads(handle.readline())
    return list(first) if isinstance(first, dict) else None
