"""Whisper transcriptions as subtitles (SRT, WebVTT) from their timed segments (the table: render.transcribe_table)."""

from __future__ import annotations

import sys

from autocli import results
from autocli.render import Tally, stream_error
from autocli.results import ErrorRecord


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
        sys.stdout.write(("\n" if tally.total > 1 else "") + subtitles(rec, kind))
        sys.stdout.flush()
    return tally
