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


@o.shared_options(tuple(n for n in o.MODEL_OPTIONS if n != "allow_random_head"))
def embed_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to embed ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    pooling: Annotated[Optional[Pooling], typer.Option("--pooling", help="Pooling over tokens; default: the checkpoint's, else mean.", show_default=False)] = None,
    normalize: Annotated[Optional[bool], typer.Option("--normalize/--no-normalize", help="L2-normalise the vectors; default: as the checkpoint says.", show_default=False)] = None,
    *,
    shared: o.Shared,
) -> None:
    """Embed texts as vectors: the base model's token states, pooled."""
    from autocli.inputs import requiring
    from autocli.results import Embedding
    from autocli.tasks.embed import POOLING, EmbedOptions, embed, sentence_transformers

    items = shared.read(texts).each(requiring("text"))
    ckpt, tokenizer, loaded = shared.load(model, "base")
    st = sentence_transformers(ckpt)
    options = EmbedOptions(
        shared.batch_size,
        shared.max_length if shared.max_length is not None else st.max_length,
        shared.quiet,
        pooling=(pooling.value,) if pooling else (st.pooling or (POOLING,)),
        normalize=normalize if normalize is not None else bool(st.normalize),
        lowercase=st.lowercase,
    )
    shared.emit(embed(loaded, tokenizer, items, options), Embedding)
