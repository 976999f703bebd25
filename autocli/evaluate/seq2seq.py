"""Sequence-to-sequence LM: the loss of transformers' *ForConditionalGeneration given labels (teacher forcing).

Rows: {"source", "target"}. The target is tokenized as the source is (with the tokenizer's special tokens,
as `tokenizer(text_target=...)`), the decoder reads it shifted right (the family's decoder start token), and
every target token is scored. The loss is token-weighted over the whole file (transformers' mean over the
labels of one batch is the same ratio); perplexity is exp(loss). Sources and targets longer than the model's
limit are truncated, with a warning.
"""

from __future__ import annotations

import math
from pathlib import Path

from autocli.evaluate import EvalOptions, Outcome, nothing_scored
from autocli.evaluate.data import read_rows
from autocli.inputs import require
from autocli.results import error_record

METRICS = ("loss", "perplexity")


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    from autocli.tasks import row_limit
    from autocli.tasks.batching import encode_all, warn_truncated

    items = list(read_rows(path, options.limit))
    for item in items:
        require(item, "source", "target")
    todo = [it for it in items if it.error is None]
    limit = row_limit(model, tokenizer, options.max_length)
    pairs, cut = [], []
    for it, src, tgt in zip(todo, encode_all(tokenizer, [it.fields["source"] for it in todo], None, limit),
                            encode_all(tokenizer, [it.fields["target"] for it in todo], None, limit)):
        bad = src if isinstance(src, Exception) else tgt if isinstance(tgt, Exception) else None
        if bad is not None:
            it.error = bad
            continue
        if src.truncated or tgt.truncated:
            cut.append(it.index)
        pairs.append((it, list(src.ids), list(tgt.ids)))
    warn_truncated(cut, limit, options.quiet, "row")
    errors = [error_record(it.index, it.error) for it in items if it.error is not None]
    if not pairs:
        raise nothing_scored(path, len(items), errors)
    sums = teacher_forced_nll(model, tokenizer, [(s, t) for _, s, t in pairs], options)
    total, count = sum(s for s, _ in sums), sum(n for _, n in sums)
    metrics = {"loss": total / count, "perplexity": math.exp(total / count) if total / count < 700 else math.inf}
    out = Outcome(metrics, len(items), errors, {"target_tokens": count})
    out.predictions = [{"index": it.index, "loss": s / n, "tokens": n} for (it, _, _), (s, n) in zip(pairs, sums)]
    return out


def teacher_forced_nll(model, tokenizer, pairs: list, options: EvalOptions) -> list[tuple[float, int]]:
    """(sum of NLL, target tokens) per (source ids, target ids) pair, in length-sorted batches."""
    from autocli.evaluate import in_batches
    from autocli.evaluate.losses import token_nll
    from autocli.tasks.batching import Row, pad

    module, pad_id = model.module, tokenizer.pad_id

    def run(batch):
        src, src_mask, _ = pad([Row(pairs[i][0]) for i in batch], pad_id, model.device)  # (B, S)
        labels, label_mask, _ = pad([Row(pairs[i][1]) for i in batch], pad_id, model.device)  # (B, T)
        h = module.full_decode(src, src_mask, module.backbone.decoder_inputs(labels))  # (B, T, H)
        keep = label_mask.bool()
        nll = token_nll(module.logits(h[keep]), labels[keep])  # (N,) row after row
        return [(part.sum().item(), part.numel()) for part in nll.split(keep.sum(-1).tolist())]

    return in_batches(model, [len(s) + len(t) for s, t in pairs], options, run)
