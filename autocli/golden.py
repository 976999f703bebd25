"""Golden outputs (`--expect GOLDEN.jsonl`): this run's records checked against an earlier `--format jsonl` run.

Records are matched by their index. Labels, spans, ids, texts and every other non-float value must be equal;
floats (scores, logits) may differ by `atol`; an embedding passes when its cosine with the golden one is at
least 1 - atol. Timings are not compared. The run's own output is printed as usual; the first differences go to
stderr and the command exits 6 when any record drifted.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from autocli.errors import RequirementFailed, UsageError

ATOL = 1e-4
SHOWN = 5  # differences printed on stderr
VOLATILE = {"timings"}  # differ from run to run by nature
VECTORS = {"embedding"}  # compared by cosine, not element by element
HINT = "pass a file written by the same command with --format jsonl (one JSON object per line)"


def load(path: Path) -> dict[int, dict]:
    """The golden records by index; a missing or malformed file is a usage error (before any model loads)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"--expect {path}: no such file", HINT) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--expect {path}: cannot read it ({getattr(e, 'strerror', None) or e})", HINT) from None
    out: dict[int, dict] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"--expect {path}: line {n} is not JSON ({e.msg})", HINT) from None
        index = rec.get("index") if isinstance(rec, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or index in out:
            raise UsageError(f"--expect {path}: line {n} is not a record with its own integer \"index\"", HINT)
        out[index] = rec
    if not out:
        raise UsageError(f"--expect {path}: the file holds no records", HINT)
    return out


def _cosine(a: list, b: list) -> float | None:
    if len(a) != len(b) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in a + b):
        return None
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else (1.0 if na == nb else 0.0)


def compare(want, got, atol: float, where: str = "") -> list[str]:
    """The differences between a golden value and this run's, each as `path: golden -> this run`."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key in [k for k in want if k not in VOLATILE] + [k for k in got if k not in want and k not in VOLATILE]:
            path = f"{where}.{key}" if where else key
            if key not in want or key not in got:
                out.append(f"{path}: {'missing' if key not in want else _short(want[key])} -> "
                           f"{'missing' if key not in got else _short(got[key])}")
            elif key in VECTORS and isinstance(want[key], list) and isinstance(got[key], list):
                cos = _cosine(want[key], got[key])
                if cos is None or cos < 1 - atol:
                    out.append(f"{path}: cosine {cos if cos is None else f'{cos:.6f}'} < {1 - atol:g}")
            else:
                out += compare(want[key], got[key], atol, path)
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{where}: {len(want)} items -> {len(got)}"]
        return [d for i, (w, g) in enumerate(zip(want, got)) for d in compare(w, g, atol, f"{where}[{i}]")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return [] if abs(want - got) <= atol else [f"{where}: {want!r} -> {got!r} (|Δ| {abs(want - got):.3g} > {atol:g})"]
    return [] if want == got and type(want) is type(got) else [f"{where}: {_short(want)} -> {_short(got)}"]


def _short(v) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class Check:
    """Watches a command's records as they stream past and keeps what drifted from the golden run."""

    def __init__(self, path: Path, golden: dict[int, dict], atol: float = ATOL):
        self.path, self.golden, self.atol = path, golden, atol
        self.seen: set[int] = set()
        self.drift: list[str] = []
        self.drifted = 0

    def watch(self, records, as_data=None):
        """Yield every record unchanged; as_data: the record as its --format jsonl line writes it."""
        if as_data is None:
            from autocli.render import to_data as as_data
        for rec in records:
            data = as_data(rec)
            index = data.get("index")
            self.seen.add(index)
            want = self.golden.get(index)
            found = [f"no golden record for input {index}"] if want is None else compare(want, data, self.atol)
            if found:
                self.drifted += 1
                self.drift += [f"input {index}: {d}" for d in found]
            yield rec

    def finish(self) -> None:
        """After the output: say what drifted on stderr and exit 6, or return quietly."""
        missing = sorted(set(self.golden) - self.seen)
        if missing:
            self.drifted += len(missing)
            self.drift.append(f"this run has no record for golden input(s) {', '.join(map(str, missing[:10]))}")
        if not self.drift:
            return
        for line in self.drift[:SHOWN]:
            print(f"drift: {line}", file=sys.stderr)
        if len(self.drift) > SHOWN:
            print(f"drift: ... and {len(self.drift) - SHOWN} more differences", file=sys.stderr)
        raise RequirementFailed(f"{self.drifted} of {len(set(self.golden) | self.seen)} records differ from {self.path}",
                                f"scores may differ by --atol {self.atol:g}; rerun with --format jsonl to write a new golden file")
