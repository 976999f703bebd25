"""Precision, recall and F1 from counts, as scikit-learn and seqeval define them (0 where undefined)."""

from __future__ import annotations

from autocli.reports import LabelMetrics


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """(precision, recall, F1); F1 = 2tp / (2tp + fp + fn), 0 when nothing was predicted or expected."""
    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)


def per_label(names: list[str], tp: list[int], fp: list[int], fn: list[int]) -> list[LabelMetrics]:
    return [LabelMetrics(name, *prf(t, p, n), t + n) for name, t, p, n in zip(names, tp, fp, fn)]


def averages(rows: list[LabelMetrics], tp: list[int], fp: list[int], fn: list[int], counted: list[bool]) -> dict:
    """micro (pooled counts) and macro (mean over the `counted` labels) precision, recall and F1."""
    mp, mr, mf = prf(sum(tp), sum(fp), sum(fn))
    kept = [r for r, c in zip(rows, counted) if c]
    n = len(kept)
    return {"micro_precision": mp, "micro_recall": mr, "micro_f1": mf,
            "macro_precision": ratio(sum(r.precision for r in kept), n), "macro_recall": ratio(sum(r.recall for r in kept), n),
            "macro_f1": ratio(sum(r.f1 for r in kept), n)}
