"""`autocli embed MODEL [TEXT...]`: sentence vectors, pooled as the checkpoint says."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Pooling: a sentence-transformers checkpoint's own (modules.json, 1_Pooling/config.json, its Normalize "
    "module and max_seq_length); otherwise --pooling (default mean over the real tokens). --pooling and "
    "--normalize/--no-normalize override the checkpoint. In a pipe the output is JSONL, "
    "{\"index\": 0, \"embedding\": [...]} per input, streamed as each window of inputs is done.\n\n"
    "Examples:\n\n"
    "  autocli embed sentence-transformers/all-MiniLM-L6-v2 \"A cat.\" \"A dog.\"\n\n"
    "  autocli embed ./bert --pooling cls --normalize --input corpus.txt > vectors.jsonl\n\n"
    "  autocli embed ./model \"hello\" --format table"
)


class Pooling(str, Enum):
    cls = "cls"
    mean = "mean"
    max = "max"


def embed_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to embed ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    pooling: Annotated[Optional[Pooling], typer.Option("--pooling", help="Pooling over tokens; default: the checkpoint's, else mean.", show_default=False)] = None,
    normalize: Annotated[Optional[bool], typer.Option("--normalize/--no-normalize", help="L2-normalise the vectors; default: as the checkpoint says.", show_default=False)] = None,
    input_file: o.InputFile = None,
    jsonl: o.JsonlInput = False,
    batch_size: o.BatchSize = o.BATCH_SIZE,
    max_length: o.MaxLength = None,
    device: o.DeviceOpt = o.DEVICE,
    dtype: o.DTypeOpt = o.DTYPE,
    allow_pickle: o.AllowPickle = False,
    tokenizer_source: o.TokenizerSource = None,
    revision: o.Revision = None,
    offline: o.Offline = False,
    cache_dir: o.CacheDir = None,
    token: o.Token = None,
    fmt: o.FormatOpt = o.Format.auto,
    json_flag: o.JsonFlag = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Embed texts as vectors: the base model's token states, pooled."""
    from autocli.inputs import read_inputs, requiring
    from autocli.results import Embedding
    from autocli.tasks import load
    from autocli.tasks.embed import POOLING, EmbedOptions, embed, sentence_transformers

    items = read_inputs(texts, input_file, jsonl).each(requiring("text"))
    ckpt, tokenizer, loaded = load(
        model, "base", revision=revision, cache_dir=cache_dir, token=token, offline=offline,
        device=device, dtype=dtype, allow_pickle=allow_pickle,
        tokenizer_source=tokenizer_source, max_length=max_length, quiet=quiet, verbose=verbose,
    )
    st = sentence_transformers(ckpt)
    options = EmbedOptions(
        batch_size,
        max_length if max_length is not None else st.max_length,
        quiet,
        pooling=(pooling.value,) if pooling else (st.pooling or (POOLING,)),
        normalize=normalize if normalize is not None else bool(st.normalize),
        lowercase=st.lowercase,
    )
    o.emit_records(embed(loaded, tokenizer, items, options), fmt, json_flag, Embedding)
