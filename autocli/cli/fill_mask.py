"""`autocli fill-mask MODEL [TEXT...]`: the most likely tokens for each mask token."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.tasks.fill_mask import SEQUENCE, SEQUENCES, TOP_K

EPILOG = (
    "Write the tokenizer's mask token where a token is missing: [MASK] for BERT-style vocabularies, <mask> for "
    "RoBERTa-style ones. An input without one gets an error record that names the mask token. Each candidate's "
    "sequence is the ids decoded, as transformers' fill-mask pipeline (lower-cased on an uncased vocabulary); "
    "--sequence text writes the token into the original text instead.\n\n"
    "Examples:\n\n"
    "  autocli fill-mask bert-base-uncased \"Paris is the [MASK] of France.\"\n\n"
    "  autocli fill-mask roberta-base \"The <mask> sat on the mat.\" --top-k 10 --format json\n\n"
    "  autocli fill-mask ./mlm --input sentences.txt > filled.jsonl"
)


@o.shared_options()
def fill_mask_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts with mask tokens ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Candidates per mask.")] = TOP_K,
    sequence: Annotated[str, typer.Option("--sequence", metavar="|".join(SEQUENCES), help="decoded: the pipeline's decoded ids; text: the token written into the input.")] = SEQUENCE,
    logits: o.Logits = False,
    *,
    shared: o.Shared,
) -> None:
    """Predict the tokens hidden behind mask tokens with a masked-LM head."""
    from autocli.errors import UsageError
    from autocli.inputs import requiring
    from autocli.results import Filled
    from autocli.tasks.fill_mask import FillMaskOptions, fill_mask

    if sequence not in SEQUENCES:
        raise UsageError(f"--sequence {sequence!r} is not one of {', '.join(SEQUENCES)}")
    items = shared.read(texts).each(requiring("text"))
    _, tokenizer, loaded = shared.load(model, "masked-lm")
    options = FillMaskOptions(shared.batch_size, shared.max_length, shared.quiet, logits, top_k=top_k, sequence=sequence)
    shared.emit(fill_mask(loaded, tokenizer, items, options), Filled)
