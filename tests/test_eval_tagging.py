"""`autocli eval` on token classifiers: entity metrics equal seqeval's (default and strict modes, per type),
the loss equals transformers' loss with first-sub-word labels; JSONL and CoNLL give the same report."""

from __future__ import annotations

import json
import random

import pytest

from tests.fx_models import build_checkpoint, oracle

WORDS = "Ada Lovelace was born in London and met Charles Babbage near Paris in spring".split()
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
LABELS = {"num_labels": len(TAGS), "id2label": {str(i): t for i, t in enumerate(TAGS)}, "label2id": {t: i for i, t in enumerate(TAGS)}}


def _sequences(n: int, seed: int, tags=TAGS) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(2, 9)
        out.append(([rng.choice(WORDS) for _ in range(k)], [rng.choice(tags) for _ in range(k)]))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_entities_equal_seqeval(seed):
    from seqeval.metrics.sequence_labeling import get_entities
    from seqeval.scheme import IOB2, IOBES, Entities

    from autocli.evaluate.entities import default_entities, strict_entities

    rng = random.Random(seed)
    pool = ["O", "B-A", "I-A", "B-B", "I-B"] + (["E-A", "S-A", "E-B", "S-B"] if seed % 2 else []) + (["I", "B"] if seed % 5 == 0 else [])
    tags = [rng.choice(pool) for _ in range(rng.randint(1, 14))]
    assert default_entities(tags) == {(t, a, b + 1) for t, a, b in get_entities(tags)}
    if seed % 5:
        scheme = IOBES if seed % 2 else IOB2
        ents = Entities([tags], scheme).entities[0]
        assert strict_entities(tags, scheme.__name__) == {(e.tag, e.start, e.end) for e in ents}


def _write(path, rows):
    path.write_text("".join(json.dumps({"tokens": w, "tags": t}) + "\n" for w, t in rows))
    return path


def _oracle(folder, rows):
    """transformers: words encoded pre-split, labels on first sub-words -> (loss, word-level predictions)."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    ref = oracle(folder, "bert", "token-classification")
    batch = tok([w for w, _ in rows], is_split_into_words=True, padding=True, return_tensors="pt")
    labels = torch.full(batch["input_ids"].shape, -100)
    firsts = []
    for b, (_, tags) in enumerate(rows):
        seen, pos = set(), []
        for p, w in enumerate(batch.word_ids(b)):
            if w is not None and w not in seen:
                seen.add(w)
                labels[b, p] = TAGS.index(tags[w])
                pos.append(p)
        firsts.append(pos)
    with torch.no_grad():
        out = ref(**batch, labels=labels)
    pred = [[TAGS[i] for i in out.logits[b, pos].argmax(-1).tolist()] for b, pos in enumerate(firsts)]
    return out.loss.item(), pred


def test_metrics_and_loss_equal_references(cli, tiny_root, tmp_path):
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    folder = build_checkpoint(tiny_root, "bert", "token-classification", **LABELS)
    rows = _sequences(30, seed=1)
    data = _write(tmp_path / "dev.jsonl", rows)
    preds = tmp_path / "preds.jsonl"
    res = cli(["eval", folder, data, "-f", "json", "-q", "--predictions", preds])
    assert res.exit_code == 0, res.stderr
    rep = res.json()
    assert rep["task"] == "token-classification"
    loss, pred = _oracle(folder, rows)
    gold = [t for _, t in rows]
    assert [json.loads(x)["prediction"] for x in preds.read_text().splitlines()] == pred
    m = rep["metrics"]
    assert m["loss"] == pytest.approx(loss, abs=1e-4)
    assert m["precision"] == pytest.approx(precision_score(gold, pred))
    assert m["recall"] == pytest.approx(recall_score(gold, pred))
    assert m["f1"] == pytest.approx(f1_score(gold, pred))
    assert m["strict_f1"] == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2))
    assert m["strict_precision"] == pytest.approx(precision_score(gold, pred, mode="strict", scheme=IOB2))
    assert m["strict_f1"] != m["f1"]  # random predictions hold I- tags without a B-: the modes differ here
    assert m["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    for row in rep["per_label"]:
        ref = report[row["label"]]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (ref["precision"], ref["recall"], ref["f1-score"], ref["support"]))


def test_conll_equals_jsonl_and_bad_rows(cli, tiny_root, tmp_path):
    folder = build_checkpoint(tiny_root, "bert", "token-classification", **LABELS)
    rows = _sequences(8, seed=2)
    jsonl = _write(tmp_path / "d.jsonl", rows)
    conll = tmp_path / "d.conll"
    conll.write_text("-DOCSTART- -X- O O\n\n" + "\n\n".join("\n".join(f"{w} NNP {t}" for w, t in zip(*r)) for r in rows) + "\n")
    a = cli(["eval", folder, jsonl, "-f", "json", "-q"]).json()
    b = cli(["eval", folder, conll, "-f", "json", "-q"]).json()
    assert a["metrics"] == b["metrics"] and a["examples"] == b["examples"] == 8
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["Ada"], "tags": ["B-PER"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n'
                   '{"tokens": ["x"], "tags": ["B-MISC"]}\n{"tokens": "Ada", "tags": ["O"]}\n')
    res = cli(["eval", folder, bad, "-f", "json"])
    assert res.exit_code == 7
    rep = res.json()
    assert rep["failed"] == 3 and [e["index"] for e in rep["errors"]] == [1, 2, 3]
    assert "unknown tag 'B-MISC'" in rep["errors"][1]["error"]["message"]
