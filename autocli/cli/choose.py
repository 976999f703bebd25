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


# choose reads JSON objects (a question and its choices) whatever --jsonl says.
AlwaysJsonl = Annotated[bool, typer.Option("--jsonl", help="Inputs are JSON objects, one per line (always so for choose).", rich_help_panel="Input")]


@o.shared_options(jsonl=(AlwaysJsonl, True))
def choose_cmd(
    model: o.Checkpoint,
    question: Annotated[Optional[str], typer.Option("--question", "-Q", help="The question, prompt or first sentence.")] = None,
    choice: Annotated[Optional[list[str]], typer.Option("--choice", help="A candidate (repeat for each).")] = None,
    nsp: Annotated[bool, typer.Option("--nsp", help="Score with BERT's next-sentence head instead of a multiple-choice head.")] = False,
    logits: o.Logits = False,
    *,
    shared: o.Shared,
) -> None:
    """Score candidate texts against a question: multiple choice, or next-sentence prediction."""
    from autocli.errors import UsageError
    from autocli.inputs import Inputs, Item
    from autocli.results import Chosen
    from autocli.tasks.choose import MODES, ChooseOptions, choose

    mode = "nsp" if nsp else "multiple-choice"
    if question is not None or choice:
        if question is None or not choice:
            raise UsageError("--question and --choice go together", 'e.g. --question "..." --choice "A" --choice "B"')
        if shared.input_file is not None:
            raise UsageError("give --question/--choice, or inputs with --input, not both")
        items = Inputs([Item(0, {"question": question, "choices": list(choice)})])
    else:
        shared.jsonl = True
        items = shared.read(None, primary="question")
    _, tokenizer, loaded = shared.load(model, MODES[mode])
    options = ChooseOptions(shared.batch_size, shared.max_length, shared.quiet, logits, mode=mode)
    shared.emit(choose(loaded, tokenizer, items, options), Chosen)
