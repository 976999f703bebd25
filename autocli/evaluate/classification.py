"""Sequence classification: loss as transformers picks it by problem_type, accuracy, F1, the confusion matrix.

Rows: {"text", "text_pair"?, "label"}. A label is a name (mapped through the checkpoint's labels) or an id;
for a multi-label checkpoint a list of them; for regression a number (or a list of L numbers). A name the
checkpoint does not know makes its row an error record.

single-label: cross-entropy; accuracy; micro/macro precision, recall and F1 as scikit-learn's f1_score
  (macro over the labels seen in gold or predicted), per-label scores and the confusion matrix (gold rows).
multi-label: binary cross-entropy with logits; a label is predicted where its logit is above 0 (sigmoid 0.5);
  accuracy is exact-set accuracy, the averages run over every label, as scikit-learn's on indicator matrices.
regression: mean squared error (loss) and mean absolute error.
"""

from __future__ import annotations

from pathlib import Path

from autocli.errors import UsageError
from autocli.evaluate import EvalOptions, Outcome, nothing_scored
from autocli.evaluate.data import read_rows
from autocli.evaluate.losses import MULTI, REGRESSION, classification_loss, problem_type
from autocli.evaluate.scores import averages, per_label
from autocli.inputs import require
from autocli.results import error_record
from autocli.tasks.classify import label_names

METRICS = ("loss", "accuracy", "micro_f1", "macro_f1", "micro_precision", "micro_recall", "macro_precision",
           "macro_recall", "mae")


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    import torch

    num = model.config.num_labels
    names = label_names(model.config, num)
    items = list(read_rows(path, options.limit))
    problem = problem_type(model.config, num, any(isinstance(it.fields.get("label"), list) for it in items))
    for item in items:
        check_row(item, names, problem)
    logits, kept = run_rows(model, tokenizer, items, options)  # (N, L)
    errors = [error_record(it.index, it.error) for it in items if it.error is not None]
    if not kept:
        raise nothing_scored(path, len(items), errors)
    labels = torch.tensor([it.fields["_target"] for it in kept])  # (N,) ids, (N, L) multi-hot or targets
    total, count = classification_loss(logits, labels, problem)
    metrics = {"loss": total / count}
    out = Outcome(metrics, len(items), errors, {"problem_type": problem, "labels": num})
    if problem == REGRESSION:
        metrics["mae"] = (logits.float().reshape(labels.shape) - labels).abs().mean().item()
        out.predictions = [{"index": it.index, "prediction": row, "gold": it.fields["label"]}
                           for it, row in zip(kept, logits.float().tolist())]
        return out
    picked = (logits > 0).long() if problem == MULTI else logits.argmax(-1)  # (N, L) or (N,)
    score_labels(out, names, labels, picked, problem)
    out.predictions = [prediction(it, names, p, problem) for it, p in zip(kept, picked.tolist())]
    return out


def check_row(item, names: list[str], problem: str) -> None:
    """The row's fields, its label as the model's target (fields["_target"]), or an error on the item."""
    require(item, "text")
    pair = item.fields.get("text_pair")
    if item.error is None and pair is not None and not isinstance(pair, str):
        item.error = UsageError(f"field 'text_pair' is a {type(pair).__name__}", 'use "text_pair": "..."')
    if item.error is not None:
        return
    if "label" not in item.fields:
        item.error = UsageError("field 'label' is missing", 'each row needs "label": a name or an id')
        return
    try:
        item.fields["_target"] = target(item.fields["label"], names, problem)
    except UsageError as e:
        item.error = e


def target(label, names: list[str], problem: str):
    if problem == REGRESSION:
        values = label if isinstance(label, list) else [label]
        try:
            floats = [float(v) for v in values if not isinstance(v, bool)]
        except (TypeError, ValueError):
            floats = []
        if len(floats) != len(values) or len(floats) != len(names):
            raise UsageError(f"label {label!r} is not {len(names)} number(s)", "a regression label is a number")
        return floats if len(names) > 1 else floats[0]
    if problem == MULTI:
        values = label if isinstance(label, list) else [label]
        hot = [0.0] * len(names)
        for v in values:
            hot[label_id(v, names)] = 1.0
        return hot
    return label_id(label, names)


def label_id(label, names: list[str]) -> int:
    """A label name (the checkpoint's) or id -> its id; names first, so a label named "1" is that name."""
    if isinstance(label, str) and label in names:
        return names.index(label)
    value = label
    if isinstance(label, str) and label.strip().lstrip("-").isdigit():
        value = int(label)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    raise UsageError(f"unknown label {label!r}", f"the checkpoint's labels: {', '.join(names)} (or ids 0-{len(names) - 1})")


def run_rows(model, tokenizer, items: list, options: EvalOptions):
    """Logits (N, L) of the rows that are still fine, and those rows; a row whose text cannot be
    encoded gets its error."""
    import torch

    from autocli.tasks import row_limit
    from autocli.tasks.batching import Progress, RunState, encode_all, encoded_rows, forward, warn_truncated

    todo = [s for s, it in enumerate(items) if it.error is None]
    limit = row_limit(model, tokenizer, options.max_length)
    encs = encode_all(tokenizer, [items[s].text for s in todo], [items[s].fields.get("text_pair") for s in todo], limit)
    records: list = [None] * len(items)
    run = RunState(Progress("eval", enabled=not options.quiet))
    rows, slots = encoded_rows(items, todo, encs, records, run)
    for slot, rec in enumerate(records):
        if rec is not None:
            items[slot].error = UsageError(rec.error["message"], rec.error["hint"])
    try:
        outs = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, bar=run.bar) if rows else []
    finally:
        run.bar.close()
    warn_truncated(run.truncated, limit, options.quiet)
    logits = torch.stack(outs) if outs else torch.zeros(0, model.config.num_labels)
    return logits, [items[s] for s in slots]


def score_labels(out: Outcome, names: list[str], gold, picked, problem: str) -> None:
    """Accuracy, averages and per-label scores (and the confusion matrix for single-label) into out."""
    import torch

    L = len(names)
    if problem == MULTI:
        g, p = gold.bool(), picked.bool()  # (N, L)
        accuracy = (g == p).all(-1).float().mean().item()
        counted = [True] * L
    else:
        g = torch.nn.functional.one_hot(gold, L).bool()  # (N, L)
        p = torch.nn.functional.one_hot(picked, L).bool()
        accuracy = (gold == picked).float().mean().item()
        counted = (g | p).any(0).tolist()  # scikit-learn's macro: labels seen in gold or predicted
        matrix = torch.zeros(L, L, dtype=torch.long)
        matrix.index_put_((gold, picked), torch.ones_like(gold), accumulate=True)
        out.confusion = {"labels": names, "matrix": matrix.tolist()}
    tp, fp, fn = ((g & p).sum(0).tolist(), (~g & p).sum(0).tolist(), (g & ~p).sum(0).tolist())
    out.per_label = per_label(names, tp, fp, fn)
    out.metrics.update({"accuracy": accuracy, **averages(out.per_label, tp, fp, fn, counted)})


def prediction(item, names: list[str], picked, problem: str) -> dict:
    if problem == MULTI:
        predicted = [names[j] for j, on in enumerate(picked) if on]
        gold = [names[j] for j, on in enumerate(item.fields["_target"]) if on]
    else:
        predicted, gold = names[picked], names[item.fields["_target"]]
    return {"index": item.index, "prediction": predicted, "gold": gold, "correct": predicted == gold}
