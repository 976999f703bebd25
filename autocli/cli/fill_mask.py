"""`autocli fill-mask MODEL [TEXT...]`: the most likely tokens for each mask token."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autocli.cli import options as o

TOP_K = 5

EPILOG = (
    "Write the tokenizer's mask token where a token is missing: [MASK] for BERT-style vocabularies, <mask> for "
    "RoBERTa-style ones. An input without one gets an error record that names the mask token.\n\n"
    "Examples:\n\n"
    "  autocli fill-mask bert-base-uncased \"Paris is the [MASK] of France.\"\n\n"
    "  autocli fill-mask roberta-base \"The <mask> sat on the mat.\" --top-k 10 --format json\n\n"
    "  autocli fill-mask ./mlm --input sentences.txt --format jsonl"
)


def fill_mask_cmd(
    model: o.Checkpoint,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts with mask tokens ('-' or none: stdin, one per line).", show_default=False)] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Candidates per mask.")] = TOP_K,
    input_file: o.InputFile = None,
    jsonl: o.JsonlInput = False,
    batch_size: o.BatchSize = 32,
    max_length: o.MaxLength = None,
    device: o.DeviceOpt = o.Device.auto,
    dtype: o.DTypeOpt = o.DType.auto,
    allow_random_head: o.AllowRandomHead = False,
    allow_pickle: o.AllowPickle = False,
    revision: o.Revision = None,
    offline: o.Offline = False,
    cache_dir: o.CacheDir = None,
    token: o.Token = None,
    fmt: o.FormatOpt = o.Format.auto,
    json_flag: o.JsonFlag = False,
    quiet: o.Quiet = False,
) -> None:
    """Predict the tokens hidden behind mask tokens with a masked-LM head."""
    from autocli import render
    from autocli.inputs import read_inputs, require
    from autocli.tasks import load
    from autocli.tasks.fill_mask import FillMaskOptions, fill_mask

    items = read_inputs(texts, input_file, jsonl)
    for item in items:
        require(item, "text")
    _, tokenizer, loaded = load(
        model, "masked-lm", revision=revision, cache_dir=cache_dir, token=token, offline=offline,
        device=device.value, dtype=dtype.value, allow_random_head=allow_random_head, allow_pickle=allow_pickle,
    )
    batch = fill_mask(loaded, tokenizer, items, FillMaskOptions(batch_size, max_length, quiet, top_k=top_k))
    render.emit(batch, o.output_format(fmt, json_flag))
    render.finish(batch)
