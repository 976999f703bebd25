"""`autocli download MODEL`: fetch ahead what the other commands read, for offline runs and image builds."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

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


def _table(result):
    from autocli import render

    tbl = render.simple_table("file", "kind", "bytes", title=f"{result.checkpoint} -> {result.path}")
    for f in result.files:
        tbl.add_row(f.name, f.kind, f"{f.size:,}")
    tbl.add_row(f"{len(result.files)} files", "", f"{result.total_bytes:,}")
    return tbl


def download_cmd(
    model: o.Checkpoint,
    include_weights: Weights = True,
    allow_pickle: o.AllowPickle = False,
    revision: o.Revision = None,
    offline: o.Offline = False,
    cache_dir: o.CacheDir = None,
    token: o.Token = None,
    fmt: Annotated[Optional[o.Format], typer.Option("--format", "-f", help="table on a terminal, json in a pipe.", rich_help_panel=o.OUT)] = None,
    json_flag: o.JsonFlag = False,
    quiet: o.Quiet = False,
) -> None:
    """Fetch what the other commands read into the cache."""
    from autocli import render
    from autocli.checkpoint import Checkpoint
    from autocli.checkpoint.prefetch import download

    ckpt = Checkpoint.resolve(model, revision=revision, cache_dir=cache_dir, token=token, offline=offline)
    result = download(ckpt, include_weights=include_weights, allow_pickle=allow_pickle, quiet=quiet)
    render.table("DownloadResult")(_table)
    fmt = o.Format.json if json_flag else fmt or (o.Format.table if sys.stdout.isatty() else o.Format.json)
    render.emit(result, fmt)
