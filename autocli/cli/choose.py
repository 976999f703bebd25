"""`autocli choose MODEL --question Q --choice A --choice B`: pick the best continuation or answer."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Default: a multiple-choice head scores every (question, choice) pair and the scores are softmaxed over "
    "the choices. --nsp: BERT's next-sentence head gives each choice its own probability of following the "
    "question as the next sentence.\n\n"
    "Without --question, inputs are JSONL objects {\"question\": ..., \"choices\": [...]}, one per line.\n\n"
    "Examples:\n\n"
    "  autocli choose ./swag-model --question \"She opened the fridge and\" --choice \"took out milk.\" --choice \"flew away.\"\n\n"
    "  autocli choose bert-base-uncased --nsp --question \"I was hungry.\" --choice \"So I ate.\" --choice \"Rain is wet.\"\n\n"
    "  autocli choose ./mc-model --input items.jsonl > chosen.jsonl"
)


def choose_cmd(
    model: o.Checkpoint,
    question: Annotated[Optional[str], typer.Option("--question", "-Q", help="The question, prompt or first sentence.")] = None,
    choice: Annotated[Optional[list[str]], typer.Option("--choice", help="A candidate (repeat for each).")] = None,
    nsp: Annotated[bool, typer.Option("--nsp", help="Score with BERT's next-sentence head instead of a multiple-choice head.")] = False,
    logits: o.Logits = False,
    input_file: o.InputFile = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Inputs are JSON objects, one per line (always so for choose).", rich_help_panel="Input")] = True,
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
    """Score candidate texts against a question: multiple choice, or next-sentence prediction."""
    from autocli.errors import UsageError
    from autocli.inputs import Inputs, Item, read_inputs
    from autocli.results import Chosen
    from autocli.tasks import load
    from autocli.tasks.choose import MODES, ChooseOptions, choose

    mode = "nsp" if nsp else "multiple-choice"
    if question is not None or choice:
        if question is None or not choice:
            raise UsageError("--question and --choice go together", 'e.g. --question "..." --choice "A" --choice "B"')
        if input_file is not None:
            raise UsageError("give --question/--choice, or inputs with --input, not both")
        items = Inputs([Item(0, {"question": question, "choices": list(choice)})])
    else:
        items = read_inputs(None, input_file, jsonl=True, primary="question")
    _, tokenizer, loaded = load(
        model, MODES[mode], revision=revision, cache_dir=cache_dir, token=token, offline=offline,
        device=device, dtype=dtype, allow_random_head=allow_random_head, allow_pickle=allow_pickle,
        tokenizer_source=tokenizer_source, max_length=max_length, quiet=quiet, verbose=verbose,
    )
    options = ChooseOptions(batch_size, max_length, quiet, logits, mode=mode)
    o.emit_records(choose(loaded, tokenizer, items, options), fmt, json_flag, Chosen)
