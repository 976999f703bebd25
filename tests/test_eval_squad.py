"""`autocli eval` on extractive QA: exact match and F1 equal the official SQuAD v1.1 / v2.0 scripts' logic
(re-stated below as the oracle: no installable package gives it without the Hub), HasAns/NoAns split."""

from __future__ import annotations

import collections
import json
import random
import re
import string

import pytest

from tests.fx_models import build_checkpoint

# ---- the official evaluation scripts (SQuAD v1.1 evaluate-v1.1.py, v2.0 evaluate-v2.0.py), as published ----


def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def v1_f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def v1_exact_match_score(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def v1_evaluate(golds: list[list[str]], preds: list[str]) -> dict:
    em = sum(max(v1_exact_match_score(p, g) for g in gs) for gs, p in zip(golds, preds))
    f1 = sum(max(v1_f1_score(p, g) for g in gs) for gs, p in zip(golds, preds))
    return {"exact_match": 100.0 * em / len(preds), "f1": 100.0 * f1 / len(preds)}


def v2_compute_exact(a_gold, a_pred):
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def v2_compute_f1(a_gold, a_pred):
    gold_toks = normalize_answer(a_gold).split() if a_gold else []
    pred_toks = normalize_answer(a_pred).split() if a_pred else []
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def v2_evaluate(golds: list[list[str]], preds: list[str]) -> dict:
    exact, f1, has = [], [], []
    for gs, p in zip(golds, preds):
        gold_answers = [a for a in gs if normalize_answer(a)] or [""]
        exact.append(max(v2_compute_exact(a, p) for a in gold_answers))
        f1.append(max(v2_compute_f1(a, p) for a in gold_answers))
        has.append(bool(gs))
    out = {"exact": 100.0 * sum(exact) / len(exact), "f1": 100.0 * sum(f1) / len(f1)}
    for name, flag in (("HasAns", True), ("NoAns", False)):
        idx = [i for i, h in enumerate(has) if h == flag]
        if idx:
            out[f"{name}_exact"] = 100.0 * sum(exact[i] for i in idx) / len(idx)
            out[f"{name}_f1"] = 100.0 * sum(f1[i] for i in idx) / len(idx)
    return out


# ---- tests -------------------------------------------------------------------------------------------

PIECES = ["The", "cat", "a", "An", "an", "the", "Mat,", "mat", "dog.", "(old)", "stone-wall", "ÉLAN", "élan", "!", "--", "theatre", "and"]


@pytest.mark.parametrize("seed", range(60))
def test_scores_equal_official_scripts(seed):
    from autocli.evaluate.squad import score

    rng = random.Random(seed)
    phrase = lambda: " ".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5)))  # noqa: E731
    golds = [phrase() for _ in range(rng.randint(0, 3))]
    pred = phrase()
    em, f1 = score(golds, pred)
    gold_answers = [a for a in golds if normalize_answer(a)] or [""]
    assert em == max(v2_compute_exact(a, pred) for a in gold_answers)
    assert f1 == pytest.approx(max(v2_compute_f1(a, pred) for a in gold_answers))
    if golds and any(normalize_answer(g) for g in golds):  # v1.1's data always has an answer
        kept = [g for g in golds if normalize_answer(g)]
        assert em == max(v1_exact_match_score(pred, g) for g in kept)
        assert f1 == pytest.approx(max(v1_f1_score(pred, g) for g in kept))


WORDS = "Ada Lovelace was born in London in 1815 and worked with Charles Babbage on the Analytical Engine".split()


def _rows(n: int, seed: int, impossible: bool) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        context = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        words = context.split()
        a = rng.randrange(len(words))
        answer = " ".join(words[a : a + rng.randint(1, 3)])
        texts = [] if impossible and i % 3 == 0 else [answer, "the " + answer + "."]
        rows.append({"question": "Who " + " ".join(rng.choice(WORDS) for _ in range(4)) + "?", "context": context,
                     "answers": {"text": texts, "answer_start": [context.find(answer)] * len(texts)}})
    return rows


@pytest.mark.parametrize("impossible", [False, True])
def test_eval_equals_official_on_qa_predictions(cli, tiny_root, tmp_path, impossible):
    folder = build_checkpoint(tiny_root, "bert", "question-answering")
    rows = _rows(16, seed=int(impossible), impossible=impossible)
    data = tmp_path / "dev.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = tmp_path / "preds.jsonl"
    flags = ["--allow-impossible"] if impossible else []
    res = cli(["eval", folder, data, "-f", "json", "-q", "--predictions", preds, *flags])
    assert res.exit_code == 0, res.stderr
    rep = res.json()
    assert rep["task"] == "question-answering"
    answered = [json.loads(x)["prediction"] for x in preds.read_text().splitlines()]
    qa = cli(["qa", folder, "--jsonl", "-f", "jsonl", "-q", *flags], input=data.read_text())
    assert answered == [r["answer"] for r in qa.jsonl()]  # the answers `autocli qa` gives
    golds = [r["answers"]["text"] for r in rows]
    m = rep["metrics"]
    if not impossible:
        ref = v1_evaluate(golds, answered)
        assert (m["exact_match"], m["f1"]) == pytest.approx((ref["exact_match"], ref["f1"]))
        assert "has_ans_f1" not in m
        return
    ref = v2_evaluate(golds, answered)
    assert (m["exact_match"], m["f1"]) == pytest.approx((ref["exact"], ref["f1"]))
    for ours, theirs in (("has_ans", "HasAns"), ("no_ans", "NoAns")):
        assert (m[f"{ours}_exact"], m[f"{ours}_f1"]) == pytest.approx((ref[f"{theirs}_exact"], ref[f"{theirs}_f1"]))
    assert rep["details"]["no_ans_total"] == sum(1 for g in golds if not g)


def test_unanswerable_rows_need_allow_impossible(cli, tiny_root, tmp_path):
    folder = build_checkpoint(tiny_root, "bert", "question-answering")
    rows = _rows(4, seed=3, impossible=True) + [{"question": "q?", "context": "c", "answers": ["x"]}, {"context": "c"}]
    data = tmp_path / "v2.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli(["eval", folder, data, "-f", "json"])
    assert res.exit_code == 7
    rep = res.json()
    assert [e["index"] for e in rep["errors"]] == [0, 3, 4, 5]  # rows 0 and 3 have no answer
    assert "--allow-impossible" in rep["errors"][0]["error"]["hint"]
