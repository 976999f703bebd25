"""The input of an --output job, split into deterministic shards: files in sorted order, each cut into row ranges.

Files are plain lines or JSONL (read as `--input` reads them, --jsonl choosing), CSV (a header row) or Parquet
(pyarrow: `autocli[parquet]`), told apart by their suffix; local, or objects in a store (s3://, gs://:
autocli.engine.files), which every worker reads itself. A shard is named by its file and row range, so the same
input and --shard-rows always give the same shards: what a resumed job compares with the manifests. Rows are
numbered across the whole input (the records' index); a file that cannot be read is a shard of one error record.
"""

from __future__ import annotations

import csv
import glob
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from autocli.engine import files as store
from autocli.errors import UsageError
from autocli.inputs import Inputs, Item, _lines, _parse_line

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}  # others: lines
TABULAR = ("csv", "parquet")


@dataclass(frozen=True)
class Shard:
    number: int  # its place in the job: part-NNNNN
    file: str
    kind: str  # lines | csv | parquet | unreadable
    start: int  # first row of the file in the shard
    stop: int  # one past its last row
    first: int  # the job-wide number of row `start`: the records' index
    offset: int = 0  # lines: the byte offset of row `start`
    error: str = ""  # unreadable: why
    size: int = 0  # the file's bytes: a file changed in place no longer matches its manifests

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def describe(self) -> dict:
        """What a manifest records of the shard (and a resumed job compares)."""
        return {"file": self.file, "bytes": self.size, "start": self.start, "stop": self.stop, "first": self.first}


@dataclass(frozen=True)
class Columns:
    """Which column holds the text, the pair's second text, the image or audio file and the row's id (None: as
    the input names them)."""

    text: str | None = None
    pair: str | None = None
    id: str | None = None
    image: str | None = None
    audio: str | None = None

    def named(self) -> list[str]:
        return [c for c in (self.text, self.pair, self.id, self.image, self.audio) if c is not None]


def input_files(pattern: str | None) -> list[str]:
    """--input: a file, a folder (its files) or a glob pattern -> files in sorted order."""
    if pattern is None or pattern == "-":
        raise UsageError("--output reads its inputs from --input FILE, a folder or a glob, not stdin or arguments",
                         "e.g. --input 'data/*.parquet' --output out/")
    if store.is_remote(pattern):
        files = store.list_objects(pattern)
        if not files:
            raise UsageError(f"--input {pattern} matches no object", "check the prefix or the pattern (quote it for the shell)")
        return files
    path = Path(pattern)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    elif glob.has_magic(pattern):
        files = sorted(p for p in glob.glob(pattern) if Path(p).is_file())
    else:
        files = [pattern]
    if not files:
        raise UsageError(f"--input {pattern} matches no file", "check the path or the pattern (quote it for the shell)")
    return files


def kind_of(file: str) -> str:
    return SUFFIXES.get(Path(file).suffix.lower(), "lines")


def plan(files: list[str], shard_rows: int, columns: Columns, jsonl: bool) -> list[Shard]:
    """Every file's rows cut into shards of at most shard_rows, numbered in order."""
    shards: list[Shard] = []
    first = 0
    for file in files:
        kind = kind_of(file)
        if kind == "lines" and not jsonl and columns.named():
            raise UsageError(f"{file} is read as plain lines, which have no columns", "add --jsonl for JSON objects, or drop the column options")
        try:
            cuts = _cuts(file, kind, shard_rows, columns)
        except OSError as e:
            if store.is_remote(file):
                raise store.failure(e, file) from None
            if not Path(file).exists():
                raise UsageError(f"cannot read --input {file}: {e.strerror}", "check the path") from None
            shards.append(Shard(len(shards), file, "unreadable", 0, 1, first, error=e.strerror or str(e)))
            first += 1
            continue
        except _Unreadable as e:
            shards.append(Shard(len(shards), file, "unreadable", 0, 1, first, error=str(e)))
            first += 1
            continue
        size = store.size(file)
        for start, stop, offset in cuts:
            shards.append(Shard(len(shards), file, kind, start, stop, first + start, offset, size=size))
        first += cuts[-1][1] if cuts else 0
    return shards


class _Unreadable(Exception):
    """A file that exists but cannot be read as its kind: one error record."""


def _cuts(file: str, kind: str, shard_rows: int, columns: Columns) -> list[tuple[int, int, int]]:
    """(start, stop, byte offset) of each shard of one file."""
    if kind == "lines":
        return _line_cuts(file, shard_rows)
    names, rows = _parquet_shape(file) if kind == "parquet" else _csv_shape(file)
    missing = [c for c in columns.named() if c not in names]
    if missing:
        raise UsageError(f"{file} has no column {missing[0]!r}", f"its columns: {', '.join(names) or 'none'}")
    return [(a, min(a + shard_rows, rows), 0) for a in range(0, rows, shard_rows)]


def _line_cuts(file: str, shard_rows: int) -> list[tuple[int, int, int]]:
    cuts, row, pos, start, offset = [], 0, 0, 0, 0
    with store.open_input(file) as handle:
        for line in handle:
            if row - start == shard_rows:
                cuts.append((start, row, offset))
                start, offset = row, pos
            row += 1
            pos += len(line)
    if row > start:
        cuts.append((start, row, offset))
    return cuts


def _parquet_shape(file: str) -> tuple[list[str], int]:
    from autocli.extras import need

    pq = need("pyarrow.parquet", "parquet")
    path, filesystem = store.arrow_source(file)
    try:
        meta = pq.ParquetFile(path, filesystem=filesystem).metadata
    except OSError:
        raise
    except Exception as e:  # pyarrow's errors for a file that is not Parquet
        raise _Unreadable(f"not a readable Parquet file ({e})") from None
    return list(meta.schema.names), meta.num_rows


def _csv_shape(file: str) -> tuple[list[str], int]:
    try:
        with _text(file) as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            return header, sum(1 for row in reader if row)  # blank lines are no rows (csv.DictReader skips them)
    except (UnicodeDecodeError, csv.Error) as e:
        raise _Unreadable(f"not a readable UTF-8 CSV file ({e})") from None


@dataclass
class Feed:
    """One shard's rows as the command's inputs (Shared.read gives them instead of reading its own), and the
    id of each row by its index."""

    shard: Shard
    columns: Columns
    ids: dict = field(default_factory=dict)
    read: bool = False  # whether the command asked for its inputs

    def inputs(self, jsonl: bool, primary: str = "text", allow_empty: bool = False) -> Inputs:
        self.read = True
        items = []
        for item in self._items(jsonl, primary, allow_empty):
            self.ids[item.index] = self._map(item, primary)
            items.append(item)
        return Inputs(items)

    def _items(self, jsonl: bool, primary: str, allow_empty: bool) -> Iterator[Item]:
        try:
            yield from self._rows(jsonl, primary, allow_empty)
        except OSError as e:  # a store that stops answering mid-shard stops the job (its shard is not written)
            if not store.is_remote(self.shard.file):
                raise
            raise store.failure(e, self.shard.file) from None

    def _rows(self, jsonl: bool, primary: str, allow_empty: bool) -> Iterator[Item]:
        s = self.shard
        if s.kind == "unreadable":
            yield Item(s.first, {}, UsageError(f"cannot read {s.file}: {s.error}", "check the file"))
        elif s.kind == "lines":
            with store.open_input(s.file) as handle:
                handle.seek(s.offset)
                for i, raw in enumerate(itertools.islice(_lines(handle), s.rows)):
                    yield _parse_line(s.first + i, raw, jsonl, primary, allow_empty)
        else:
            rows = _parquet_rows(s) if s.kind == "parquet" else _csv_rows(s)
            for i, row in enumerate(rows):
                yield Item(s.first + i, row)

    def _map(self, item: Item, primary: str):
        """Put the named columns where the command reads them -> the row's id."""
        if item.error is not None and not item.fields:
            return item.index if self.columns.id is None else None
        fields, c = item.fields, self.columns
        for column, name in ((c.text, primary), (c.pair, "text_pair"), (c.image, "image"), (c.audio, "audio")):
            if column is not None and item.error is None:
                value = fields.get(column)
                if not isinstance(value, str):
                    got = "missing" if value is None else f"a {type(value).__name__}"
                    what = "a text" if name in (primary, "text_pair") else f"the path of an {name} file"
                    item.error = UsageError(f"column {column!r} is {got}", f"every row needs {what} in {column!r}")
                elif name in ("image", "audio"):
                    value = store.beside(self.shard.file, value)
                fields[name] = value
        if self.columns.id is None:
            return item.index
        value = fields.get(self.columns.id)
        if value is None and item.error is None:
            item.error = UsageError(f"column {self.columns.id!r} (the id) is missing", "give every row an id")
        return value if value is None or isinstance(value, (str, int)) else str(value)


def _text(file: str):
    return io.TextIOWrapper(store.open_input(file), encoding="utf-8", newline="")


def _csv_rows(s: Shard) -> list[dict]:
    with _text(s.file) as handle:
        return list(itertools.islice(csv.DictReader(handle), s.start, s.stop))


def _parquet_rows(s: Shard) -> list[dict]:
    """Only the row groups that hold the shard's rows are read."""
    from autocli.extras import need

    pq = need("pyarrow.parquet", "parquet")
    path, filesystem = store.arrow_source(s.file)
    pf = pq.ParquetFile(path, filesystem=filesystem)
    groups, at, skip = [], 0, None
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if at + n > s.start and at < s.stop:
            groups.append(g)
            skip = at if skip is None else skip
        at += n
    table = pf.read_row_groups(groups)
    return table.slice(s.start - skip, s.rows).to_pylist()
