"""`autocli classify MODEL [INPUT...]`: classification of texts or text pairs, images or audio clips."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.errors import UsageError
from autocli.tasks.classify import TOP_K
from autocli.tasks.zero_shot import TEMPLATE as ZERO_SHOT_TEMPLATE

EPILOG = (
    "Scores: softmax over the labels; sigmoid for multi-label checkpoints or a single label; raw for "
    "regression (as transformers' text-classification pipeline). --function overrides. A score that is not "
    "a finite number is null in JSON; an input whose scores are NaN gets an error record (exit 7), never a "
    "label.\n\n"
    "Examples:\n\n"
    "  autocli classify distilbert-base-uncased-finetuned-sst-2-english \"I loved it\" \"Too long\"\n\n"
    "  autocli classify ./nli-model \"A man is eating.\" --pair \"Someone eats.\" --top-k all\n\n"
    "  cat reviews.jsonl | autocli classify ./model --jsonl   # {\"text\": ..., \"text_pair\": ...}\n\n"
    "  autocli classify google/vit-base-patch16-224 photo.jpg cat.png --top-k 3\n\n"
    "  ls clips/*.wav | autocli classify ./speech-emotion-model   # one path per line; --jsonl: {\"audio\": path}\n\n"
    "  autocli classify openai/clip-vit-base-patch32 photo.jpg --labels \"a cat,a dog,a car\"   # zero-shot\n\n"
    "  autocli classify ./layoutlmv3-rvlcdip page1.json page2.json   # document JSON: image, words, boxes"
)


class Function(str, Enum):
    softmax = "softmax"
    sigmoid = "sigmoid"
    none = "none"


def parse_top_k(value: str) -> int | None:
    """'N' -> N, 'all' -> None (every label)."""
    if value.strip().lower() == "all":
        return None
    try:
        k = int(value)
    except ValueError:
        raise UsageError(f"--top-k {value!r} is not a number", "use a number such as 3, or 'all'") from None
    if k < 1:
        raise UsageError("--top-k must be at least 1", "use a number such as 3, or 'all'")
    return k


@o.shared_options()
def classify_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to classify, or image/audio files for a vision/audio checkpoint ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    pair: Annotated[Optional[str], typer.Option("--pair", help="Second text of a pair, for every input (NLI, similarity).")] = None,
    top_k: Annotated[Optional[str], typer.Option("--top-k", help=f"Labels to show per input: N, or all (default {TOP_K}; with --labels: all).", show_default=False)] = None,
    function: Annotated[Optional[Function], typer.Option("--function", help="Score function; default from the checkpoint.")] = None,
    logits: o.Logits = False,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Zero-shot (image-text checkpoints such as CLIP): the candidate labels, comma-separated; every label is scored unless --top-k.", show_default=False)] = None,
    template: Annotated[str, typer.Option("--template", help="Zero-shot: the text each label goes into, at {}.")] = ZERO_SHOT_TEMPLATE,
    *,
    shared: o.Shared,
) -> None:
    """Classify texts (or text pairs), images or audio clips: the checkpoint says which it reads."""
    from autocli.inputs import naming_files, requiring
    from autocli.results import Classification
    from autocli.tasks.classify import ClassifyOptions, classify

    k = parse_top_k(top_k if top_k is not None else str(TOP_K))

    def with_pair(item) -> None:
        if pair is not None and item.error is None:
            item.fields.setdefault("text_pair", pair)

    items = shared.read(texts)
    if labels is not None:
        from autocli.cli.similar import zero_shot_cmd

        if pair is not None or function is not None:
            raise UsageError("--pair and --function are not for zero-shot --labels", "drop them")
        return zero_shot_cmd(model, items, labels, template, top_k, logits, shared)
    _, pre, loaded = shared.load(model, "sequence-classification")
    options = ClassifyOptions(shared.batch_size, shared.max_length, shared.quiet, logits, top_k=k,
                              function=function.value if function else None)
    if getattr(pre, "input", None) == "document":
        from autocli.tasks.document import classify_documents

        if pair is not None:
            raise UsageError("--pair is for text pairs; this checkpoint classifies documents", "drop --pair")
        shared.emit(classify_documents(loaded, pre, items.each(naming_files("document")), options), Classification)
        return
    if hasattr(pre, "input"):
        from autocli.tasks.media import classify_media

        if pair is not None:
            raise UsageError(f"--pair is for text pairs; this checkpoint classifies {pre.input} files", "drop --pair")
        shared.emit(classify_media(loaded, pre, items.each(naming_files(pre.input)), options), Classification)
        return
    shared.emit(classify(loaded, pre, items.each(requiring("text")).each(with_pair), options), Classification)
