"""Extractive QA: SQuAD exact match and F1 with the official scripts' answer normalisation.

Rows in SQuAD's shape: {"question", "context", "answers": {"text": [...], "answer_start": [...]}}. The answers
come from `autocli qa` (tasks/qa.py: windows over long contexts, answers snapped to words). Each question
scores its best match over the gold answers. Scores are percentages (0-100), as the official scripts print.

Without --allow-impossible every row needs a gold answer (SQuAD v1.1). With it (SQuAD v2.0) a row whose
answer list is empty is unanswerable: the model may answer "" and the metrics split into has_ans_* and
no_ans_* as v2.0's HasAns/NoAns. F1 of an empty answer is 1 against an empty gold and 0 otherwise.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from pathlib import Path

from autocli.errors import UsageError
from autocli.evaluate import EvalOptions, Outcome, nothing_scored
from autocli.evaluate.data import read_rows
from autocli.inputs import require
from autocli.results import ErrorRecord

METRICS = ("exact_match", "f1", "has_ans_exact", "has_ans_f1", "no_ans_exact", "no_ans_f1")
PUNCTUATION = set(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces: the official scripts' normalize_answer."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact(gold: str, pred: str) -> int:
    return int(normalize(gold) == normalize(pred))


def f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = normalize(gold).split(), normalize(pred).split()
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    same = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def score(golds: list[str], pred: str) -> tuple[int, float]:
    """(exact, F1) of one prediction: the best over the gold answers that are not empty once normalised
    (none: the question is unanswerable, its gold is "")."""
    golds = [g for g in golds if normalize(g)] or [""]
    return max(exact(g, pred) for g in golds), max(f1(g, pred) for g in golds)


def check_row(item, allow_impossible: bool) -> None:
    require(item, "question", "context")
    if item.error is not None:
        return
    answers = item.fields.get("answers")
    texts = answers.get("text") if isinstance(answers, dict) else None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        item.error = UsageError("field 'answers' is not {\"text\": [...], \"answer_start\": [...]}", "use SQuAD's answers shape")
    elif not texts and not allow_impossible:
        item.error = UsageError("the row has no gold answer", "give --allow-impossible to score unanswerable questions (SQuAD v2.0)")


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    from autocli.tasks.qa import MAX_LENGTH, QAOptions, qa

    items = list(read_rows(path, options.limit))
    for item in items:
        check_row(item, options.allow_impossible)
    qa_options = QAOptions(options.batch_size, options.max_length or MAX_LENGTH, options.quiet, allow_impossible=options.allow_impossible)
    records = list(qa(model, tokenizer, items, qa_options))
    errors = [r for r in records if isinstance(r, ErrorRecord)]
    scored = [(items[n], r) for n, r in enumerate(records) if not isinstance(r, ErrorRecord)]
    if not scored:
        raise nothing_scored(path, len(items), errors)
    rows = []
    for item, rec in scored:
        golds = item.fields["answers"]["text"]
        em, f = score(golds, rec.answer)
        rows.append({"index": item.index, "prediction": rec.answer, "gold": golds, "exact": em, "f1": f, "has_answer": bool(golds)})
    out = Outcome(_totals(rows, ""), len(items), errors, {"questions": len(rows)})
    if options.allow_impossible:
        for prefix, has in (("has_ans_", True), ("no_ans_", False)):
            part = [r for r in rows if r["has_answer"] == has]
            out.details[f"{prefix}total"] = len(part)
            if part:
                out.metrics.update(_totals(part, prefix))
    out.predictions = rows
    return out


def _totals(rows: list, prefix: str) -> dict:
    name = "exact" if prefix else "exact_match"
    return {prefix + name: 100.0 * sum(r["exact"] for r in rows) / len(rows), prefix + "f1": 100.0 * sum(r["f1"] for r in rows) / len(rows)}
