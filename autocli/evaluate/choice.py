"""Multiple choice: accuracy and the loss of transformers' *ForMultipleChoice (cross-entropy over each
question's choices). Rows: {"question", "choices": [...], "label"}, the label the right choice's position
(or its text). The choices are scored by `autocli choose` (tasks/choose.py)."""

from __future__ import annotations

from pathlib import Path

from autocli.errors import UsageError
from autocli.evaluate import EvalOptions, Outcome, nothing_scored
from autocli.evaluate.data import read_rows
from autocli.results import ErrorRecord

METRICS = ("loss", "accuracy")


def check_row(item) -> None:
    from autocli.tasks.choose import check_item

    check_item(item, "multiple-choice")
    if item.error is not None:
        return
    label, choices = item.fields.get("label"), item.fields["choices"]
    if isinstance(label, str) and label in choices:
        label = choices.index(label)
    elif isinstance(label, str) and label.strip().isdigit():
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices):
        item.error = UsageError(f"label {item.fields.get('label')!r} is not one of the {len(choices)} choices",
                                'give "label": the right choice\'s position (0-based) or its text')
        return
    item.fields["_target"] = label


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    import torch

    from autocli.tasks.choose import ChooseOptions, choose

    items = list(read_rows(path, options.limit))
    for item in items:
        check_row(item)
    records = list(choose(model, tokenizer, items, ChooseOptions(options.batch_size, options.max_length, options.quiet, logits=True)))
    errors = [r for r in records if isinstance(r, ErrorRecord)]
    scored = [(items[n], r) for n, r in enumerate(records) if not isinstance(r, ErrorRecord)]
    if not scored:
        raise nothing_scored(path, len(items), errors)
    loss = sum(torch.nn.functional.cross_entropy(torch.tensor([c.logits[0] for c in rec.scores]), torch.tensor(it.fields["_target"])).item()
               for it, rec in scored) / len(scored)
    correct = [rec.choice == it.fields["_target"] for it, rec in scored]
    out = Outcome({"loss": loss, "accuracy": sum(correct) / len(correct)}, len(items), errors, {"questions": len(scored)})
    out.predictions = [{"index": it.index, "prediction": rec.choice, "gold": it.fields["_target"], "correct": ok}
                       for (it, rec), ok in zip(scored, correct)]
    return out
