"""Choosing among candidate texts: a multiple-choice head, or BERT's next-sentence head.

multiple-choice: each (question, choice) pair gets one logit; the choices of a question are
    softmaxed together, as *ForMultipleChoice models are trained.
nsp: each (question, choice) pair is scored on its own: the probability that the choice follows
    the question as the next sentence (index 0 of BERT's next-sentence head).
The head scores each pair independently, so pairs are batched by length like any other rows and
the choices of one question may land in different batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import UsageError
from autocli.results import ChoiceScore, Chosen, error_record
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import Row, RunState, encode_all, failed_inputs, forward, stream_windows

MODES = {"multiple-choice": "multiple-choice", "nsp": "next-sentence-prediction"}  # mode -> model task
IS_NEXT = 0  # BERT's next-sentence head: index 0 = "B follows A"


@dataclass
class ChooseOptions(RunOptions):
    mode: str = "multiple-choice"


def check_item(item, mode: str) -> None:
    """Give the item an error unless it has a question and a list of choices (strings)."""
    if item.error is not None:
        return
    question, choices = item.fields.get("question"), item.fields.get("choices")
    least = 2 if mode == "multiple-choice" else 1
    if not isinstance(question, str):
        item.error = UsageError(f"field 'question' is {'missing' if question is None else 'not a string'}", 'use {"question": "...", "choices": [...]}')
    elif not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        item.error = UsageError("field 'choices' is not a list of strings", 'use {"question": "...", "choices": ["...", "..."]}')
    elif len(choices) < least:
        item.error = UsageError(f"{len(choices)} choice{'s' if len(choices) != 1 else ''}; {mode} needs at least {least}")


def choose(model, tokenizer, items: Iterable, options: ChooseOptions) -> Iterator:
    """One Chosen (or error record) per item, in input order, a window of inputs at a time."""
    if options.mode not in MODES:
        raise UsageError(f"unknown mode {options.mode!r}", f"use one of: {', '.join(MODES)}")
    limit = row_limit(model, tokenizer, options.max_length)
    return stream_windows(items, options, limit, lambda window, run: _window(model, tokenizer, window, options, limit, run), "choose")


def _call(model, mode: str):
    """How to run a batch of (question, choice) rows: (ids, mask, types) -> ((B,) scores, (B, ...) raw outputs)."""
    if mode == "multiple-choice":
        def call(ids, mask, types):  # (B, T) pairs as B questions of one choice each
            raw = model(ids[:, None], mask[:, None], None if types is None else types[:, None])  # (B, 1)
            return raw[:, 0], raw
    else:
        def call(ids, mask, types):  # P(is next) from BERT's next-sentence head
            raw = model(ids, mask, types)  # (B, 2)
            return raw.float().softmax(-1)[:, IS_NEXT], raw
    return call


def _window(model, tokenizer, items: list, options: ChooseOptions, limit, run: RunState) -> list:
    import torch

    for item in items:
        check_item(item, options.mode)
    records, todo = failed_inputs(items)
    pairs = [(slot, c) for slot in todo for c in range(len(items[slot].fields["choices"]))]  # (slot, choice number)

    firsts = [items[s].fields["question"] for s, _ in pairs]
    seconds = [items[s].fields["choices"][c] for s, c in pairs]
    encs = encode_all(tokenizer, firsts, seconds, limit)
    rows, owners, failed, cut = [], [], {}, set()
    for (slot, c), enc in zip(pairs, encs):
        if isinstance(enc, Exception):
            failed.setdefault(slot, enc)
            continue
        if enc.truncated:
            cut.add(items[slot].index)
        rows.append(Row(list(enc.ids), list(enc.type_ids)))
        owners.append((slot, c))
    for slot, err in failed.items():
        records[slot] = error_record(items[slot].index, err)
    run.truncated += sorted(cut)

    call = _call(model, options.mode)

    def post(out, mask, batch):  # -> per row (score, raw outputs)
        scores, raw = out
        return list(zip(scores.float().cpu().tolist(), raw.float().cpu().tolist()))

    outs = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, call=call, post=post, bar=run.bar) if rows else []
    per_item: dict[int, dict[int, tuple]] = {}
    for (slot, c), out in zip(owners, outs):
        per_item.setdefault(slot, {})[c] = out
    for slot, got in per_item.items():
        if slot in failed:
            continue
        item = items[slot]
        choices = item.fields["choices"]
        values = torch.tensor([got[c][0] for c in range(len(choices))])  # (C,)
        scores = values.softmax(-1) if options.mode == "multiple-choice" else values
        listed = [ChoiceScore(c, text, s, got[c][1] if options.logits else None) for c, (text, s) in enumerate(zip(choices, scores.tolist()))]
        best = max(listed, key=lambda x: x.score)
        records[slot] = Chosen(item.index, best.choice, best.text, best.score, listed, item.fields["question"])
    return records
