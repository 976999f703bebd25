"""Whisper transcriptions: the table, and subtitles (SRT, WebVTT) from their timed segments."""

from __future__ import annotations

import sys

from autocli import results
from autocli.render import Tally, error_rows, simple_table, stream_error, table
from autocli.results import ErrorRecord


@table(results.WhisperTranscription)
def whisper_table(records):
    from rich.markup import escape

    tbl = simple_table("#", "file", "seconds", "language", "text")
    for rec in records:
        if isinstance(rec, ErrorRecord):
            error_rows(tbl, rec, 5)
            continue
        path = rec._text if len(rec._text) <= 40 else "…" + rec._text[-39:]  # a path's end says the most
        text = rec.text if not rec.segments else "\n".join(f"[{s.start:.2f} → {s.end:.2f}] {s.text.strip()}" for s in rec.segments)
        tbl.add_row(str(rec.index), escape(path), f"{rec.seconds:.2f}", rec.language or "", escape(text))
    return tbl


def timestamp(seconds: float, sep: str) -> str:
    """seconds -> HH:MM:SS<sep>mmm (SRT: ",", WebVTT: ".")."""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def subtitles(rec: results.WhisperTranscription, kind: str) -> str:
    """One file's segments as an SRT or WebVTT document (blank cues left out)."""
    sep = "," if kind == "srt" else "."
    cues = [s for s in rec.segments or [] if s.text.strip()]
    blocks = [] if kind == "srt" else ["WEBVTT"]
    for n, s in enumerate(cues, start=1):
        times = f"{timestamp(s.start, sep)} --> {timestamp(s.end, sep)}"
        blocks.append(f"{n}\n{times}\n{s.text.strip()}" if kind == "srt" else f"{times}\n{s.text.strip()}")
    return "\n\n".join(blocks) + "\n"


def emit_subtitles(records, kind: str) -> Tally:
    """Each file's subtitles on stdout as it is done, one document after another; failures on stderr."""
    tally = Tally()
    for rec in records:
        tally.total += 1
        if isinstance(rec, ErrorRecord):
            tally.failed += 1
            stream_error(rec)
            continue
        sys.stdout.write(subtitles(rec, kind) + ("\n" if tally.total > 1 else ""))
        sys.stdout.flush()
    return tally
