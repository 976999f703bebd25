"""`autocli eval` on sequence classifiers: the loss equals transformers' loss with labels (cross-entropy,
BCE for multi-label, MSE for regression) on the same batch; the metrics equal scikit-learn's (test oracle)."""

from __future__ import annotations

import csv
import json
import random

import pytest

from tests.fx_models import build_checkpoint, oracle

WORDS = "the cat sat on a mat and the dog ran over hills while rain fell softly near old stone walls".split()
NAMES = ["neg", "neu", "pos"]
LABELS = {"id2label": {str(i): n for i, n in enumerate(NAMES)}, "label2id": {n: i for i, n in enumerate(NAMES)}}


def _rows(n: int = 24, seed: int = 0, pairs: bool = True) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row = {"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12)))}
        if pairs and i % 3 == 0:
            row["text_pair"] = " ".join(rng.choice(WORDS) for _ in range(3))
        out.append(row)
    return out


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _oracle_logits(folder, rows):
    """transformers' tokenizer and model on the whole batch -> (model, encoded batch, logits)."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    ref = oracle(folder, "bert", "sequence-classification")
    single = [r for r in rows if "text_pair" not in r]
    assert len(single) == len(rows), "the oracle batch has no pairs"
    batch = tok([r["text"] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = ref(**batch).logits
    return ref, batch, logits


def _run(cli, folder, data, *args):
    res = cli(["eval", folder, data, "-f", "json", "-q", *args])
    assert res.exit_code == 0, res.stderr
    return res.json()


def test_single_label_loss_and_metrics(cli, tiny_root, tmp_path):
    import torch
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", **LABELS)
    rows = _rows(pairs=False)
    rng = random.Random(1)
    gold = [rng.randrange(3) for _ in rows]
    for r, g in zip(rows, gold):
        r["label"] = NAMES[g] if rng.random() < 0.5 else g  # names and ids mixed
    preds = tmp_path / "preds.jsonl"
    rep = _run(cli, folder, _write_jsonl(tmp_path / "dev.jsonl", rows), "--predictions", preds)
    ref, batch, logits = _oracle_logits(folder, rows)
    with torch.no_grad():
        loss = ref(**batch, labels=torch.tensor(gold)).loss.item()
    assert rep["metrics"]["loss"] == pytest.approx(loss, abs=1e-4)
    pred = logits.argmax(-1).tolist()
    assert len(set(pred)) > 1 or len(set(gold)) > 1
    assert rep["metrics"]["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    for avg in ("macro", "micro"):
        assert rep["metrics"][f"{avg}_f1"] == pytest.approx(f1_score(gold, pred, average=avg, zero_division=0))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=[0, 1, 2], zero_division=0)
    assert [m["label"] for m in rep["per_label"]] == NAMES
    assert [m["precision"] for m in rep["per_label"]] == pytest.approx(list(p))
    assert [m["recall"] for m in rep["per_label"]] == pytest.approx(list(r))
    assert [m["support"] for m in rep["per_label"]] == list(s)
    assert rep["confusion"] == {"labels": NAMES, "matrix": confusion_matrix(gold, pred, labels=[0, 1, 2]).tolist()}
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert [x["prediction"] for x in lines] == [NAMES[i] for i in pred]
    assert [x["gold"] for x in lines] == [NAMES[g] for g in gold]


def test_multi_label_bce(cli, tiny_root, tmp_path):
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", problem_type="multi_label_classification", **LABELS)
    rows = _rows(pairs=False, seed=3)
    rng = random.Random(2)
    hot = [[rng.randrange(2) for _ in NAMES] for _ in rows]
    for r, h in zip(rows, hot):
        r["label"] = [NAMES[j] for j, on in enumerate(h) if on]
    rep = _run(cli, folder, _write_jsonl(tmp_path / "ml.jsonl", rows))
    ref, batch, logits = _oracle_logits(folder, rows)
    with torch.no_grad():
        loss = ref(**batch, labels=torch.tensor(hot, dtype=torch.float)).loss.item()
    assert rep["metrics"]["loss"] == pytest.approx(loss, abs=1e-4)
    pred = (logits > 0).long().tolist()
    assert rep["metrics"]["accuracy"] == pytest.approx(accuracy_score(hot, pred))
    for avg in ("macro", "micro"):
        assert rep["metrics"][f"{avg}_f1"] == pytest.approx(f1_score(hot, pred, average=avg, zero_division=0))
    assert "confusion" not in rep


def test_regression_mse(cli, tiny_root, tmp_path):
    import torch

    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", num_labels=1)
    rows = _rows(pairs=False, seed=4)
    rng = random.Random(5)
    gold = [round(rng.uniform(-1, 1), 3) for _ in rows]
    for r, g in zip(rows, gold):
        r["label"] = g
    rep = _run(cli, folder, _write_jsonl(tmp_path / "reg.jsonl", rows))
    ref, batch, logits = _oracle_logits(folder, rows)
    with torch.no_grad():
        loss = ref(**batch, labels=torch.tensor(gold)).loss.item()
    assert rep["details"]["problem_type"] == "regression"
    assert rep["metrics"]["loss"] == pytest.approx(loss, abs=1e-4)
    assert rep["metrics"]["mae"] == pytest.approx((logits.squeeze(-1) - torch.tensor(gold)).abs().mean().item(), abs=1e-5)


def test_pairs_and_csv_tsv_parquet_agree(cli, tiny_root, tmp_path):
    """The same rows as JSONL, CSV, TSV and Parquet give the same report; pairs go in as text pairs."""
    import torch
    from transformers import AutoTokenizer

    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", **LABELS)
    rows = _rows(12, seed=6)
    for i, r in enumerate(rows):
        r["label"] = NAMES[i % 3]
    by_jsonl = _run(cli, folder, _write_jsonl(tmp_path / "d.jsonl", rows))
    for name, sep in (("d.csv", ","), ("d.tsv", "\t")):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, ["text", "text_pair", "label"], delimiter=sep)
            w.writeheader()
            w.writerows(rows)
        assert _run(cli, folder, tmp_path / name)["metrics"] == pytest.approx(by_jsonl["metrics"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet", row_group_size=5)
    assert _run(cli, folder, tmp_path / "d.parquet")["metrics"] == pytest.approx(by_jsonl["metrics"])
    tok = AutoTokenizer.from_pretrained(folder)
    ref = oracle(folder, "bert", "sequence-classification")
    gold = torch.tensor([i % 3 for i in range(len(rows))])
    losses = []
    for r, g in zip(rows, gold):
        enc = tok(r["text"], r.get("text_pair"), return_tensors="pt")
        with torch.no_grad():
            losses.append(ref(**enc, labels=g.view(1)).loss.item())
    assert by_jsonl["metrics"]["loss"] == pytest.approx(sum(losses) / len(losses), abs=1e-4)


def test_unknown_labels_are_error_records(script, tiny_root, tmp_path):
    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", **LABELS)
    rows = [{"text": "the cat", "label": "pos"}, {"text": "a dog", "label": "angry"}, {"text": "rain", "label": 7},
            {"text": "", "label": "neg"}, {"text": "hills"}, {"text": "walls", "label": "neu"}]
    data = _write_jsonl(tmp_path / "bad.jsonl", rows)
    res = script(["eval", folder, data, "-f", "json"])
    assert res.exit_code == 7, res.stderr
    rep = json.loads(res.stdout)
    assert rep["examples"] == 6 and rep["failed"] == 4
    assert [e["index"] for e in rep["errors"]] == [1, 2, 3, 4]
    assert "unknown label 'angry'" in rep["errors"][0]["error"]["message"]
    assert rep["details"]["problem_type"] == "single_label_classification"
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "4 of 6 rows not scored" in warnings[0]
    gated = script(["eval", folder, data, "--min", "accuracy=1.01", "-f", "json"])
    assert gated.exit_code == 6  # a failed bound outranks the rows not scored
    assert json.loads(gated.stdout)["bounds"][0]["passed"] is False


def test_task_from_architectures_and_table(cli, tiny_root, tmp_path):
    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", **LABELS)
    data = _write_jsonl(tmp_path / "t.jsonl", [{"text": "the cat", "label": "pos"}, {"text": "a dog", "label": "neg"}])
    res = cli(["eval", folder, data, "-f", "table", "--min", "accuracy=0"])
    assert res.exit_code == 0, res.stderr
    for word in ("sequence-classification", "accuracy", "confusion matrix", "per label", "accuracy >= 0"):
        assert word in res.stdout
