"""Sequence classification: texts or text pairs -> labels with scores.

The activation follows transformers' TextClassificationPipeline: none for regression, sigmoid for
multi-label or a single label, softmax otherwise; `function` overrides it. A score that is not a
number (NaN: the checkpoint's outputs are broken) gives an error record, never a label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import InvalidCheckpoint, UsageError
from autocli.results import Classification, LabelScore, error_record
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import RunState, encode_all, encoded_rows, failed_inputs, forward, stream_windows

FUNCTIONS = ("softmax", "sigmoid", "none")
TOP_K = 1


@dataclass
class ClassifyOptions(RunOptions):
    top_k: int | None = TOP_K  # None = every label
    function: str | None = None  # None = from the config, as transformers


def default_function(config, num_labels: int) -> str:
    """transformers' TextClassificationPipeline rule, in its order."""
    problem = config.raw.get("problem_type")
    if problem == "regression":
        return "none"
    if problem == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def label_names(config, num_labels: int) -> list[str]:
    id2label = config.id2label
    return [id2label.get(i, f"LABEL_{i}") for i in range(num_labels)]


def activate(logits, function: str):
    """(N, L) logits -> (N, L) scores."""
    if function == "softmax":
        return logits.softmax(-1)
    if function == "sigmoid":
        return logits.sigmoid()
    if function == "none":
        return logits
    raise UsageError(f"unknown --function {function!r}", f"use one of: {', '.join(FUNCTIONS)}")


NOT_A_NUMBER = InvalidCheckpoint(
    "the model's scores are not numbers (NaN)",
    "the checkpoint's weights or config produce NaN; check it with `autocli compat` and `autocli inspect`",
)


def classify(model, tokenizer, items: Iterable, options: ClassifyOptions) -> Iterator:
    """One Classification (or error record) per item, in input order, a window at a time."""
    limit = row_limit(model, tokenizer, options.max_length)
    return stream_windows(items, options, limit, lambda window, run: _window(model, tokenizer, window, options, limit, run), "classify")


def _window(model, tokenizer, items: list, options: ClassifyOptions, limit, run: RunState) -> list:
    import torch

    for item in items:
        pair = item.fields.get("text_pair")
        if item.error is None and pair is not None and not isinstance(pair, str):
            item.error = UsageError(f"field 'text_pair' is a {type(pair).__name__}", 'use "text_pair": "..."')
    records, todo = failed_inputs(items)
    encs = encode_all(tokenizer, [items[s].text for s in todo], [items[s].fields.get("text_pair") for s in todo], limit)
    rows, slots = encoded_rows(items, todo, encs, records, run)
    if not rows:
        return records

    outs = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, bar=run.bar)
    label_records(model.config, torch.stack(outs), [items[s] for s in slots], slots, records, options)
    return records


def label_records(config, logits, items: list, slots: list[int], records: list, options: ClassifyOptions) -> None:
    """Logits (N, L) of items (their record slots) -> Classification records, or an error record for NaN."""
    import torch

    num_labels = logits.shape[-1]
    function = options.function or default_function(config, num_labels)
    scores = activate(logits, function)  # (N, L)
    k = num_labels if options.top_k is None else min(options.top_k, num_labels)
    values, labels = torch.where(scores.isnan(), -math.inf, scores).topk(k, dim=-1)  # (N, k); ±inf kept
    names = label_names(config, num_labels)
    nan = scores.isnan().any(-1).tolist()  # (N,)
    for n, (item, slot, vals, ids) in enumerate(zip(items, slots, values.tolist(), labels.tolist())):
        if nan[n]:
            records[slot] = error_record(item.index, NOT_A_NUMBER)
            continue
        top = [LabelScore(names[j], v) for v, j in zip(vals, ids)]
        raw = logits[n].tolist() if options.logits else None
        records[slot] = Classification(item.index, top[0].label, top[0].score, top, raw, item.shown, item.fields.get("text_pair"))
