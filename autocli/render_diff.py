"""diff's table: what changed, grouped by section, side A beside side B. render.py imports this module."""

from __future__ import annotations

import json

from autocli import reports
from autocli.render import simple_table, table

SECTIONS = ("tokenizer", "generation", "preprocessor")
MISSING = "[dim]-[/]"


def _show(value) -> str:
    from rich.markup import escape

    if value is None:
        return MISSING
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return escape(", ".join(value) or "[]")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(text if len(text) <= 80 else text[:77] + "...")


def _signature(sig: dict | None) -> str:
    return MISSING if sig is None else f"{sig['dtype']} [{', '.join(map(str, sig['shape']))}]"


def _rows(r: reports.DiffResult) -> list[tuple[str, str, str, str]]:
    from rich.markup import escape

    rows = [("model", c.key, _show(c.a), _show(c.b)) for c in (r.architectures, r.heads, r.dtype, r.ties) if c]
    rows += [("config", escape(c.key), _show(c.a), _show(c.b)) for c in r.config]
    rows += [("task", c.key, _show(c.a), _show(c.b)) for c in r.tasks]
    rows += [(f"tensor {c.change}", escape(c.name) + (f" ×{c.count}" if c.count > 1 else ""), _signature(c.a), _signature(c.b))
             for c in r.tensors]
    for section in SECTIONS:
        rows += [(section, escape(c.key), _show(c.a), _show(c.b)) for c in getattr(r, section)]
    return rows


def _outputs(o: reports.OutputsDiff):
    tbl = simple_table("outputs", "value", title=f"outputs on {o.inputs} input(s), task {o.task}")
    for name in ("max_abs_diff", "top1_agreement", "mean_kl", "greedy_agreement"):
        value = getattr(o, name)
        if value is not None:
            tbl.add_row(name, f"{value:.6g}")
    return tbl


@table(reports.DiffResult)
def diff_tables(r) -> list:
    from rich.markup import escape

    title = f"A {escape(r.a.checkpoint)}  ·  B {escape(r.b.checkpoint)}"
    rows = _rows(r)
    if not rows:
        how = "configs, headers and tensor bytes" if r.hashed else "configs and headers (tensor bytes not compared)"
        out = [f"{title}\n[green]no differences[/] in {how}"]
    else:
        tbl = simple_table("what", "name", "A", "B", title=title)
        for row in rows:
            tbl.add_row(*row)
        out = [tbl]
        if not r.hashed:
            out.append("[dim]tensor bytes not compared (both sides must be local folders)[/]")
    if r.outputs is not None:
        out.append(_outputs(r.outputs))
    out += [f"[bold red]✗[/] {escape(f)}" for f in r.failed]
    return out
