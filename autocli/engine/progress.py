"""Progress of an --output job on stderr (rows done / total, rows/s, failed rows, ETA) and its final summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

# In a pipe or a log, at most one progress line per this many seconds (the last shard always gets one).
LINE_EVERY_S = 1.0


@dataclass
class Progress:
    what: str  # the command
    total: int  # rows of the whole input
    shards: int  # of the whole input
    done: int = 0  # rows written, earlier runs included
    failed: int = 0
    shards_done: int = 0
    quiet: bool = False
    resumed: int = 0  # shards an earlier run wrote
    start: float = field(default_factory=time.perf_counter)
    _rows_now: int = 0  # rows this run wrote
    _last: float = 0.0

    def resume(self, rows: int, failed: int) -> None:
        """A shard an earlier run wrote."""
        self.done += rows
        self.failed += failed
        self.shards_done += 1
        self.resumed += 1

    def advance(self, rows: int, failed: int) -> None:
        """A shard this run wrote."""
        self.done += rows
        self.failed += failed
        self.shards_done += 1
        self._rows_now += rows
        now = time.perf_counter()
        if self.quiet or (now - self._last < LINE_EVERY_S and self.shards_done < self.shards):
            return
        self._last = now
        from autocli.tasks.batching import _stderr_is_terminal

        tty = _stderr_is_terminal()
        sys.stderr.write(("\r" if tty else "") + self.line() + ("" if tty and self.shards_done < self.shards else "\n"))
        sys.stderr.flush()

    @property
    def rate(self) -> float:
        return self._rows_now / max(time.perf_counter() - self.start, 1e-9)

    def line(self) -> str:
        left = self.total - self.done
        eta = f"ETA {left / self.rate:.0f} s" if self.rate > 0 and left else "done" if not left else "ETA ?"
        share = 100 * self.done / max(self.total, 1)
        return (f"{self.what}: {self.done:,}/{self.total:,} rows ({share:.0f}%), {self.rate:,.1f} rows/s, "
                f"{self.failed:,} failed, {eta}")

    def summary(self, output: str, fmt: str, engine: str) -> None:
        """The final table on stderr."""
        if self.quiet:
            return
        from rich import box
        from rich.table import Table

        from autocli.render import console

        seconds = time.perf_counter() - self.start
        tbl = Table(box=box.SIMPLE_HEAD, show_header=False, title=f"{self.what} → {output} ({fmt}, engine {engine})", title_justify="left")
        tbl.add_column(style="bold")
        tbl.add_column()
        tbl.add_row("shards", f"{self.shards_done - self.resumed:,} written, {self.resumed:,} already done, {self.shards:,} in all")
        tbl.add_row("rows", f"{self.done:,} of {self.total:,}, {self.failed:,} failed")
        tbl.add_row("this run", f"{self._rows_now:,} rows in {seconds:.1f} s, {self.rate:,.1f} rows/s")
        console(stderr=True).print(tbl)

