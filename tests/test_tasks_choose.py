"""`autocli choose`: multiple-choice and next-sentence scores equal transformers' on the same pairs."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import assert_one_line_error
from tests.fx_models import oracle

TOL = 1e-4
QUESTION = "She opened the fridge and"
CHOICES = ["took out milk.", "flew away over the hills.", "sat."]


def _oracle_scores(folder, task):
    from transformers import AutoTokenizer

    enc = AutoTokenizer.from_pretrained(str(folder))([QUESTION] * len(CHOICES), CHOICES, padding=True, return_tensors="pt")
    with torch.no_grad():
        if task == "multiple-choice":
            return oracle(folder, "bert", task)(**{k: v[None] for k, v in enc.items()}).logits[0].softmax(-1)
        return oracle(folder, "bert", task)(**enc).logits.softmax(-1)[:, 0]


@pytest.mark.parametrize("task,flags", [("multiple-choice", []), ("next-sentence-prediction", ["--nsp"])], ids=["mc", "nsp"])
def test_scores_equal_transformers(cli, tiny_checkpoints, task, flags):
    folder = tiny_checkpoints["bert", task]
    args = ["choose", folder, "--question", QUESTION, *[a for c in CHOICES for a in ("--choice", c)], *flags]
    res = cli([*args, "--format", "json", "--batch-size", "2"])
    assert res.exit_code == 0, res.stderr
    rec = res.json()[0]
    want = _oracle_scores(folder, task)
    got = [s["score"] for s in rec["scores"]]
    assert max(abs(g - float(w)) for g, w in zip(got, want)) <= TOL
    assert rec["choice"] == int(want.argmax()) and rec["text"] == CHOICES[rec["choice"]]
    assert [s["text"] for s in rec["scores"]] == CHOICES
    table = cli([*args, "--format", "table"])
    assert table.exit_code == 0 and "best" in table.stdout


def test_jsonl_batch_with_bad_items(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "multiple-choice"]
    lines = [
        {"question": QUESTION, "choices": CHOICES},
        {"question": QUESTION, "choices": ["only one"]},
        {"question": QUESTION, "choices": "not a list"},
        {"choices": CHOICES},
        {"question": "Another", "choices": CHOICES[:2]},
    ]
    res = cli(["choose", folder, "--format", "jsonl"], input="".join(json.dumps(x) + "\n" for x in lines))
    assert res.exit_code == 7
    recs = res.jsonl()
    assert [r["index"] for r in recs] == [0, 1, 2, 3, 4]
    assert ["error" in r for r in recs] == [False, True, True, True, False]
    assert abs(sum(s["score"] for s in recs[4]["scores"]) - 1) <= TOL


def test_usage(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "multiple-choice"]
    assert_one_line_error(cli(["choose", folder, "--question", "q"]), 2)
    assert_one_line_error(cli(["choose", tiny_checkpoints["bert", "multiple-choice"], "--nsp", "--question", "q", "--choice", "a"]), 5)
