"""Evaluation data: JSONL, CSV/TSV with a header, CoNLL columns, or a plain text file.

Every row becomes exactly one Item (autocli.inputs) in file order; a row that cannot be used (bad JSON,
a CSV row with the wrong number of cells, a missing field) is an Item with an error, so the evaluation
counts and reports it instead of skipping it. The format comes from the file name: .jsonl/.json, .csv,
.tsv, .conll/.iob/.bio, .parquet (with pyarrow installed); anything else is plain text.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Iterator

from autocli.errors import UsageError
from autocli.inputs import Item, _lines, _parse_line

JSONL, CSV, TSV, CONLL, PARQUET, TEXT = "jsonl", "csv", "tsv", "conll", "parquet", "text"
SUFFIXES = {".jsonl": JSONL, ".json": JSONL, ".ndjson": JSONL, ".csv": CSV, ".tsv": TSV,
            ".conll": CONLL, ".iob": CONLL, ".bio": CONLL, ".parquet": PARQUET, ".pq": PARQUET}
# Parquet rows are read this many at a time.
PARQUET_BATCH = 1024
# A CoNLL line starting with this is a document separator, not a token.
DOCSTART = "-DOCSTART-"


def data_format(path: Path) -> str:
    return SUFFIXES.get(path.suffix.lower(), TEXT)


def _open(path: Path):
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}", "check the DATA path") from None


def read_rows(path: Path, limit: int | None = None) -> Iterator[Item]:
    """The rows of a JSONL, CSV/TSV or CoNLL file as Items (at most `limit`)."""
    fmt = data_format(path)
    if fmt == TEXT:
        raise UsageError(f"{path} is not a JSONL, CSV, TSV, CoNLL or Parquet file", "name it .jsonl, .csv, .tsv, .conll or .parquet")
    reader = {JSONL: _jsonl, CSV: _delimited, TSV: _delimited, CONLL: _conll, PARQUET: _parquet}[fmt]
    rows = reader(path, "\t" if fmt == TSV else ",")
    return itertools.islice(rows, limit) if limit is not None else rows


def _jsonl(path: Path, _sep: str) -> Iterator[Item]:
    with _open(path) as f:
        for i, raw in enumerate(_lines(f)):
            yield _parse_line(i, raw, True, "text", False)


def _delimited(path: Path, sep: str) -> Iterator[Item]:
    """A header row names the fields; a row with another number of cells is an error Item."""
    with _open(path) as f:
        lines = (raw.decode("utf-8", "replace") for raw in _lines(f))
        rows = csv.reader(lines, delimiter=sep)
        header = next(rows, None)
        if not header:
            raise UsageError(f"{path} is empty: a CSV/TSV file needs a header row", "the first row names the fields, e.g. text,label")
        header = [h.strip().lstrip("\ufeff") for h in header]
        for i, cells in enumerate(rows):
            if len(cells) != len(header):
                yield Item(i, {}, UsageError(f"{len(cells)} cells in a row under a {len(header)}-column header"))
                continue
            yield Item(i, {name: value for name, value in zip(header, cells) if value != "" or name != "text_pair"})


def _parquet(path: Path, _sep: str) -> Iterator[Item]:
    """One Item per row, its columns as fields (pyarrow: `autocli[parquet]`), read a batch at a time."""
    from autocli.extras import need

    pq = need("pyarrow.parquet", "parquet")
    try:
        batches = pq.ParquetFile(str(path)).iter_batches(batch_size=PARQUET_BATCH)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e}", "check the DATA path") from None
    except Exception as e:  # pyarrow's errors for a file that is not Parquet
        raise UsageError(f"{path} is not a readable Parquet file ({type(e).__name__})", "check the file") from None
    i = 0
    for batch in batches:
        for row in batch.to_pylist():
            yield Item(i, {k: v for k, v in row.items() if v is not None})
            i += 1


def _conll(path: Path, _sep: str) -> Iterator[Item]:
    """Sentences separated by blank lines; the first column is the word, the last its tag."""
    tokens: list[str] = []
    tags: list[str] = []
    bad: str | None = None
    index = 0
    with _open(path) as f:
        for raw in itertools.chain(_lines(f), [b""]):
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith(DOCSTART):
                continue
            if line:
                cols = line.split()
                if len(cols) < 2:
                    bad = bad or f"the line {line[:40]!r} has no tag column"
                tokens.append(cols[0])
                tags.append(cols[-1])
                continue
            if tokens or bad:
                yield Item(index, {"tokens": tokens, "tags": tags}, UsageError(bad) if bad else None)
                index += 1
            tokens, tags, bad = [], [], None


def read_text(path: Path, limit: int | None = None) -> tuple[str, int, list[Item]]:
    """The text of a language-modelling file -> (the stream, rows read, the rows that could not be used).

    A plain text file is one stream, exactly as written (--limit N keeps its first N lines). A JSONL file's
    "text" fields are joined with a blank line between them ("\\n\\n", as transformers' perplexity example joins
    its dataset's rows)."""
    if data_format(path) != JSONL:
        with _open(path) as f:
            data = f.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"{path} is not UTF-8 (byte {e.start})", "convert the file to UTF-8") from None
        if limit is not None:
            text = "".join(text.splitlines(keepends=True)[:limit])
        return text.removeprefix("\ufeff"), 1, []
    texts, bad = [], []
    for item in read_rows(path, limit):
        value = None if item.error else item.fields.get("text")
        if item.error is None and not isinstance(value, str):
            item.error = UsageError("field 'text' is " + ("missing" if value is None else f"a {type(value).__name__}"),
                                    'each JSONL object needs "text": "..."')
        if item.error is not None:
            bad.append(item)
        else:
            texts.append(value)
    return "\n\n".join(texts), len(texts) + len(bad), bad
