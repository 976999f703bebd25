"""`autocli eval --task generation`: exact match and chrF (sacrebleu) of the text `autocli generate` produces;
sacrebleu missing is a one-line error naming the extra."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder

PROMPTS = ["the cat", "a dog ran", "rain fell on", "old stone", "hills and"]


def test_exact_match_and_chrf(cli, decoder_root, tmp_path):
    from sacrebleu.metrics import CHRF

    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    gen = cli(["generate", folder, "--max-new-tokens", "20", "-f", "jsonl", "-q"], input="\n".join(PROMPTS) + "\n")
    assert gen.exit_code == 0, gen.stderr
    outputs = [r["text"] for r in gen.jsonl()]
    refs = [o if n % 2 == 0 else "the cat sat on the mat" for n, o in enumerate(outputs)]  # rows 0, 2, 4 match
    data = tmp_path / "gen.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "reference": r}) + "\n" for p, r in zip(PROMPTS, refs)))
    preds = tmp_path / "preds.jsonl"
    res = cli(["eval", folder, data, "--task", "generation", "--max-new-tokens", "20", "-f", "json", "-q", "--predictions", preds])
    assert res.exit_code == 0, res.stderr
    rep = res.json()
    assert [json.loads(x)["prediction"] for x in preds.read_text().splitlines()] == outputs
    expected = sum(o.strip() == r.strip() for o, r in zip(outputs, refs)) / len(outputs)
    assert expected >= 0.6
    assert rep["metrics"]["exact_match"] == pytest.approx(expected)
    assert rep["metrics"]["chrf"] == pytest.approx(CHRF().corpus_score(outputs, [refs]).score)


def test_missing_sacrebleu_names_the_extra(cli, decoder_root, tmp_path, monkeypatch):
    import sys

    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    data = tmp_path / "gen.jsonl"
    data.write_text(json.dumps({"prompt": "the cat", "reference": "sat"}) + "\n")
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    res = cli(["eval", folder, data, "--task", "generation"])
    assert_one_line_error(res, 5)
    assert "autocli[eval]" in res.stderr
