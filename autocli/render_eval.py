"""The table of `autocli eval`: metrics, bounds, per-label scores, the confusion matrix and failed rows."""

from __future__ import annotations

from autocli import reports
from autocli.render import simple_table, table


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "n/a" if v is None else str(v)


@table(reports.EvalReport)
def eval_tables(rep) -> list:
    from rich.markup import escape

    title = f"{rep.task} on {rep.data}: {rep.examples - rep.failed} of {rep.examples} rows scored"
    out = [simple_table("metric", "value", title=escape(title))]
    for name, value in rep.metrics.items():
        out[0].add_row(name, _value(value))
    for name, value in rep.details.items():
        out[0].add_row(f"[dim]{escape(name)}[/]", f"[dim]{escape(_value(value))}[/]")
    if rep.bounds:
        tbl = simple_table("bound", "value", "result", title="bounds")
        for c in rep.bounds:
            verdict = "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
            tbl.add_row(f"{c.metric} {'>=' if c.bound == 'min' else '<='} {c.limit:g}", _value(c.value), verdict)
        out.append(tbl)
    if rep.per_label:
        tbl = simple_table("label", "precision", "recall", "f1", "support", title="per label")
        for m in rep.per_label:
            tbl.add_row(escape(m.label), f"{m.precision:.4f}", f"{m.recall:.4f}", f"{m.f1:.4f}", str(m.support))
        out.append(tbl)
    if rep.confusion:
        out.append(_confusion(rep.confusion))
    if rep.errors:
        tbl = simple_table("row", "error", title="rows not scored")
        for e in rep.errors:
            tbl.add_row(str(e.index), escape(e.error["message"]))
        out.append(tbl)
    return out


def _confusion(confusion: dict):
    """Gold labels down, predicted labels across."""
    from rich.markup import escape

    labels = confusion["labels"]
    tbl = simple_table("gold \\ predicted", *map(escape, labels), title="confusion matrix")
    for label, row in zip(labels, confusion["matrix"]):
        tbl.add_row(escape(label), *map(str, row))
    return tbl
