"""Length-sorted batching with input order restored, padding, progress and warnings on stderr.

Rows are sorted longest first and cut into batches of --batch-size: each batch pads only to its
own longest row, so little compute goes to padding, and an out-of-memory shows on the first batch.
Outputs come back indexed by row, so callers see them in input order.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from autocli.errors import AutocliError, UsageError
from autocli.results import error_record
from autocli.tasks import check_max_length

# Progress bars appear only for runs of at least this many batches (and only on a terminal).
PROGRESS_MIN_BATCHES = 2
# A truncation warning names at most this many inputs.
WARN_MAX_INDICES = 10
# On CPU a batch holds at most this many padded tokens (--batch-size still caps the rows): past it the
# activations leave the caches and throughput drops. bert-base, 2 threads: 384-token windows run 17% slower
# in batches of 32 than of 4-16; 128-token rows are flat up to 16 and 5% slower at 32.
CPU_MAX_BATCH_TOKENS = 4096
# Inputs are read and run a window of batches at a time: length-sorting pays off within a window, and its
# records come out (in input order) as soon as it is done, with memory bounded by it. The first window is
# short, so that the first records come out soon; later ones are longer, as short sentences of 5-60 words in
# batches of 32 pad 9.6% over their real tokens in windows of 8 batches, 2.5% in windows of 32 and 0.2%
# sorted all at once (bench/RESULTS.md, onnxruntime section).
WINDOW_BATCHES = 8
LATER_WINDOW_BATCHES = 32


def input_windows(items: Iterable, batch_size: int) -> Iterator[list]:
    """Consecutive lists of WINDOW_BATCHES * batch_size items, then of LATER_WINDOW_BATCHES * batch_size
    (the last one shorter), read from `items` as needed."""
    it, size = iter(items), WINDOW_BATCHES
    while chunk := list(itertools.islice(it, size * max(1, batch_size))):
        yield chunk
        size = LATER_WINDOW_BATCHES


@dataclass
class Row:
    """One forward row: token ids and, for pairs, their segment ids."""

    ids: list[int]
    type_ids: list[int] | None = None


@dataclass
class RunState:
    """What the windows of one run share: the indices of truncated inputs, and the run's progress bar."""

    bar: "Progress"
    truncated: list[int] = field(default_factory=list)


def failed_inputs(items: list) -> tuple[list, list[int]]:
    """A window's start: (records, with each input that already failed as its error record and None
    elsewhere; the slots of the inputs still to run)."""
    records = [None if item.error is None else error_record(item.index, item.error) for item in items]
    return records, [slot for slot, item in enumerate(items) if item.error is None]


def encoded_rows(items: list, slots: list[int], encs: list, records: list, run: "RunState") -> tuple[list, list[int]]:
    """(forward rows, their slots): one row per encoding; an input whose encoding failed gets its error
    record instead, and a truncated one is noted for the run's warning."""
    rows, kept = [], []
    for slot, enc in zip(slots, encs):
        if isinstance(enc, Exception):
            records[slot] = error_record(items[slot].index, enc)
            continue
        if enc.truncated:
            run.truncated.append(items[slot].index)
        rows.append(Row(list(enc.ids), list(enc.type_ids)))
        kept.append(slot)
    return rows, kept


def stream_windows(items: Iterable, options, limit: int | None, run: Callable[[list, RunState], list], desc: str) -> Iterator:
    """Records of `items` in input order, computed a window at a time by run(window, state); one progress
    bar for the whole run (hidden while a window's records are written), one truncation warning at the end."""
    state = RunState(Progress(desc, enabled=not options.quiet))
    try:
        for window in input_windows(items, options.batch_size):
            records = run(window, state)
            state.bar.hide()
            yield from records
    finally:
        state.bar.close()
    warn_truncated(state.truncated, limit, options.quiet)


def plan(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Row indices in batches of at most batch_size rows and, when given, at most max_tokens padded tokens
    (never fewer than one row), longest rows first (stable among equal lengths)."""
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out, i = [], 0
    while i < len(order):
        size = batch_size if max_tokens is None else max(1, min(batch_size, max_tokens // max(1, lengths[order[i]])))
        out.append(order[i : i + size])  # the first row is the batch's longest: it sets the padded width
        i += size
    return out


def windows(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[a, b) slices of n tokens, each at most `size` long, consecutive ones sharing `overlap` tokens."""
    if n <= size:
        return [(0, n)]
    if overlap >= size:
        raise UsageError(f"the stride ({overlap}) must be smaller than the window ({size} text tokens)", "lower --stride")
    step = size - overlap
    out, a = [], 0
    while True:
        b = min(a + size, n)
        out.append((a, b))
        if b == n:
            return out
        a += step


def owned_parts(spans: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The part [lo, hi) of each window whose outputs are kept: an overlap is split in its middle, so
    every token is read from the window where it has the most context on both sides."""
    cuts = [(spans[k + 1][0] + spans[k][1]) // 2 for k in range(len(spans) - 1)]
    return list(zip([0] + cuts, cuts + [n]))


def pad(rows: Sequence[Row], pad_id: int | None, device=None, with_types: bool = False):
    """Rows -> (input_ids, attention_mask, token_type_ids or None), each (B, T) padded on the right."""
    import torch

    pad_id = 0 if pad_id is None else pad_id
    width = max(len(r.ids) for r in rows)
    ids = [r.ids + [pad_id] * (width - len(r.ids)) for r in rows]
    mask = [[1] * len(r.ids) + [0] * (width - len(r.ids)) for r in rows]
    input_ids = torch.tensor(ids, dtype=torch.long, device=device)  # (B, T)
    attention_mask = torch.tensor(mask, dtype=torch.long, device=device)  # (B, T)
    types = None
    if with_types:
        t = [(r.type_ids or [0] * len(r.ids)) + [0] * (width - len(r.ids)) for r in rows]
        types = torch.tensor(t, dtype=torch.long, device=device)  # (B, T)
    return input_ids, attention_mask, types


def forward(
    model,
    rows: Sequence[Row],
    *,
    batch_size: int,
    pad_id: int | None,
    per_token: bool = False,
    call: Callable | None = None,
    post: Callable | None = None,
    bar: "Progress | None" = None,
) -> list:
    """Run rows through the model in length-sorted batches; one output per row, in row order.

    call: how to invoke the model, (input_ids, attention_mask, token_type_ids) -> tensor; default model(...).
    post: (output, attention_mask, row indices) -> one result per row of the batch, computed where the
          output lives (pooling, top-k) so that big outputs never pile up; default: each row's output as
          float32 on the CPU, cut to the row's own length when per_token (the output is (B, T, ...)).
    bar: the run's progress bar, advanced by rows (None: no progress shown).
    """
    import torch

    call = call or model
    with_types = bool(getattr(model, "uses_token_type_ids", False))
    device = getattr(model, "device", None)
    on_cpu = device is None or getattr(device, "type", str(device)) == "cpu"
    batches = plan([len(r.ids) for r in rows], batch_size, CPU_MAX_BATCH_TOKENS if on_cpu else None)
    out: list = [None] * len(rows)
    bar = bar or Progress("", enabled=False)
    bar.grow(len(rows), len(batches))
    with torch.inference_mode():
        for batch in batches:
            chunk = [rows[i] for i in batch]
            input_ids, mask, types = pad(chunk, pad_id, device, with_types)
            logits = call(input_ids, mask, types)  # (B, ...) or (B, T, ...)
            if post is not None:
                results = post(logits, mask, batch)
            else:
                logits = logits.float().cpu()
                results = [logits[r, : len(rows[i].ids)] if per_token else logits[r] for r, i in enumerate(batch)]
            for i, res in zip(batch, results):
                out[i] = res
            bar.advance(len(batch))
    return out


class Progress:
    """One rich progress bar on stderr for a whole run, over forward rows. Its total grows as windows of
    inputs arrive; it shows once the run has planned PROGRESS_MIN_BATCHES batches, only on a terminal,
    and is hidden while records are written (stdout never lands inside the bar). Removed when done."""

    def __init__(self, desc: str, enabled: bool = True):
        self.enabled = enabled and _stderr_is_terminal()
        self.desc = desc
        self.batches = 0  # planned so far
        self.total = 0  # rows planned so far
        self.done = 0  # rows run so far
        self._rich = None  # rich.progress.Progress, made when first shown
        self._task = None

    def grow(self, rows: int, batches: int) -> None:
        """A window's rows join the total; the bar shows (again) while they run."""
        self.batches += batches
        self.total += rows
        if not self.enabled or self.batches < PROGRESS_MIN_BATCHES:
            return
        if self._rich is None:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            from autocli.render import console

            # no redirection: rich would send stdout's writes through the stderr console
            self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False)
            self._task = self._rich.add_task(self.desc, total=self.total, completed=self.done)
        self._rich.update(self._task, total=self.total)
        self._rich.start()

    def advance(self, n: int) -> None:
        self.done += n
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)

    def hide(self) -> None:
        if self._rich is not None:
            self._rich.stop()

    close = hide


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def warn(message: str, quiet: bool = False) -> None:
    if not quiet:
        sys.stderr.write(f"warning: {message}\n")
        sys.stderr.flush()


def warn_truncated(indices: Sequence[int], limit: int | None, quiet: bool = False, what: str = "input") -> None:
    """One visible line naming the inputs that lost tokens to --max-length."""
    if not indices:
        return
    shown = ", ".join(str(i) for i in list(indices)[:WARN_MAX_INDICES])
    more = f" and {len(indices) - WARN_MAX_INDICES} more" if len(indices) > WARN_MAX_INDICES else ""
    n = len(indices)
    warn(
        f"{n} {what}{'s' if n != 1 else ''} truncated to {limit} tokens (index {shown}{more}); "
        "the results see only the kept tokens",
        quiet,
    )


def encode_all(tokenizer, texts: Sequence[str], pairs: Sequence[str | None] | None = None, max_length: int | None = None) -> list:
    """Tokenize many inputs at once (the tokenizer runs them in parallel); an input that fails gets its
    error in its slot instead of an encoding, so one bad input never takes the others down."""
    pairs = list(pairs) if pairs is not None else [None] * len(texts)
    out: list = [None] * len(texts)
    for with_pair in (False, True):
        idx = [i for i, p in enumerate(pairs) if (p is not None) == with_pair]
        if not idx:
            continue
        check_max_length(tokenizer, max_length, with_pair)
        try:
            encs = tokenizer.encode_batch([texts[i] for i in idx], pairs=[pairs[i] for i in idx] if with_pair else None, max_length=max_length)
        except Exception:  # find the input that fails, keep the rest
            encs = []
            for i in idx:
                try:
                    encs.append(tokenizer.encode(texts[i], pair=pairs[i], max_length=max_length, truncation=max_length is not None))
                except AutocliError as e:
                    encs.append(e)
                except Exception as e:  # the tokenizer's own exceptions have no common type
                    encs.append(UsageError(f"cannot tokenize this input: {e}"))
        for i, enc in zip(idx, encs):
            out[i] = enc
    return out
