"""`autocli env`: versions, devices, CPU features and Hub settings, for bug reports."""

from __future__ import annotations

from typing import Annotated

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


def env_cmd(
    no_torch: NoTorch = False,
    fmt: o.FormatOpt = o.Format.auto,
    json_flag: o.JsonFlag = False,
    verbose: o.Verbose = False,
) -> None:
    """Show versions, devices and settings for a bug report."""
    import time

    from autocli import render
    from autocli.environment import gather

    start = time.perf_counter()
    report = gather(with_torch=not no_torch)
    o.note_time(verbose, start, "gathered the report" + ("" if no_torch or report.torch is None else " (torch imported)"))
    render.emit(report, o.output_format(fmt, json_flag, o.Format.json))
