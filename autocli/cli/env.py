"""`autocli env`: versions, devices, CPU features and Hub settings, for bug reports."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Paste the output into a bug report. A Hub token is reported as set or not (and from where), never "
    "its value. A table on a terminal, JSON (schema autocli.env/1) in a pipe.\n\n"
    "Examples:\n\n"
    "  autocli env\n\n"
    "  autocli env --format json | jq .torch.cuda\n\n"
    "  autocli env --no-torch"
)

NoTorch = Annotated[bool, typer.Option("--no-torch", help="Skip the torch facts (devices, threads): torch is not imported.")]


def _rows(report) -> list[tuple[str, str]]:
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


def _table(report):
    from autocli import render

    tbl = render.simple_table("", "", show_header=False)
    for key, value in _rows(report):
        tbl.add_row(key, value)
    return tbl


def env_cmd(
    no_torch: NoTorch = False,
    fmt: Annotated[Optional[o.Format], typer.Option("--format", "-f", help="table on a terminal, json in a pipe.", rich_help_panel=o.OUT)] = None,
    json_flag: o.JsonFlag = False,
) -> None:
    """Show versions, devices and settings for a bug report."""
    from autocli import render
    from autocli.environment import gather

    report = gather(with_torch=not no_torch)
    render.table("EnvReport")(_table)
    fmt = o.Format.json if json_flag else fmt or (o.Format.table if sys.stdout.isatty() else o.Format.json)
    render.emit(report, fmt)
