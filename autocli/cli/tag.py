"""`autocli tag MODEL [TEXT...]`: token classification (NER, POS...) with entity grouping."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.tasks.tag import IGNORE_LABELS, STRIDE

EPILOG = (
    "Aggregation (as transformers' token-classification pipeline): none = one row per token; simple = "
    "adjacent tokens of one entity merged (B-/I- tags); first / average / max = words first take one label "
    "(their first token's, the averaged scores', the most confident token's), then merge.\n\n"
    "Texts longer than the model's limit are split into windows overlapping by --stride tokens; every token is "
    "scored once, from the window where it has the most context.\n\n"
    "Examples:\n\n"
    "  autocli tag dslim/bert-base-NER \"Ada Lovelace was born in London.\"\n\n"
    "  autocli tag ./ner-model --aggregation first --ignore-labels O,MISC --input news.txt --format jsonl\n\n"
    "  autocli tag ./pos-model --aggregation none --ignore-labels '' \"Time flies.\"\n\n"
    "  autocli tag ./layoutlm-funsd form.json   # a document JSON: each word's label (its first sub-token's), "
    "entities with their words and boxes; long documents are truncated, not windowed"
)


class Aggregation(str, Enum):
    none = "none"
    simple = "simple"
    first = "first"
    average = "average"
    max = "max"


@o.shared_options()
def tag_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to tag, or document JSON files for a LayoutLM checkpoint ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    aggregation: Annotated[Aggregation, typer.Option("--aggregation", "-a", help="How tokens are grouped into entities.")] = Aggregation.simple,
    ignore_labels: Annotated[str, typer.Option("--ignore-labels", help="Comma-separated labels left out ('' keeps all).")] = ",".join(IGNORE_LABELS),
    stride: Annotated[int, typer.Option("--stride", min=0, help="Tokens shared by consecutive windows of a long text.")] = STRIDE,
    logits: o.Logits = False,
    *,
    shared: o.Shared,
) -> None:
    """Label the tokens of texts and group them into entities with character offsets."""
    from autocli.inputs import requiring
    from autocli.results import Tagged
    from autocli.tasks.tag import TagOptions, tag

    items = shared.read(texts)
    _, tokenizer, loaded = shared.load(model, "token-classification")
    ignore = tuple(label.strip() for label in ignore_labels.split(",") if label.strip())
    options = TagOptions(shared.batch_size, shared.max_length, shared.quiet, logits, aggregation=aggregation.value,
                         ignore_labels=ignore, stride=stride)
    if getattr(tokenizer, "input", None) == "document":
        from autocli.inputs import naming_files
        from autocli.results import DocumentTagged
        from autocli.tasks.document import tag_documents

        shared.emit(tag_documents(loaded, tokenizer, items.each(naming_files("document")), options), DocumentTagged)
        return
    shared.emit(tag(loaded, tokenizer, items.each(requiring("text")), options), Tagged)
