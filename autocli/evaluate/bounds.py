"""--min METRIC=VALUE and --max METRIC=VALUE: the conditions a CI job puts on an evaluation."""

from __future__ import annotations

import math
from typing import NamedTuple

from autocli.errors import UsageError
from autocli.reports import BoundCheck


class Bound(NamedTuple):
    metric: str
    bound: str  # "min" | "max"
    limit: float


def parse_bounds(mins: list[str], maxs: list[str]) -> list[Bound]:
    """The --min and --max options -> Bounds; a malformed one is a usage error."""
    out = []
    for kind, specs in (("min", mins), ("max", maxs)):
        for spec in specs:
            name, eq, value = spec.partition("=")
            try:
                limit = float(value)
            except ValueError:
                limit = math.nan
            if not eq or not name.strip() or math.isnan(limit):
                raise UsageError(f"--{kind} {spec!r} is not METRIC=VALUE", f"e.g. --{kind} accuracy=0.9")
            out.append(Bound(name.strip().lower().replace("-", "_"), kind, limit))
    return out


def check_names(bounds: list[Bound], metrics: tuple[str, ...], task: str) -> None:
    """Every bound names a metric the task reports: a usage error listing them otherwise."""
    for b in bounds:
        if b.metric not in metrics:
            raise UsageError(f"--{b.bound} {b.metric}: {task} evaluation has no metric {b.metric!r}",
                             f"its metrics: {', '.join(metrics)}")


def check(bounds: list[Bound], values: dict) -> list[BoundCheck]:
    """Each bound against the measured values; a value that is missing or not a number fails it."""
    out = []
    for b in bounds:
        value = values.get(b.metric)
        number = isinstance(value, (int, float)) and math.isfinite(value)
        ok = number and (value >= b.limit if b.bound == "min" else value <= b.limit)
        out.append(BoundCheck(b.metric, b.bound, b.limit, value, bool(ok)))
    return out
