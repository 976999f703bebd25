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


def fill_mask_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts with mask tokens ('-': stdin, one per line, at its place; none: stdin).", show_default=False)] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Candidates per mask.")] = TOP_K,
    sequence: Annotated[str, typer.Option("--sequence", metavar="|".join(SEQUENCES), help="decoded: the pipeline's decoded ids; text: the token written into the input.")] = SEQUENCE,
    logits: o.Logits = False,
    input_file: o.InputFile = None,
    jsonl: o.JsonlInput = False,
    batch_size: o.BatchSize = o.BATCH_SIZE,
    max_length: o.MaxLength = None,
    device: o.DeviceOpt = o.DEVICE,
    dtype: o.DTypeOpt = o.DTYPE,
    allow_random_head: o.AllowRandomHead = False,
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
    """Predict the tokens hidden behind mask tokens with a masked-LM head."""
    from autocli.errors import UsageError
    from autocli.inputs import read_inputs, requiring
    from autocli.results import Filled
    from autocli.tasks import load
    from autocli.tasks.fill_mask import FillMaskOptions, fill_mask

    if sequence not in SEQUENCES:
        raise UsageError(f"--sequence {sequence!r} is not one of {', '.join(SEQUENCES)}")
    items = read_inputs(texts, input_file, jsonl).each(requiring("text"))
    _, tokenizer, loaded = load(
        model, "masked-lm", revision=revision, cache_dir=cache_dir, token=token, offline=offline,
        device=device, dtype=dtype, allow_random_head=allow_random_head, allow_pickle=allow_pickle,
        tokenizer_source=tokenizer_source, max_length=max_length, quiet=quiet, verbose=verbose,
    )
    options = FillMaskOptions(batch_size, max_length, quiet, logits, top_k=top_k, sequence=sequence)
    o.emit_records(fill_mask(loaded, tokenizer, items, options), fmt, json_flag, Filled)
