"""`autocli eval`: a checkpoint scored on a labelled data file: losses as transformers computes them with
labels, and the task's metrics as their reference implementations define them.

One module per task family: lm (causal LM loss, perplexity, bits per byte), seq2seq (teacher-forced loss),
classification (sequence classification), tagging (entity-level token classification), squad (extractive
QA), choice (multiple choice), generation (exact match and chrF of generated text). Each gives METRICS (the names --min and --max may use) and
evaluate(model, tokenizer, path, options) -> Outcome. data.py reads the files, losses.py holds the losses,
scores.py precision/recall/F1, bounds.py the --min/--max conditions. Nothing here imports torch at import time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from autocli.errors import UsageError

# task -> the module that evaluates it
MODULES = {
    "causal-lm": "lm",
    "sequence-classification": "classification",
    "token-classification": "tagging",
    "question-answering": "squad",
    "multiple-choice": "choice",
    "seq2seq-lm": "seq2seq",
    "generation": "generation",  # eval's own task: the LM head generates, its text is scored
}


@dataclass
class EvalOptions:
    batch_size: int
    max_length: int | None = None  # tokens per forward row; None = the model's limit
    stride: int | None = None  # causal LM: how far each window moves; None = half the window
    limit: int | None = None  # the first N rows (lines of a plain text file)
    quiet: bool = False
    allow_impossible: bool = False  # QA: a row may have no answer (SQuAD v2.0)
    seed: int | None = None  # generation: seeds sampling, when the checkpoint's settings sample
    ckpt: object = None  # the resolved checkpoint (generation reads its generation_config.json)
    max_new_tokens: int | None = None  # generation: None = the checkpoint's setting


@dataclass
class Outcome:
    metrics: dict  # name -> value
    examples: int  # rows read, failed ones included
    errors: list  # ErrorRecords of the rows that could not be scored
    details: dict = field(default_factory=dict)
    predictions: list = field(default_factory=list)  # one dict per example (or window), for --predictions
    per_label: list | None = None
    confusion: dict | None = None


def module_for(task: str):
    name = MODULES.get(task)
    if name is None:
        raise UsageError(f"autocli eval does not evaluate {task} checkpoints",
                         f"give --task, one of: {', '.join(MODULES)}")
    return importlib.import_module(f"autocli.evaluate.{name}")


def metrics_of(task: str) -> tuple[str, ...]:
    return module_for(task).METRICS


def report(outcome: Outcome, task: str, model: str, data: str, bounds: list):
    """The EvalReport of one run: the outcome, and each --min/--max bound checked against its metrics."""
    from autocli.evaluate.bounds import check
    from autocli.reports import EvalReport

    checks = check(bounds, outcome.metrics)
    return EvalReport(task, model, data, outcome.metrics, outcome.examples, len(outcome.errors), outcome.errors, checks,
                      all(c.passed for c in checks), outcome.details, outcome.per_label, outcome.confusion)


def finish(rep, quiet: bool = False) -> None:
    """After the report is printed: exit 6 when a bound failed, else 7 when some rows could not be scored."""
    from autocli.errors import BatchIncomplete, RequirementFailed
    from autocli.tasks.batching import WARN_MAX_INDICES, warn

    if rep.failed:
        first = rep.errors[0]
        shown = ", ".join(str(e.index) for e in rep.errors[:WARN_MAX_INDICES]) + (", ..." if rep.failed > WARN_MAX_INDICES else "")
        warn(f"{rep.failed} of {rep.examples} rows not scored (row {shown}); row {first.index}: {first.error['message']}", quiet)
    failed = [c for c in rep.bounds if not c.passed]
    if failed:
        said = "; ".join(f"{c.metric} = {_number(c.value)} is {'below' if c.bound == 'min' else 'above'} {c.limit:g}" for c in failed)
        raise RequirementFailed(f"{len(failed)} of {len(rep.bounds)} bounds failed: {said}", "the report lists every bound with its value")
    if rep.failed:
        raise BatchIncomplete(f"{rep.failed} of {rep.examples} rows could not be scored",
                              "the report's errors list each; the metrics leave them out")


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def in_batches(model, lengths: list[int], options: EvalOptions, run) -> list:
    """run(batch of row indices) -> one result per row, over length-sorted batches (at most --batch-size
    rows and, on CPU, a bounded number of padded tokens), with a progress bar; results in row order."""
    import torch

    from autocli.tasks.batching import CPU_MAX_BATCH_TOKENS, Progress, plan

    on_cpu = model.device.type == "cpu"
    batches = plan(lengths, options.batch_size, CPU_MAX_BATCH_TOKENS if on_cpu else None)
    bar = Progress("eval", enabled=not options.quiet)
    bar.grow(len(lengths), len(batches))
    out: list = [None] * len(lengths)
    try:
        with torch.inference_mode():
            for batch in batches:
                for i, res in zip(batch, run(batch)):
                    out[i] = res
                bar.advance(len(batch))
    finally:
        bar.close()
    return out


def nothing_scored(path, rows: int, errors: list) -> UsageError:
    """The error when no row of the file could be scored: there are no metrics to report."""
    first = f"row {errors[0].index}: {errors[0].error['message']}" if errors else None
    return UsageError(f"none of the {rows} rows of {path} could be scored", first)
