"""`autocli similar MODEL --text TEXT [IMAGE|FOLDER...]` (or `--image FILE [TEXT...]`): ranking in an image-text
checkpoint's shared space; and the zero-shot path of `classify --labels`, which loads the same checkpoints."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.errors import UsageError

EPILOG = (
    "Scores are cosine similarities of the embeddings (the ones `autocli embed` prints, normalised). The ranking "
    "comes out once every input is done, best first; --top-k keeps the best N. An input that cannot be read is an "
    "error record after the ranking (exit 7).\n\n"
    "Examples:\n\n"
    "  autocli similar openai/clip-vit-base-patch32 --text \"a dog on a beach\" photos/ --top-k 5\n\n"
    "  ls shots/*.png | autocli similar ./clip --text \"a red car\"\n\n"
    "  autocli similar ./clip --image photo.jpg \"a cat\" \"a dog\" \"a car\""
)


def image_text(pre, what: str):
    """The combined processor of an image-text checkpoint, or a usage error saying `what` needs one."""
    if not hasattr(pre, "text"):
        raise UsageError(f"{what} needs an image-text checkpoint (CLIP); this one reads {getattr(pre, 'input', 'text')} alone",
                         "use a checkpoint whose model_type is clip")
    return pre


# no sharded --output: a ranking is over every input at once, not per shard
@o.shared_options(tuple(n for n in o.RECORD_OPTIONS if n not in ("allow_random_head", "tokenizer_source", *o.ENGINE_OPTIONS)))
def similar_cmd(
    model: o.Checkpoint,
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files or folders (with --text), or texts (with --image); '-': stdin, one per line.", show_default=False)] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="Rank the images against this text.", show_default=False)] = None,
    image: Annotated[Optional[str], typer.Option("--image", metavar="FILE", help="Rank the texts against this image file.", show_default=False)] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, help="Show the best N (default: every input).", show_default=False)] = None,
    *,
    shared: o.Shared,
) -> None:
    """Rank images against a text, or texts against an image, by similarity in a CLIP checkpoint's space."""
    from autocli.inputs import naming_files, requiring
    from autocli.results import Match
    from autocli.tasks.similar import SimilarOptions, images_against_text, texts_against_image

    if (text is None) == (image is None):
        raise UsageError("give the query as --text TEXT (to rank images) or --image FILE (to rank texts)", "one of the two")
    if text is not None and not text.strip():
        raise UsageError("--text is empty", "give the text to rank the images against")
    items = shared.read(inputs)
    _, pre, loaded = shared.load(model, "base")
    pre = image_text(pre, "similar")
    options = SimilarOptions(shared.batch_size, shared.max_length, shared.quiet, top_k=top_k)
    if text is not None:
        shared.emit(images_against_text(loaded, pre, items.each(naming_files("image")), text, options), Match)
        return
    shared.emit(texts_against_image(loaded, pre, items.each(requiring("text")), image, options), Match)


def zero_shot_cmd(model: str, items, labels: str, template: str, top_k: str | None, logits: bool, shared) -> None:
    """`classify MODEL IMAGE... --labels ...`: transformers' zero-shot-image-classification pipeline."""
    from autocli.cli.classify import parse_top_k
    from autocli.inputs import naming_files
    from autocli.results import Classification
    from autocli.tasks.zero_shot import ZeroShotOptions, hypotheses, parse_labels, zero_shot

    names = parse_labels(labels)
    hypotheses(names, template)  # a bad template is refused before the model loads
    k = parse_top_k(top_k) if top_k is not None else None
    _, pre, loaded = shared.load(model, "zero-shot-image-classification")
    pre = image_text(pre, "--labels")
    options = ZeroShotOptions(shared.batch_size, None, shared.quiet, logits, top_k=k)
    shared.emit(zero_shot(loaded, pre, items.each(naming_files("image")), names, template, options), Classification)


def embed_in_space(loaded, pre, items, text: bool, pooling, normalize: bool | None, shared) -> None:
    """`embed` of an image-text checkpoint: images, or (--text) texts, as vectors of the one shared space."""
    from autocli.inputs import naming_files, requiring
    from autocli.results import Embedding
    from autocli.tasks.zero_shot import SpaceOptions, embed_images, embed_texts

    pre = image_text(pre, "--text")
    if pooling is not None:
        raise UsageError("--pooling is not for image-text checkpoints: their towers pool as trained", "drop --pooling")
    options = SpaceOptions(shared.batch_size, shared.max_length, shared.quiet, normalize=bool(normalize))
    if text:
        shared.emit(embed_texts(loaded, pre, items.each(requiring("text")), options), Embedding)
        return
    shared.emit(embed_images(loaded, pre, items.each(naming_files("image")), options), Embedding)
