"""`autocli eval` on multiple-choice heads: the loss equals transformers' *ForMultipleChoice loss with labels
on the same questions, accuracy counts its argmax."""

from __future__ import annotations

import json
import random

import pytest

from tests.fx_models import build_checkpoint, oracle

WORDS = "the cat sat on a mat and the dog ran over hills while rain fell softly near old stone walls".split()


def test_loss_and_accuracy_equal_transformers(cli, tiny_root, tmp_path):
    import torch
    from transformers import AutoTokenizer

    folder = build_checkpoint(tiny_root, "bert", "multiple-choice")
    rng = random.Random(0)
    rows = []
    for i in range(12):
        choices = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(3)]
        label = rng.randrange(3)
        rows.append({"question": " ".join(rng.choice(WORDS) for _ in range(5)), "choices": choices,
                     "label": choices[label] if i % 2 else label})
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli(["eval", folder, data, "-f", "json", "-q"])
    assert res.exit_code == 0, res.stderr
    rep = res.json()
    assert rep["task"] == "multiple-choice"
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok([r["question"] for r in rows for _ in r["choices"]], [c for r in rows for c in r["choices"]], padding=True, return_tensors="pt")
    gold = torch.tensor([r["choices"].index(r["label"]) if isinstance(r["label"], str) else r["label"] for r in rows])
    with torch.no_grad():
        out = oracle(folder, "bert", "multiple-choice")(**{k: v.view(len(rows), 3, -1) for k, v in enc.items()}, labels=gold)
    assert rep["metrics"]["loss"] == pytest.approx(out.loss.item(), abs=1e-4)
    assert rep["metrics"]["accuracy"] == pytest.approx((out.logits.argmax(-1) == gold).float().mean().item())


def test_bad_labels_are_error_records(cli, tiny_root, tmp_path):
    folder = build_checkpoint(tiny_root, "bert", "multiple-choice")
    rows = [{"question": "q", "choices": ["a", "b"], "label": 1}, {"question": "q", "choices": ["a", "b"], "label": 2},
            {"question": "q", "choices": ["a", "b"], "label": "c"}, {"question": "q", "choices": ["a"], "label": 0}]
    data = tmp_path / "bad.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli(["eval", folder, data, "-f", "json"])
    assert res.exit_code == 7
    assert [e["index"] for e in res.json()["errors"]] == [1, 2, 3]
