"""Token classification: entity-level precision, recall and F1 (seqeval's default and strict modes), the loss.

Rows: {"tokens": [...], "tags": [...]} (or CoNLL). Words are encoded pre-split, as transformers'
token-classification examples do; each word's label and prediction are those of its first sub-word, the
other sub-words and the special tokens carry no label (-100), so the loss is transformers' loss with those
labels. A gold tag the checkpoint does not have makes its row an error record. Words cut off by --max-length
are left out of gold and predictions alike (a warning names the rows), as the examples' evaluation does.

precision / recall / f1: seqeval's default (conlleval) chunking, micro-averaged over entities;
strict_*: seqeval's strict mode with the IOB2 scheme, IOBES when the tags use E-/S- (absent when the tags
fit neither); accuracy: of the word tags; per label: per entity type, default mode.
"""

from __future__ import annotations

from pathlib import Path

from autocli.errors import UsageError
from autocli.evaluate import EvalOptions, Outcome, nothing_scored
from autocli.evaluate.data import read_rows
from autocli.evaluate.entities import default_entities, scheme_of, strict_entities, valid_for
from autocli.evaluate.scores import per_label, prf
from autocli.results import error_record
from autocli.tasks.classify import label_names

METRICS = ("loss", "precision", "recall", "f1", "strict_precision", "strict_recall", "strict_f1", "accuracy")


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    import torch

    from autocli.evaluate.losses import token_nll

    names = label_names(model.config, model.config.num_labels)
    items = list(read_rows(path, options.limit))
    for item in items:
        check_row(item, names)
    outs, kept = run_rows(model, tokenizer, items, options)  # per row: (words, L) logits of first sub-words
    errors = [error_record(it.index, it.error) for it in items if it.error is not None]
    if not kept:
        raise nothing_scored(path, len(items), errors)
    gold_ids = [it.fields["_ids"][: len(o)] for it, o in zip(kept, outs)]
    nll = token_nll(torch.cat(outs), torch.tensor([i for g in gold_ids for i in g]))  # (words,)
    gold = [[names[i] for i in g] for g in gold_ids]
    pred = [[names[i] for i in o.argmax(-1).tolist()] for o in outs]
    metrics = {"loss": nll.mean().item(), **entity_scores(gold, pred)}
    words = sum(len(g) for g in gold)
    metrics["accuracy"] = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)) / words
    out = Outcome(metrics, len(items), errors, {"words": words, "scheme": scheme_of(gold + pred)})
    out.per_label = type_scores(gold, pred)
    out.predictions = [{"index": it.index, "tokens": it.fields["tokens"][: len(p)], "prediction": p, "gold": g}
                       for it, p, g in zip(kept, pred, gold)]
    return out


def check_row(item, names: list[str]) -> None:
    """tokens and tags: lists of strings of one length, every tag one of the checkpoint's labels."""
    if item.error is not None:
        return
    tokens, tags = item.fields.get("tokens"), item.fields.get("tags")
    for field, value in (("tokens", tokens), ("tags", tags)):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            item.error = UsageError(f"field '{field}' is not a list of non-empty strings", 'each row needs "tokens": [...] and "tags": [...]')
            return
    if len(tokens) != len(tags):
        item.error = UsageError(f"{len(tokens)} tokens but {len(tags)} tags", "one tag per token")
        return
    unknown = [t for t in tags if t not in names]
    if unknown:
        item.error = UsageError(f"unknown tag {unknown[0]!r}", f"the checkpoint's labels: {', '.join(names)}")
        return
    item.fields["_ids"] = [names.index(t) for t in tags]


def run_rows(model, tokenizer, items: list, options: EvalOptions):
    """Per scored row, the (words kept, L) logits at each word's first sub-word; and those rows."""
    from autocli.tasks import row_limit
    from autocli.tasks.batching import Progress, Row, forward, warn_truncated

    limit = row_limit(model, tokenizer, options.max_length)
    encs = encode_words(tokenizer, [it.fields["tokens"] for it in items if it.error is None], limit)
    for it, enc in zip([it for it in items if it.error is None], encs):
        if isinstance(enc, Exception):
            it.error = enc
    todo = [it for it in items if it.error is None]
    firsts, rows, truncated = [], [], []
    for it, enc in zip(todo, [e for e in encs if not isinstance(e, Exception)]):
        first = first_subwords(enc.word_ids)
        if len(first) < len(it.fields["tokens"]):
            truncated.append(it.index)
        firsts.append(first)
        rows.append(Row(list(enc.ids), list(enc.type_ids)))
    bar = Progress("eval", enabled=not options.quiet)
    try:
        outs = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, per_token=True, bar=bar) if rows else []
    finally:
        bar.close()
    warn_truncated(truncated, limit, options.quiet, "row")
    return [o[f] for o, f in zip(outs, firsts)], todo


def encode_words(tokenizer, words: list[list[str]], limit: int | None) -> list:
    """Pre-split words -> Encoded (with the special tokens, truncated to `limit` tokens), or the error of a
    row the tokenizer refuses, in its place."""
    from autocli.errors import AutocliError

    try:
        return tokenizer.encode_batch(words, max_length=limit, words=True) if words else []
    except AutocliError:  # find the row that fails, keep the others
        out = []
        for row in words:
            try:
                out += tokenizer.encode_batch([row], max_length=limit, words=True)
            except AutocliError as e:
                out.append(e)
        return out


def first_subwords(word_ids: list) -> list[int]:
    """The position of each word's first sub-word, in word order (words cut off by truncation have none)."""
    seen, out = set(), []
    for pos, w in enumerate(word_ids):
        if w is not None and w not in seen:
            seen.add(w)
            out.append(pos)
    return out


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    tp, n_pred, n_gold = _counts(gold, pred, default_entities)
    p, r, f = prf(tp, n_pred - tp, n_gold - tp)
    out = {"precision": p, "recall": r, "f1": f}
    scheme = scheme_of(gold + pred)
    if valid_for(scheme, gold + pred):
        tp, n_pred, n_gold = _counts(gold, pred, lambda tags: strict_entities(tags, scheme))
        out.update(zip(("strict_precision", "strict_recall", "strict_f1"), prf(tp, n_pred - tp, n_gold - tp)))
    return out


def _counts(gold, pred, entities) -> tuple[int, int, int]:
    tp = n_pred = n_gold = 0
    for g, p in zip(gold, pred):
        eg, ep = entities(g), entities(p)
        tp, n_pred, n_gold = tp + len(eg & ep), n_pred + len(ep), n_gold + len(eg)
    return tp, n_pred, n_gold


def type_scores(gold, pred) -> list:
    """Per entity type (default mode), types in name order."""
    eg = [default_entities(g) for g in gold]
    ep = [default_entities(p) for p in pred]
    types = sorted({e[0] for s in eg + ep for e in s})
    tp = [sum(len({e for e in g & p if e[0] == t}) for g, p in zip(eg, ep)) for t in types]
    n_pred = [sum(1 for s in ep for e in s if e[0] == t) for t in types]
    n_gold = [sum(1 for s in eg for e in s if e[0] == t) for t in types]
    return per_label(types, tp, [p - t for p, t in zip(n_pred, tp)], [g - t for g, t in zip(n_gold, tp)])
