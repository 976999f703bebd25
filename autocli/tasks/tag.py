"""Token classification: texts -> entities with labels, scores and character offsets.

Aggregation follows transformers' TokenClassificationPipeline exactly (none | simple | first |
average | max): B-/I- grouping, subword detection, word-level strategies, ignored labels.

Texts longer than the model's limit are cut into windows that overlap by `stride` tokens. Each
token takes its scores from the window where it sits furthest from a cut (the overlap is split in
the middle), so every token is scored once with context on both sides, and aggregation then runs
once over the whole text: an entity that spans a cut is not split in two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import AutocliError, UsageError
from autocli.results import Entity, Tagged, error_record
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import Row, RunState, encode_all, failed_inputs, forward, owned_parts, stream_windows, windows

AGGREGATIONS = ("none", "simple", "first", "average", "max")
AGGREGATION = "simple"
IGNORE_LABELS = ("O",)
STRIDE = 32


@dataclass
class TagOptions(RunOptions):
    aggregation: str = AGGREGATION
    ignore_labels: tuple[str, ...] = IGNORE_LABELS
    stride: int = STRIDE  # tokens shared by consecutive windows


# ---- windows over one encoding ----------------------------------------------------------------


def content_span(enc) -> tuple[int, int]:
    """[c0, c1): the tokens of the text itself, between the specials the template adds around it."""
    seq = list(enc.sequence_ids)
    inside = [i for i, s in enumerate(seq) if s is not None]
    if not inside:
        return len(seq), len(seq)
    return inside[0], inside[-1] + 1


def window_rows(enc, limit: int | None, overlap: int) -> tuple[list[Row], list[tuple[int, int]]]:
    """The forward rows of one text, and each row's content slice."""
    ids, types = list(enc.ids), list(enc.type_ids)
    c0, c1 = content_span(enc)
    if limit is None or len(ids) <= limit:
        return [Row(ids, types)], [(0, c1 - c0)]
    size = limit - (c0 + len(ids) - c1)
    if size < 1:
        raise UsageError(f"--max-length {limit} leaves no room for text between the special tokens")
    spans = windows(c1 - c0, size, overlap)
    rows = [Row(ids[:c0] + ids[c0 + a : c0 + b] + ids[c1:], types[:c0] + types[c0 + a : c0 + b] + types[c1:]) for a, b in spans]
    return rows, spans


def merge(outputs: list, spans: list[tuple[int, int]], enc):
    """Per-window (Tw, L) outputs -> one (T, L) over the whole encoding."""
    import torch

    if len(outputs) == 1:
        return outputs[0]
    c0, c1 = content_span(enc)
    n = c1 - c0
    parts = [outputs[0][:c0]]  # leading specials
    for out, (a, _), (lo, hi) in zip(outputs, spans, owned_parts(spans, n)):
        parts.append(out[c0 + lo - a : c0 + hi - a])
    parts.append(outputs[-1][c0 + spans[-1][1] - spans[-1][0] :])  # trailing specials
    return torch.cat(parts)  # (T, L)


# ---- transformers' TokenClassificationPipeline post-processing ----------------------------------


@dataclass
class _Pre:
    token: int
    word: str
    scores: object  # (L,) tensor
    best: int  # argmax label
    score: float  # its probability
    start: int
    end: int
    is_subword: bool


class _Tokens:
    """What aggregation needs from the tokenizer: subword style, unknown id, tokens -> string."""

    def __init__(self, tokenizer):
        self.word_aware = tokenizer.subword_prefix is not None
        self.unk_id = tokenizer.unk_id
        self.to_string = tokenizer.join_tokens


def gather(text: str, enc, scores, toks: _Tokens) -> list[_Pre]:
    """The pipeline's pre-entities: every non-special token with its scores and whether it continues a word."""
    best = scores.argmax(-1)  # (T,)
    best_scores = scores.gather(-1, best[:, None])[:, 0].tolist()  # (T,)
    best = best.tolist()
    pre = []
    for p, (tid, word, (start, end), special) in enumerate(zip(enc.ids, enc.tokens, enc.offsets, enc.special_tokens_mask)):
        if special:
            continue
        ref = text[start:end]
        if toks.word_aware:
            is_subword = len(word) != len(ref)
        else:  # transformers' fallback for tokenizers that do not mark word pieces
            is_subword = start > 0 and " " not in text[start - 1 : start + 1]
        if tid == toks.unk_id:
            word, is_subword = ref, False
        pre.append(_Pre(p, word, scores[p], best[p], best_scores[p], start, end, is_subword))
    return pre


def _best(scores, names) -> tuple[str, float]:
    i = int(scores.argmax())
    return names[i], float(scores[i])


def aggregate_word(group: list[_Pre], strategy: str, names, toks: _Tokens) -> dict:
    import torch

    if strategy == "first":
        label, score = names[group[0].best], group[0].score
    elif strategy == "max":
        top = max(group, key=lambda e: e.score)
        label, score = names[top.best], top.score
    elif strategy == "average":
        label, score = _best(torch.stack([e.scores for e in group]).nanmean(0), names)  # (L,)
    else:
        raise UsageError(f"unknown word aggregation {strategy!r}")
    word = toks.to_string([e.word for e in group])
    return {"label": label, "score": score, "word": word, "start": group[0].start, "end": group[-1].end, "token": None}


def token_entities(pre: list[_Pre], strategy: str, names, toks: _Tokens) -> list[dict]:
    if strategy in ("none", "simple"):
        out = []
        for e in pre:
            out.append({"label": names[e.best], "score": e.score, "word": e.word, "start": e.start, "end": e.end, "token": e.token})
        return out
    words, group = [], []
    for e in pre:
        if group and not e.is_subword:
            words.append(aggregate_word(group, strategy, names, toks))
            group = []
        group.append(e)
    if group:
        words.append(aggregate_word(group, strategy, names, toks))
    return words


def split_tag(label: str) -> tuple[str, str]:
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label  # no B-/I- prefix: a continuation


def group(members: list[dict], toks: _Tokens) -> dict:
    import math

    scores = [m["score"] for m in members if not math.isnan(m["score"])]
    return {
        "label": members[0]["label"].split("-", 1)[-1],
        "score": sum(scores) / len(scores) if scores else float("nan"),
        "word": toks.to_string([m["word"] for m in members]),
        "start": members[0]["start"],
        "end": members[-1]["end"],
        "token": None,
    }


def group_entities(entities: list[dict], toks: _Tokens) -> list[dict]:
    """Adjacent entities of one tag merge unless the next one begins with B-."""
    out, run = [], []
    for e in entities:
        if run:
            bi, tag = split_tag(e["label"])
            _, last = split_tag(run[-1]["label"])
            if not (tag == last and bi != "B"):
                out.append(group(run, toks))
                run = []
        run.append(e)
    if run:
        out.append(group(run, toks))
    return out


def entities_of(text: str, enc, scores, options: TagOptions, names, toks: _Tokens) -> list[Entity]:
    """(T, L) probabilities of one text -> its entities."""
    pre = gather(text, enc, scores, toks)
    found = token_entities(pre, options.aggregation, names, toks)
    if options.aggregation != "none":
        found = group_entities(found, toks)
    ignore = set(options.ignore_labels)
    return [
        Entity(e["label"], e["score"], text[e["start"] : e["end"]], e["start"], e["end"], e["word"], e["token"])
        for e in found
        if e["label"] not in ignore
    ]


def tag(model, tokenizer, items: Iterable, options: TagOptions) -> Iterator:
    """One Tagged (or error record) per item, in input order, a window of inputs at a time."""
    if options.aggregation not in AGGREGATIONS:
        raise UsageError(f"unknown aggregation {options.aggregation!r}", f"use one of: {', '.join(AGGREGATIONS)}")
    if options.stride < 0:
        raise UsageError("--stride must be 0 or more")
    limit = row_limit(model, tokenizer, options.max_length)
    return stream_windows(items, options, None, lambda window, run: _window(model, tokenizer, window, options, limit, run), "tag")


def _window(model, tokenizer, items: list, options: TagOptions, limit, run: RunState) -> list:
    from autocli.tasks.classify import label_names

    records, todo = failed_inputs(items)

    encs = encode_all(tokenizer, [items[s].text for s in todo], None, None)  # whole texts: windows come next
    rows, plans = [], {}
    for slot, enc in zip(todo, encs):
        try:
            if isinstance(enc, Exception):
                raise enc
            text_rows, spans = window_rows(enc, limit, options.stride)
        except AutocliError as e:
            records[slot] = error_record(items[slot].index, e)
            continue
        plans[slot] = (enc, spans, len(rows), len(text_rows))
        rows += text_rows
    if not rows:
        return records

    outs = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, per_token=True, bar=run.bar)
    names = label_names(model.config, outs[0].shape[-1])
    toks = _Tokens(tokenizer)
    for slot, (enc, spans, first, count) in plans.items():
        scores = merge([o.softmax(-1) for o in outs[first : first + count]], spans, enc)  # (T, L)
        raw = merge(outs[first : first + count], spans, enc).tolist() if options.logits else None  # (T, L)
        item = items[slot]
        records[slot] = Tagged(item.index, entities_of(item.text, enc, scores, options, names, toks), raw, item.text)
    return records
