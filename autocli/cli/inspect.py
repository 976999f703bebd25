"""`autocli inspect MODEL`: what a checkpoint is, from its configs and weight headers."""

from __future__ import annotations

from typing import Annotated

import typer

from autocli.cli import options as opt

EPILOG = (
    "Examples:\n\n"
    "  autocli inspect ./all-MiniLM-L6-v2\n\n"
    "  autocli inspect sentence-transformers/all-MiniLM-L6-v2@main --tensors\n\n"
    "  autocli inspect org/name --json | jq .parameters.total\n\n"
    "Reads config files and safetensors headers only (HTTP range reads on the Hub), never the weights. "
    "`autocli inspect --schema` prints the JSON Schema of --format json."
)

Tensors = Annotated[
    bool,
    typer.Option("--tensors", help="Also list the tensors: names, shapes, dtypes, repeated layers collapsed.", rich_help_panel=opt.OUT),
]



def _print_schema(value: bool) -> None:
    if value:
        import json

        from autocli.inspect.schema import SCHEMA

        typer.echo(json.dumps(SCHEMA, indent=2))
        raise typer.Exit()


Schema = Annotated[
    bool,
    typer.Option("--schema", is_eager=True, callback=_print_schema, help="Print the JSON Schema of --format json and exit.",
                 rich_help_panel=opt.OUT),
]


@opt.shared_options(opt.HUB_OPTIONS + opt.OUTPUT_OPTIONS)
def inspect_cmd(
    checkpoint: opt.Checkpoint,
    tensors: Tensors = False,
    schema: Schema = False,
    *,
    shared: opt.Shared,
) -> None:
    """Show a checkpoint's architecture, parameters, memory needs and tokenizer, without loading it."""
    import time

    from autocli import render
    from autocli.checkpoint import Checkpoint
    from autocli.inspect import inspect

    start = time.perf_counter()
    ckpt = Checkpoint.resolve(checkpoint, **shared.hub)
    result = inspect(ckpt, tensors=tensors)
    opt.note_time(shared.verbose, start, f"read the configs and {len(result.weights.files)} weight header(s) from {ckpt.where}")
    render.emit(result, shared.format(opt.Format.json))
