"""`autocli eval` on encoder-decoders: the teacher-forced loss equals transformers' loss with labels on the
same batch (labels padded with -100), for T5 and BART."""

from __future__ import annotations

import json
import random

import pytest

from tests.fx_seq2seq import build_seq2seq, seq2seq_oracle

WORDS = "the cat sat on a mat and the dog ran over hills while rain fell softly near old stone walls".split()


@pytest.mark.parametrize("variant", ["t5", "bart"])
def test_loss_equals_transformers(cli, seq2seq_root, tmp_path, variant):
    import torch
    from transformers import AutoTokenizer

    folder = build_seq2seq(seq2seq_root, variant, "seq2seq-lm")
    rng = random.Random(0)
    rows = [{"source": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))),
             "target": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))} for _ in range(10)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"source": "no target"}\n')
    preds = tmp_path / "preds.jsonl"
    res = cli(["eval", folder, data, "-f", "json", "-q", "--predictions", preds])
    assert res.exit_code == 7, res.stderr  # the last row has no target
    rep = res.json()
    assert rep["task"] == "seq2seq-lm" and [e["index"] for e in rep["errors"]] == [10]
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok([r["source"] for r in rows], padding=True, return_tensors="pt")
    labels = tok(text_target=[r["target"] for r in rows], padding=True, return_tensors="pt")
    y = labels.input_ids.masked_fill(labels.attention_mask == 0, -100)
    ref = seq2seq_oracle(folder, variant, "seq2seq-lm")
    with torch.no_grad():
        loss = ref(**enc, labels=y).loss.item()
    assert rep["metrics"]["loss"] == pytest.approx(loss, abs=1e-4)
    assert rep["details"]["target_tokens"] == int((y != -100).sum())
    with torch.no_grad():  # one row on its own: its loss in the predictions file
        one = ref(**tok(rows[3]["source"], return_tensors="pt"), labels=tok(text_target=rows[3]["target"], return_tensors="pt").input_ids).loss.item()
    assert json.loads(preds.read_text().splitlines()[3])["loss"] == pytest.approx(one, abs=1e-4)
