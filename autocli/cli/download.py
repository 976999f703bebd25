"""`autocli download MODEL`: fetch ahead what the other commands read, for offline runs and image builds."""

from __future__ import annotations

from typing import Annotated

import typer

from autocli.cli import options as o

EPILOG = (
    "Fetches config.json, generation_config.json, the tokenizer and preprocessing files, the "
    "sentence-transformers files and the safetensors weights (headers checked first) into the shared "
    "Hugging Face cache, so that later runs work with --offline / HF_HUB_OFFLINE=1. Never remote code; "
    "pickle weights only with --allow-pickle. Progress on stderr; the summary (files, bytes, local path) "
    "on stdout: a table on a terminal, JSON (schema autocli.download/1) in a pipe.\n\n"
    "Examples:\n\n"
    "  autocli download sentence-transformers/all-MiniLM-L6-v2\n\n"
    "  autocli download org/name --revision v2 --no-weights\n\n"
    "  autocli download org/name --json | jq -r .path"
)

Weights = Annotated[
    bool,
    typer.Option("--include-weights/--no-weights", help="Also fetch the weights (default), or only configs, tokenizer and headers."),
]


@o.shared_options(o.HUB_OPTIONS + o.OUTPUT_OPTIONS)
def download_cmd(
    model: o.Checkpoint,
    include_weights: Weights = True,
    allow_pickle: o.AllowPickle = False,
    *,
    shared: o.Shared,
) -> None:
    """Fetch what the other commands read into the cache."""
    import time

    from autocli import render
    from autocli.checkpoint import Checkpoint
    from autocli.checkpoint.prefetch import download

    start = time.perf_counter()
    ckpt = Checkpoint.resolve(model, **shared.hub)
    result = download(ckpt, include_weights=include_weights, allow_pickle=allow_pickle, quiet=shared.quiet)
    o.note_time(shared.verbose, start, f"{len(result.files)} files, {result.total_bytes:,} bytes, from {ckpt.where}")
    render.emit(result, shared.format(o.Format.json))
