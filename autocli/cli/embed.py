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
    "  autocli embed ./model \"hello\" --format table\n\n"
    "  autocli embed google/vit-base-patch16-224 photo.jpg --pooling cls   # images: cls by default; audio: mean\n\n"
    "  autocli embed openai/clip-vit-base-patch32 photo.jpg; autocli embed openai/clip-vit-base-patch32 --text \"a cat\"   # one space"
)


class Pooling(str, Enum):
    cls = "cls"
    mean = "mean"
    max = "max"


@o.shared_options(tuple(n for n in o.RECORD_OPTIONS if n != "allow_random_head"))
def embed_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to embed ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    pooling: Annotated[Optional[Pooling], typer.Option("--pooling", help="Pooling over tokens; default: the checkpoint's, else mean.", show_default=False)] = None,
    normalize: Annotated[Optional[bool], typer.Option("--normalize/--no-normalize", help="L2-normalise the vectors; default: as the checkpoint says.", show_default=False)] = None,
    text: Annotated[bool, typer.Option("--text", help="Image-text checkpoints (CLIP): the inputs are texts, embedded in the images' space.")] = False,
    *,
    shared: o.Shared,
) -> None:
    """Embed texts, images or audio clips as vectors: the base model's token (patch, frame) states, pooled."""
    from autocli.inputs import naming_files, requiring
    from autocli.results import Embedding
    from autocli.tasks.embed import POOLING, EmbedOptions, embed, sentence_transformers

    items = shared.read(texts)
    ckpt, pre, loaded = shared.load(model, "base")
    if hasattr(pre, "text") or text:
        from autocli.cli.similar import embed_in_space

        return embed_in_space(loaded, pre, items, text, pooling, normalize, shared)
    if hasattr(pre, "input"):
        from autocli.tasks.media import POOLING_OF, embed_media

        options = EmbedOptions(shared.batch_size, None, shared.quiet, pooling=(pooling.value if pooling else POOLING_OF[pre.input],),
                               normalize=bool(normalize))
        shared.emit(embed_media(loaded, pre, items.each(naming_files(pre.input)), options), Embedding)
        return
    st = sentence_transformers(ckpt)
    options = EmbedOptions(
        shared.batch_size,
        shared.max_length if shared.max_length is not None else st.max_length,
        shared.quiet,
        pooling=(pooling.value,) if pooling else (st.pooling or (POOLING,)),
        normalize=normalize if normalize is not None else bool(st.normalize),
        lowercase=st.lowercase,
    )
    shared.emit(embed(loaded, pre, items.each(requiring("text")), options), Embedding)
