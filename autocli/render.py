"""The only place that prints results: a rich table on a terminal, JSON or JSONL in a pipe.

Tasks yield result dataclasses (autocli/results.py); commands hand them to emit() (one result) or
emit_records() (one record per input, streamed). Table builders are keyed by result type.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from autocli import results
from autocli.results import ErrorRecord, error_record  # noqa: F401  (re-exported for the commands)


def to_data(obj: Any) -> Any:
    """Dataclasses to plain JSON data (keeps field order). JSON has no NaN or infinity: a number that is
    not finite becomes null."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_data(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.name.startswith("_") and not (f.metadata.get("optional") and getattr(obj, f.name) is None)
        }
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _dumps(data: Any, indent: int | None) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)


# A table written to a file or pipe is not cut to rich's default 80 columns (long tensor names would wrap).
PIPE_WIDTH = 200


def console(stderr: bool = False):
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 here; the reader leaving is cli.run()'s to answer (exit 0, nothing said).
            self.quiet = True
            raise BrokenPipeError

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return PipeConsole(stderr=stderr, soft_wrap=True, highlight=False, width=width)


def write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# Table builders, keyed by result type: each takes the result (for per-input records: the list of them)
# and returns a rich renderable or a list of them.
TABLES: dict[type, Callable[[Any], Any]] = {}


def table(kind: type):
    def register(fn):
        TABLES[kind] = fn
        return fn

    return register


# Record -> its JSON data, for the result types whose machine form is not to_data's (registered by their renderer).
RECORDS: dict[type, Callable[[Any], Any]] = {}


def record_data(rec, of: type) -> dict:
    """One record as the data of its JSONL line."""
    return RECORDS.get(of, to_data)(rec)


def _print_tables(out) -> None:
    con = console()
    for part in out if isinstance(out, list) else [out]:
        con.print(part)


def emit(result: Any, fmt: str) -> None:
    """Print one command's result in the chosen format."""
    fmt = getattr(fmt, "value", fmt)
    if fmt == "json":
        write_line(_dumps(to_data(result), 2))
    elif fmt == "jsonl":
        write_line(_dumps(to_data(result), None))
    else:
        builder = TABLES.get(type(result))
        if builder is None:
            console().print_json(_dumps(to_data(result), None))
            return
        _print_tables(builder(result))


@dataclass
class Tally:
    """What emit_records saw: the inputs and how many of them failed."""

    total: int = 0
    failed: int = 0


def emit_records(records: Iterable, fmt: str, of: type, line: Callable | None = None) -> Tally:
    """Print the records of a batch command (one per input, in input order) as they come.

    jsonl and json stream; a table waits for every record (its columns fit them all). `line`: plain
    output instead of a table, one stdout line per input (a failed input leaves its line empty).
    Each failed input's reason also goes to stderr, so it is seen when stdout is a file.
    """
    fmt = getattr(fmt, "value", fmt)
    tally, kept = Tally(), []
    for n, rec in enumerate(records):
        tally.total += 1
        if isinstance(rec, ErrorRecord):
            tally.failed += 1
            stream_error(rec)
        if line is not None and fmt == "table":
            write_line("" if isinstance(rec, ErrorRecord) else line(rec))
        elif fmt == "jsonl":
            write_line(_dumps(to_data(rec), None))
        elif fmt == "json":  # the layout of json.dumps(list, indent=2), one element at a time
            body = "\n".join("  " + ln for ln in _dumps(to_data(rec), 2).splitlines())
            sys.stdout.write(("[\n" if n == 0 else ",\n") + body)
            sys.stdout.flush()
        else:
            kept.append(rec)
    if fmt == "json":
        write_line("\n]" if tally.total else "[]")
    elif fmt == "table" and line is None:
        _print_tables(TABLES[of](kept))
    return tally


def simple_table(*columns: str, title: str | None = None, **kw):
    from rich import box
    from rich.table import Table

    tbl = Table(title=title, box=box.SIMPLE_HEAD if sys.stdout.isatty() else box.ASCII2, title_justify="left", **kw)
    for col in columns:
        tbl.add_column(col)
    return tbl


def error_rows(tbl, rec: ErrorRecord, width: int) -> None:
    """An error record as a table row: index, then the message across the rest."""
    from rich.markup import escape

    cells = [str(rec.index), f"[red]error:[/] {escape(rec.error['message'])}"] + [""] * (width - 2)
    tbl.add_row(*cells[:width])


def finish(done: "Tally", what: str = "inputs") -> None:
    """Exit code 7 after rendering when some inputs of a batch failed."""
    from autocli.errors import BatchIncomplete

    if done.failed:
        raise BatchIncomplete(f"{done.failed} of {done.total} {what} failed", "each failure is in its own output record")


# ---- encoder task tables (classify, tag, qa, fill-mask, embed, choose) ------------------------------

ENTITY_COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")


def _short(text: str, width: int = 60) -> str:
    from rich.markup import escape

    text = " ".join(str(text).split())
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def _score(value) -> str:
    return "" if value is None else f"{value:.4f}"


def shape_of(value) -> str:
    """The shape of nested lists, as torch prints it: "(12, 9)"; ragged parts (qa's windows) one by one."""
    if not isinstance(value, list):
        return "()"
    if value and isinstance(value[0], list) and len({shape_of(v) for v in value}) > 1:
        return "[" + ", ".join(shape_of(v) for v in value) + "]"
    dims = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def _with_logits(records, getter) -> bool:
    """Whether the table gets a logits column: some record carries logits (--logits)."""
    return any(not isinstance(r, ErrorRecord) and getter(r) is not None for r in records)


@table(results.Classification)
def classify_table(records):
    logits = _with_logits(records, lambda r: r.logits)
    tbl = simple_table("#", "text", "label", "score", *(["logits"] if logits else []))
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 4 + logits)
            continue
        text = rec._text + (f" ‖ {rec._pair}" if rec._pair is not None else "")
        for n, ls in enumerate(rec.scores):
            shape = [shape_of(rec.logits) if n == 0 else ""] if logits else []
            tbl.add_row(str(rec.index) if n == 0 else "", _short(text) if n == 0 else "", _short(ls.label), _score(ls.score), *shape)
    return tbl


def _inline_entities(text: str, entities):
    """The text with each entity coloured by label and the label written after it."""
    from rich.text import Text

    colors: dict[str, str] = {}
    out, pos = Text(), 0
    for e in sorted(entities, key=lambda e: (e.start, -e.end)):
        if e.start < pos:
            continue  # overlapping (aggregation none on split words): the first one is shown
        color = colors.setdefault(e.label, ENTITY_COLORS[len(colors) % len(ENTITY_COLORS)])
        out.append(text[pos : e.start])
        out.append(text[e.start : e.end], style=f"bold {color}")
        out.append(f"[{e.label}]", style=f"dim {color}")
        pos = e.end
    out.append(text[pos:])
    return out


@table(results.Tagged)
def tag_table(records):
    from rich.markup import escape

    logits = _with_logits(records, lambda r: r.logits)
    tbl = simple_table("#", "entity", "label", "score", "start", "end", *(["logits"] if logits else []))
    inline = []
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 6 + logits)
            continue
        shape = [shape_of(rec.logits)] if logits else []
        for n, e in enumerate(rec.entities):
            tbl.add_row(str(rec.index), _short(e.text, 40), escape(e.label), _score(e.score), str(e.start), str(e.end),
                        *(shape if n == 0 else [""] * logits))
        if logits and not rec.entities:  # the shape still shows for a text without entities
            tbl.add_row(str(rec.index), "[dim](no entities)[/]", "", "", "", "", *shape)
        if sys.stdout.isatty():
            inline.append(_inline_entities(rec._text, rec.entities))
    return inline + [tbl]


@table(results.Answered)
def qa_table(records):
    logits = _with_logits(records, lambda r: r.logits)
    tbl = simple_table("#", "question", "answer", "score", "start", "end", *(["logits"] if logits else []))
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 6 + logits)
            continue
        for n, a in enumerate(rec.answers or []):
            answer = _short(a.answer, 50) if a.answer else "[dim](no answer)[/]"
            shape = [shape_of(rec.logits) if n == 0 else ""] if logits else []
            tbl.add_row(str(rec.index) if n == 0 else "", _short(rec._question, 40) if n == 0 else "", answer, _score(a.score), str(a.start), str(a.end), *shape)
    return tbl


@table(results.Filled)
def fill_mask_table(records):
    from rich.markup import escape

    logits = _with_logits(records, lambda r: next((m.logits for m in r.masks if m.logits is not None), None))
    tbl = simple_table("#", "mask", "token", "score", "sequence", *(["logits"] if logits else []))
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 5 + logits)
            continue
        for m, mask in enumerate(rec.masks):
            for n, c in enumerate(mask.candidates):
                first = m == 0 and n == 0
                shape = [shape_of(mask.logits) if n == 0 else ""] if logits else []
                tbl.add_row(str(rec.index) if first else "", str(m) if n == 0 else "", escape(repr(c.token)[1:-1]), _score(c.score), _short(c.sequence, 70), *shape)
    return tbl


@table(results.Embedding)
def embed_table(records):
    import math

    from rich.markup import escape

    tbl = simple_table("#", "text", "dim", "norm", "vector")
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 5)
            continue
        vec = rec.embedding
        head = ", ".join(f"{v:.4f}" for v in vec[:4]) + (", …" if len(vec) > 4 else "")
        tbl.add_row(str(rec.index), _short(rec._text, 40), str(len(vec)), f"{math.sqrt(sum(v * v for v in vec)):.4f}", escape(f"[{head}]"))
    return tbl


@table(results.Match)
def similar_table(records):
    tbl = simple_table("rank", "#", "input", "score")
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 4)
            continue
        tbl.add_row(str(rec.rank), str(rec.index), _short(rec.input), _score(rec.score))
    return tbl


@table(results.WhisperTranscription)
@table(results.Transcription)
def transcribe_table(records):
    """CTC and Whisper transcriptions; Whisper's add the language, and its timed segments when it has them."""
    from rich.markup import escape

    languages = any(hasattr(r, "language") for r in records)
    tbl = simple_table("#", "file", "seconds", *(["language"] if languages else []), "text")
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 5 if languages else 4)
            continue
        path = rec._text if len(rec._text) <= 40 else "…" + rec._text[-39:]  # a path's end says the most
        segments = getattr(rec, "segments", None)
        text = "\n".join(f"[{s.start:.2f} → {s.end:.2f}] {s.text.strip()}" for s in segments) if segments else rec.text
        language = [getattr(rec, "language", None) or ""] if languages else []
        tbl.add_row(str(rec.index), escape(path), f"{rec.seconds:.2f}", *language, escape(text))
    return tbl


@table(results.Chosen)
def choose_table(records):
    logits = _with_logits(records, lambda r: next((c.logits for c in r.scores if c.logits is not None), None))
    tbl = simple_table("#", "question", "choice", "score", *(["logits"] if logits else []), "")
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 5 + logits)
            continue
        for n, c in enumerate(rec.scores):
            best = "[bold green]◀ best[/]" if c.choice == rec.choice else ""
            shape = [shape_of(c.logits)] if logits else []
            tbl.add_row(str(rec.index) if n == 0 else "", _short(rec._question, 40) if n == 0 else "", _short(c.text, 50), _score(c.score), *shape, best)
    return tbl


def note(message: str) -> None:
    """A line for the person at the terminal (-v): stderr, never mixed into the data."""
    print(message, file=sys.stderr, flush=True)


def stream_error(rec: ErrorRecord) -> None:
    """A failed input: its reason on stderr as it happens; the other inputs go on."""
    print(f"error: input {rec.index}: {rec.error['message']}", file=sys.stderr, flush=True)


# ---- tokenize ------------------------------------------------------------------------------------------


def _visible(s: str) -> str:
    """A token or a piece of text with its whitespace and control characters shown escaped."""
    from rich.markup import escape

    return escape(repr(s)[1:-1])


@table(results.Tokenized)
def tokenize_tables(records) -> list:
    """One table per input: index, id, token, character span and the text that span covers."""
    from rich.markup import escape

    out = []
    for rec in records:
        if isinstance(rec, ErrorRecord):
            tbl = simple_table("#", "error")
            tbl.add_row(str(rec.index), f"[red]error:[/] {escape(rec.error['message'])}")
            out.append(tbl)
            continue
        pair = getattr(rec, "pair", None)
        title = f"input {rec.index}: {_short(rec.text)}" + (f" ‖ {_short(pair)}" if pair is not None else "")
        title += f"  ({len(rec.ids)} tokens{', truncated' if rec.truncated else ''})"
        tbl = simple_table("#", "id", "token", "span", "text", title=title)
        seqs = rec._sequence_ids or [0] * len(rec.ids)
        for i, (tid, tok, (s, e), seq) in enumerate(zip(rec.ids, rec.tokens, rec.offsets, seqs)):
            source = rec.text if seq == 0 else pair if seq == 1 else None  # None: a special token added around the text
            tbl.add_row(str(i), str(tid), _visible(tok), "" if source is None else f"{s}:{e}", "" if source is None else _visible(source[s:e]))
        out.append(tbl)
    return out


def token_ids_line(rec) -> str:
    return " ".join(map(str, rec.ids))


def token_count_line(rec) -> str:
    return str(len(rec.ids))


def decoded_line(rec) -> str:
    return rec.text


# The report commands' tables (inspect, compat, download, env), registered by result type.
from autocli import render_reports  # noqa: E402,F401
from autocli import render_diff  # noqa: E402,F401
from autocli import render_eval  # noqa: E402,F401



def _word_span_table(records, lead: str, spans, first: Callable, empty: str):
    """Documents' word spans (entities or answers): one row each, the record's columns on its first row."""
    tbl = simple_table("#", "document", lead, "span", "label", "score", "word #", "first box")
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 8)
            continue
        for n, e in enumerate(spans(rec)):
            head = [str(rec.index), _short(rec.document, 30), _short(first(rec), 30)] if n == 0 else ["", "", ""]
            tbl.add_row(*head, _short(e.text, 40), e.label, _score(e.score), f"{e.first}-{e.last}", ",".join(map(str, e.boxes[0])))
        if not spans(rec):
            tbl.add_row(str(rec.index), _short(rec.document, 30), _short(first(rec), 30), f"[dim]{empty}[/]", "", "", "", "")
    return tbl


@table(results.DocumentTagged)
def document_tag_table(records):
    return _word_span_table(records, "words", lambda r: r.entities, lambda r: f"{len(r.words)} words", "(no entities)")


@table(results.DocumentAnswered)
def document_qa_table(records):
    return _word_span_table(records, "question", lambda r: r.answers, lambda r: r.question, "(no answer)")
