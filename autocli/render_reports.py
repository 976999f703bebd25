"""Tables of the report commands (inspect, compat, download, env), keyed by their result types.

render.py imports this module, so every builder is registered wherever results are printed.
"""

from __future__ import annotations

from autocli import reports, results
from autocli.render import simple_table, table

COMPAT_STYLES = {
    "ready": "green",
    "head-untrained": "yellow",
    "unsupported-head": "dim",
    "family-unsupported": "magenta",
    "blocked": "red",
    "error": "bold red",
}
SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}


@table(reports.CompatReport)
def compat_tables(report) -> list:
    """Several checkpoints: a tasks × checkpoints matrix first. Then per checkpoint its verdicts with
    reasons, and its lint findings."""
    from rich.markup import escape

    def verdict(r, t) -> str:
        v = r.verdicts[t].verdict
        return ("[bold]✗[/] " if t in r.failed else "") + f"[{COMPAT_STYLES.get(v, 'yellow')}]{v}[/]"

    def task(t) -> str:
        return t + (" *" if t in report.required else "")

    note = "  (* required, ✗ not met)" if report.required else ""
    out = []
    if len(report.checkpoints) > 1:
        matrix = simple_table("task", *(escape(r.checkpoint) for r in report.checkpoints), title="compat" + note)
        for t in report.tasks:
            matrix.add_row(task(t), *(verdict(r, t) for r in report.checkpoints))
        out.append(matrix)
    for r in report.checkpoints:
        title = escape(r.checkpoint) + (f" ({escape(r.model_type)})" if r.model_type else "")
        reasons = simple_table("task", "verdict", "reason", title=title + (note if len(report.checkpoints) == 1 else ""))
        for t in report.tasks:
            reasons.add_row(task(t), verdict(r, t), escape(r.verdicts[t].reason))
        out.append(reasons)
        if r.findings:
            lint = simple_table("severity", "finding", "message", title=f"lint: {escape(r.checkpoint)}")
            for f in r.findings:
                lint.add_row(f"[{SEVERITY_STYLES.get(f.severity, '')}]{f.severity}[/]", f.name, escape(f.message))
            out.append(lint)
    return out


@table(reports.InspectResult)
def inspect_tables(result) -> list:
    """inspect: a field/value summary, then the collapsed tensor list when asked for."""
    from rich.markup import escape

    from autocli.inspect import summary_rows, tensor_rows

    summary = simple_table("field", "value", title=f"inspect {escape(result.checkpoint)}")
    for key, value in summary_rows(result):
        summary.add_row(key, escape(value))
    out = [summary]
    if result.tensors is not None:
        many = len(result.weights.files) > 1
        tensors = simple_table("tensor", "shape", "dtype", "count", *(["file"] if many else []), title="tensors")
        for row in tensor_rows(result):
            tensors.add_row(*(escape(c) for c in row))
        out.append(tensors)
    for tbl in out:  # a long tensor name or path wraps; it is never cut short
        for col in tbl.columns:
            col.overflow = "fold"
    return out


@table(reports.DownloadResult)
def download_table(result):
    tbl = simple_table("file", "kind", "bytes", title=f"{result.checkpoint} -> {result.path}")
    for f in result.files:
        tbl.add_row(f.name, f.kind, f"{f.size:,}")
    tbl.add_row(f"{len(result.files)} files", "", f"{result.total_bytes:,}")
    return tbl


def env_rows(report) -> list[tuple[str, str]]:
    def text(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ", ".join(map(str, value)) or "-"
        return str(value)

    torch = report.torch or {}
    cuda = torch.get("cuda") or {}
    hub = report.hub
    rows = [("autocli", report.autocli), ("python", f"{report.python['version']} ({report.python['executable']})"),
            ("platform", " ".join(report.platform.values()))]
    rows += [(name, text(v)) for name, v in {**report.packages, **report.extras}.items()]
    rows += [("cpu", text(report.cpu["model"])), ("cpu cores", text(report.cpu["logical_cores"])),
             ("cpu features", text(report.cpu["features"]))]
    if report.torch is not None:
        rows += [("torch cpu capability", text(torch["cpu_capability"])),
                 ("torch threads", f"{torch['threads']} (inter-op {torch['interop_threads']})"),
                 ("cuda", text(cuda["available"]) + (f" ({cuda['version']}): {text(cuda['devices'])}" if cuda["available"] else "")),
                 ("mps", text(torch["mps"]))]
    cache_size = f" ({hub['cache_bytes']:,} bytes)" if hub["cache_bytes"] is not None else " (not created yet)"
    rows += [("hub endpoint", hub["endpoint"]), ("hub cache", hub["cache"] + cache_size), ("offline", text(hub["offline"])),
             ("hub token", f"set ({hub['token_source']})" if hub["token_set"] else "not set")]
    rows += [(f"${k}", v) for k, v in report.environment.items()]
    return rows


@table(reports.EnvReport)
def env_table(report):
    tbl = simple_table("", "", show_header=False)
    for key, value in env_rows(report):
        tbl.add_row(key, value)
    return tbl


@table(reports.Preprocessed)
def preprocess_table(records):
    from rich.markup import escape

    from autocli.render import error_rows

    tbl = simple_table("#", "file", "decoded", "tensor", "shape", "dtype", "min", "max", "mean", "std")
    for rec in records:
        if isinstance(rec, results.ErrorRecord):
            error_rows(tbl, rec, 10)
            continue
        decoded = ", ".join(f"{k} {v}" for k, v in rec.input.items())
        for n, t in enumerate(rec.outputs):
            stats = [f"{v:.4g}" if v is not None else "-" for v in (t.min, t.max, t.mean, t.std)]
            tbl.add_row(str(rec.index) if n == 0 else "", escape(rec.file) if n == 0 else "", decoded if n == 0 else "",
                        t.name, "×".join(map(str, t.shape)), t.dtype, *stats)
            for c, ch in enumerate(t.channels or []):
                tbl.add_row("", "", "", f"  channel {c}", "", "", *(f"{ch[k]:.4g}" for k in ("min", "max", "mean", "std")))
    steps = next((r for r in records if isinstance(r, reports.Preprocessed)), None)
    if steps is None:
        return tbl
    listing = simple_table("step", title=f"{steps.processor}, steps in order")
    for step in steps.steps:
        listing.add_row(escape(step))
    return [listing, tbl]
