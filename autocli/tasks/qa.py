"""Extractive question answering: (question, context) -> answer spans with scores and character offsets.

Each row is [specials] question [specials] context-window [specials]; long contexts are cut into
windows of --max-length tokens that overlap by --doc-stride tokens.

Score. Within one window w, transformers' (v4) QuestionAnsweringPipeline scores the span (i, j) as
softmax(start)[i] * softmax(end)[j], both softmaxes taken over the window's context tokens and its
CLS token. Those probabilities are normalised per window, so a window that does not hold the answer
still hands out a total of 1 and cannot be compared with the others. autocli uses one normaliser
for all windows of a context:

    score(w, i, j) = exp(s_i + e_j) / sum_w' Z_w',   Z_w = (sum_{k in C_w} exp s_k) * (sum_{k in C_w} exp e_k)

with C_w the context tokens and CLS of window w. For a single window this is exactly the v4
pipeline's score; across windows the spans rank by s_i + e_j (the SQuAD reference ranking), and
scores add up over the windows. The empty answer (--allow-impossible) scores exp(s_cls + e_cls) / sum Z
in the window where it is least likely, as the v4 pipeline takes the minimum over windows: a context
is unanswerable only when every window says so. Answers snap to whole words (v4's align_to_words)
and a span found in two overlapping windows is reported once, with its higher score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import AutocliError, UsageError
from autocli.results import Answer, Answered, error_record
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import Row, RunState, encode_all, failed_inputs, forward, stream_windows, windows

TOP_K = 1
MAX_ANSWER_LENGTH = 15
MAX_LENGTH = 384
DOC_STRIDE = 128


@dataclass
class QAOptions(RunOptions):
    max_length: int | None = MAX_LENGTH
    top_k: int = TOP_K
    max_answer_length: int = MAX_ANSWER_LENGTH
    doc_stride: int = DOC_STRIDE
    allow_impossible: bool = False


@dataclass
class _Plan:
    enc: object
    context: str
    c0: int  # first context token in the full encoding
    spans: list  # [a, b) context slices, one per window
    first: int  # first row of this item
    cls: int | None  # CLS position in every window (it sits in the shared prefix)


def plan_windows(enc, limit: int, doc_stride: int) -> tuple[int, list[tuple[int, int]], list[Row]]:
    """-> (c0, context slices, rows) for one (question, context) encoding."""
    seq = list(enc.sequence_ids)
    ctx = [i for i, s in enumerate(seq) if s == 1]
    if not ctx:
        raise UsageError("the context has no tokens", "give a context with some text in it (not only spaces or symbols the tokenizer drops)")
    c0, c1 = ctx[0], ctx[-1] + 1
    ids, types = list(enc.ids), list(enc.type_ids)
    size = limit - c0 - (len(ids) - c1)
    if size < 1:
        raise UsageError(
            f"the question takes {c0} tokens, leaving no room for the context in {limit}-token windows",
            "shorten the question or raise --max-length",
        )
    overlap = doc_stride if doc_stride < size else size // 2
    spans = windows(c1 - c0, size, overlap)
    rows = [Row(ids[:c0] + ids[c0 + a : c0 + b] + ids[c1:], types[:c0] + types[c0 + a : c0 + b] + types[c1:]) for a, b in spans]
    return c0, spans, rows


def word_bounds(enc, pos: int) -> tuple[int, int]:
    """Character span of the whole context word that token `pos` belongs to (v4 align_to_words)."""
    word_ids, seq = enc.word_ids, enc.sequence_ids
    w = word_ids[pos]
    if w is None:
        return tuple(enc.offsets[pos])
    lo = hi = pos
    while lo > 0 and seq[lo - 1] == 1 and word_ids[lo - 1] == w:
        lo -= 1
    while hi + 1 < len(word_ids) and seq[hi + 1] == 1 and word_ids[hi + 1] == w:
        hi += 1
    return enc.offsets[lo][0], enc.offsets[hi][1]


def ranked_spans(start, end, max_answer_length: int):
    """Every span (logit sum, i, j) of one window's context, i <= j < i + max_answer_length, best first.

    start, end: (n,) logits of the context tokens.
    """
    import torch

    n = start.shape[0]
    i = torch.arange(n)
    valid = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < max_answer_length)  # (n, n)
    firsts, lasts = valid.nonzero(as_tuple=True)  # (S,), (S,)
    sums = start[firsts] + end[lasts]  # (S,)
    order = sums.argsort(descending=True, stable=True)
    return zip(sums[order].tolist(), firsts[order].tolist(), lasts[order].tolist())


def answers_of(outs: list, plan: _Plan, options: QAOptions) -> list[Answer]:
    """Per-window (Tw, 2) logits of one item -> its ranked answers."""
    import torch

    found: dict[tuple[int, int], float] = {}  # (start char, end char) -> logit sum
    log_z, nulls = [], []
    for out, (a, b) in zip(outs, plan.spans):
        n = b - a
        s, e = out[:, 0], out[:, 1]  # (Tw,)
        keep = list(range(plan.c0, plan.c0 + n)) + ([plan.cls] if plan.cls is not None else [])
        log_z.append(s[keep].logsumexp(0) + e[keep].logsumexp(0))
        if plan.cls is not None:
            nulls.append(float(s[plan.cls] + e[plan.cls]))
        # Several token spans can snap to one word span: walk the ranking until top_k distinct ones.
        seen = set()
        for logit, i, j in ranked_spans(s[plan.c0 : plan.c0 + n], e[plan.c0 : plan.c0 + n], options.max_answer_length):
            first, last = plan.c0 + a + i, plan.c0 + a + j  # positions in the full encoding
            span = (word_bounds(plan.enc, first)[0], word_bounds(plan.enc, last)[1])
            if span in seen:
                continue
            seen.add(span)
            if logit > found.get(span, float("-inf")):
                found[span] = logit
            if len(seen) == options.top_k:
                break
    total = float(torch.stack(log_z).logsumexp(0))
    answers = [Answer(plan.context[s:e], _prob(logit, total), s, e) for (s, e), logit in found.items()]
    if options.allow_impossible and nulls:
        answers.append(Answer("", _prob(min(nulls), total), 0, 0))
    answers.sort(key=lambda x: -x.score)
    return answers[: options.top_k]


def _prob(logit: float, log_total: float) -> float:
    return math.exp(logit - log_total)


def qa(model, tokenizer, items: Iterable, options: QAOptions) -> Iterator:
    """One Answered (or error record) per item, in input order, a window of inputs at a time."""
    if options.top_k < 1 or options.max_answer_length < 1 or options.doc_stride < 0:
        raise UsageError("--top-k and --max-answer-length must be at least 1, --doc-stride 0 or more")
    if options.allow_impossible and tokenizer.cls_id is None:
        raise UsageError("this tokenizer has no CLS token to score the empty answer with", "drop --allow-impossible")
    limit = row_limit(model, tokenizer, options.max_length) or MAX_LENGTH
    return stream_windows(items, options, None, lambda window, run: _window(model, tokenizer, window, options, limit, run), "qa")


def _window(model, tokenizer, items: list, options: QAOptions, limit: int, run: RunState) -> list:
    records, todo = failed_inputs(items)

    questions = [items[s].fields["question"] for s in todo]
    contexts = [items[s].fields["context"] for s in todo]
    encs = encode_all(tokenizer, questions, contexts, None)  # whole contexts: windows come next
    rows, plans = [], {}
    for slot, enc, context in zip(todo, encs, contexts):
        try:
            if isinstance(enc, Exception):
                raise enc
            c0, spans, item_rows = plan_windows(enc, limit, options.doc_stride)
        except AutocliError as e:
            records[slot] = error_record(items[slot].index, e)
            continue
        cls = next((p for p in range(c0) if enc.ids[p] == tokenizer.cls_id), None)
        plans[slot] = _Plan(enc, context, c0, spans, len(rows), cls)
        rows += item_rows
    if not rows:
        return records

    outs = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, per_token=True, bar=run.bar)
    for slot, plan in plans.items():
        mine = outs[plan.first : plan.first + len(plan.spans)]  # per window (Tw, 2)
        answers = answers_of(mine, plan, options)
        item = items[slot]
        best = answers[0] if answers else Answer("", 0.0, 0, 0)
        raw = [o.tolist() for o in mine] if options.logits else None
        records[slot] = Answered(item.index, best.answer, best.score, best.start, best.end, answers, raw, item.fields["question"])
    return records
