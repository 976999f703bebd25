"""How `generate` prints: streamed text, JSON / JSONL records, a table, the settings table and --stats.

Records keep full precision in the task layer; rounding for display happens here.
"""

from __future__ import annotations

import json
import math
import sys

from autocli import render
from autocli.results import ErrorRecord
from autocli.tasks.gen_settings import GenerationSettings
from autocli.tasks.generate import Generation

SECONDS = 4  # decimals of a duration in seconds
RATE = 2  # decimals of a tokens-per-second rate
LOGPROB = 4  # decimals of a log-probability in the table


def _finite(x: float | None, digits: int | None = None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


def timings(stats) -> dict:
    """The batch's timings as a record shows them (encoder-decoders: the encoder's run first)."""
    out = {"prefill_s": _finite(stats.prefill_s, SECONDS), "time_to_first_token_s": _finite(stats.ttft_s, SECONDS),
           "decode_s": _finite(stats.decode_s, SECONDS),
           "decode_tokens_per_s": _finite(stats.decode_tokens_per_s, RATE) if stats.decode_s > 0 else None}
    if stats.encoder_decoder:
        rate = _finite(stats.prefill_tokens_per_s, RATE) if stats.prefill_s > 0 else None
        out = {"encode_s": out.pop("prefill_s"), "encoder_tokens_per_s": rate, **out}
    return out


def _logprobs(items) -> list[dict]:
    return [{"id": t.id, "token": t.token, "logprob": _finite(t.logprob),
             "top": [{"id": a.id, "token": a.token, "logprob": _finite(a.logprob)} for a in t.top]} for t in items]


def _sequence(seq, with_score: bool) -> dict:
    out = {"text": seq.text, "token_ids": seq.token_ids, "finish_reason": seq.finish_reason}
    if with_score:
        out["score"] = _finite(seq.score)
    if seq.logprobs is not None:
        out["logprobs"] = _logprobs(seq.logprobs)
    return out


def record(rec) -> dict:
    """A Generation (or an error record) as plain JSON data."""
    if isinstance(rec, ErrorRecord):
        return render.to_data(rec)
    best = _sequence(rec.best, False)
    out = {"index": rec.index, **{k: best[k] for k in ("text", "token_ids", "finish_reason")},
           "prompt_tokens": rec.prompt_tokens, "timings": timings(rec.stats)}
    if "logprobs" in best:
        out["logprobs"] = best["logprobs"]
    if rec.stats.encoder_decoder:  # the search's score and the other returned sequences
        out["score"] = _finite(rec.best.score)
        out["alternatives"] = [_sequence(a, True) for a in rec.alternatives]
    return out


render.RECORDS[Generation] = record


def _dumps(data, indent: int | None = None) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False)


def jsonl_record(rec) -> None:
    render.write_line(_dumps(record(rec)))


def json_document(records: list) -> None:
    render.write_line(_dumps([record(r) for r in records], 2))


@render.table(Generation)
def generation_tables(records) -> list:
    """One row per prompt; with --logprobs, then each prompt's tokens with their log-probabilities."""
    from rich.markup import escape

    tbl = render.simple_table("#", "text", "finish", "new tokens", "decode tok/s")
    details = []
    for rec in records:
        if isinstance(rec, ErrorRecord):
            render.error_rows(tbl, rec, 5)
            continue
        rate = timings(rec.stats)["decode_tokens_per_s"]
        tbl.add_row(str(rec.index), escape(rec.text), rec.finish_reason, str(len(rec.token_ids)), "" if rate is None else f"{rate:.1f}")
        if rec.best.logprobs is not None:
            details.append(_logprob_table(rec))
    return [tbl] + details


def _logprob_table(rec):
    from rich.markup import escape

    tbl = render.simple_table("step", "token", "logprob", "top alternatives", title=f"input {rec.index}: log-probabilities")
    for n, t in enumerate(rec.best.logprobs):
        top = "  ".join(f"{escape(repr(a.token)[1:-1])} {a.logprob:.{LOGPROB}f}" for a in t.top)
        tbl.add_row(str(n), escape(repr(t.token)[1:-1]), f"{t.logprob:.{LOGPROB}f}", top)
    return tbl


@render.table(GenerationSettings)
def generation_settings_table(s):
    from rich.markup import escape

    tbl = render.simple_table("setting", "value", "source", title="generation settings")
    for item in s.settings:
        tbl.add_row(item.name, escape(json.dumps(item.value, ensure_ascii=False)), item.source)
    return tbl


def write_stream(text: str) -> None:
    """Generated text as it arrives: written and flushed at once."""
    sys.stdout.write(text)
    sys.stdout.flush()


def generation_stats(stats) -> None:
    """--stats: one line per batch of prompts, on stderr."""
    mem = stats.peak_memory_bytes
    parts = [
        f"prompts {stats.prompts}",
        f"prompt tokens {stats.prompt_tokens}",
        f"prefill {stats.prefill_tokens_per_s:.1f} tok/s",
        f"time to first token {stats.ttft_s * 1000:.1f} ms",
        f"decode {stats.decode_tokens_per_s:.1f} tok/s ({stats.new_tokens} tokens)",
        f"peak memory {mem / 2**20:.0f} MiB" if mem is not None else "peak memory n/a",
    ]
    print("stats: " + " · ".join(parts), file=sys.stderr, flush=True)


class OrderedStream:
    """Streams each prompt's text in input order: the current prompt live, later ones buffered until
    their turn (a batch produces several at once)."""

    def __init__(self, indices: list[int], write=write_stream):
        self.order = list(indices)
        self.pos = 0
        self.write = write
        self.pending: dict[int, list[str]] = {i: [] for i in self.order}
        self.done: dict[int, bool] = {}

    def text(self, index: int, delta: str) -> None:
        if self.pos < len(self.order) and index == self.order[self.pos]:
            self.write(delta)
        else:
            self.pending[index].append(delta)

    def finished(self, rec) -> None:
        """A record is complete: print what is now due, each finished prompt ending in a newline."""
        if isinstance(rec, ErrorRecord):
            render.stream_error(rec)
        self.done[rec.index] = not isinstance(rec, ErrorRecord)
        while self.pos < len(self.order):
            current = self.order[self.pos]
            if self.pending[current]:
                self.write("".join(self.pending[current]))
                self.pending[current] = []
            if current not in self.done:
                return
            if self.done[current]:
                self.write("\n")
            self.pos += 1
