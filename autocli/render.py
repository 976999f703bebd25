"""The only place that prints results: a rich table on a terminal, JSON or JSONL in a pipe.

Tasks return dataclasses; commands hand them to emit(). Batch commands hand a Batch whose
records are result dataclasses or ErrorRecords, one per input, in input order.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from autocli.errors import AutocliError


@dataclass
class ErrorRecord:
    index: int
    error: dict


@dataclass
class Batch:
    kind: str  # key into TABLES
    records: list = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(isinstance(r, ErrorRecord) for r in self.records)


def error_record(index: int, err: AutocliError) -> ErrorRecord:
    return ErrorRecord(index, err.as_record())


def to_data(obj: Any) -> Any:
    """Dataclasses to plain JSON data (keeps field order)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj) if not f.name.startswith("_")}
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def _dumps(data: Any, indent: int | None) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True, highlight=False)


def write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# Table builders, by result type name (or Batch.kind): each returns a rich renderable or a list of them.
TABLES: dict[str, Callable[[Any], Any]] = {}


def table(name: str):
    def register(fn):
        TABLES[name] = fn
        return fn

    return register


def emit(result: Any, fmt: str) -> None:
    """Print one command's result in the chosen format."""
    fmt = getattr(fmt, "value", fmt)
    if fmt == "json":
        data = to_data(result.records if isinstance(result, Batch) else result)
        write_line(_dumps(data, 2))
    elif fmt == "jsonl":
        if isinstance(result, Batch):
            for rec in result.records:
                write_line(_dumps(to_data(rec), None))
        else:
            write_line(_dumps(to_data(result), None))
    else:
        name = result.kind if isinstance(result, Batch) else type(result).__name__
        builder = TABLES.get(name)
        con = console()
        if builder is None:
            con.print_json(_dumps(to_data(result), None))
            return
        out = builder(result)
        for part in out if isinstance(out, list) else [out]:
            con.print(part)


def simple_table(*columns: str, title: str | None = None, **kw):
    from rich import box
    from rich.table import Table

    tbl = Table(title=title, box=box.SIMPLE_HEAD if sys.stdout.isatty() else box.ASCII2, title_justify="left", **kw)
    for col in columns:
        tbl.add_column(col)
    return tbl


def error_rows(tbl, rec: ErrorRecord, width: int) -> None:
    """An error record as a table row: index, then the message across the rest."""
    cells = [str(rec.index), f"[red]error:[/] {rec.error['message']}"] + [""] * (width - 2)
    tbl.add_row(*cells[:width])


def finish(batch: Batch, what: str = "inputs") -> None:
    """Exit code 7 after rendering when some inputs of a batch failed."""
    from autocli.errors import BatchIncomplete

    if batch.failed:
        raise BatchIncomplete(f"{batch.failed} of {len(batch.records)} {what} failed", "each failure is in its own output record")
