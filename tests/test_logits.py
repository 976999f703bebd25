"""--logits: the raw head outputs in each record equal transformers' logits for the same inputs."""

from __future__ import annotations

import json

import pytest

TOL = 1e-4


def _hf(folder, auto: str):
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = getattr(transformers, auto).from_pretrained(str(folder)).eval()
    return tok, model


def _close(got, want) -> None:
    import torch

    got = torch.tensor(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert (got - want).abs().max().item() <= TOL


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_classify_and_tag_logits(cli, tiny_checkpoints, family):
    import torch

    texts = ["Hello world!", "A somewhat longer sentence about Paris."]
    for task, auto, cmd in (("sequence-classification", "AutoModelForSequenceClassification", "classify"),
                            ("token-classification", "AutoModelForTokenClassification", "tag")):
        folder = tiny_checkpoints[family, task]
        res = cli([cmd, folder, *texts, "--logits", "--format", "jsonl"])
        assert res.exit_code == 0, res.stderr
        tok, model = _hf(folder, auto)
        for rec, text in zip(res.jsonl(), texts):
            with torch.no_grad():
                want = model(**tok(text, return_tensors="pt")).logits[0]  # (L,) or (T, L)
            _close(rec["logits"], want)


def test_fill_mask_qa_and_choose_logits(cli, tiny_checkpoints):
    import torch

    folder = tiny_checkpoints["bert", "masked-lm"]
    res = cli(["fill-mask", folder, "Hello [MASK] world!", "--logits", "--format", "jsonl"])
    tok, model = _hf(folder, "AutoModelForMaskedLM")
    enc = tok("Hello [MASK] world!", return_tensors="pt")
    with torch.no_grad():
        out = model(**enc).logits[0]  # (T, V)
    (mask,) = res.jsonl()[0]["masks"]
    _close(mask["logits"], out[mask["position"]])

    folder = tiny_checkpoints["bert", "question-answering"]
    res = cli(["qa", folder, "--question", "Where?", "--context", "In Paris, of course.", "--logits", "--format", "jsonl"])
    tok, model = _hf(folder, "AutoModelForQuestionAnswering")
    with torch.no_grad():
        out = model(**tok("Where?", "In Paris, of course.", return_tensors="pt"))
    (window,) = res.jsonl()[0]["logits"]
    _close(window, torch.stack([out.start_logits[0], out.end_logits[0]], -1))  # (T, 2)

    folder = tiny_checkpoints["bert", "multiple-choice"]
    choices = ["It rains.", "The cat sleeps on the mat."]
    res = cli(["choose", folder, "--question", "Look:", "--choice", choices[0], "--choice", choices[1], "--logits", "--format", "jsonl"])
    tok, model = _hf(folder, "AutoModelForMultipleChoice")
    enc = tok(["Look:", "Look:"], choices, return_tensors="pt", padding=True)
    with torch.no_grad():
        want = model(**{k: v[None] for k, v in enc.items()}).logits[0]  # (C,)
    got = [c["logits"] for c in res.jsonl()[0]["scores"]]
    _close(got, want[:, None])


def test_logits_are_left_out_unless_asked(cli, tiny_checkpoints):
    res = cli(["classify", tiny_checkpoints["bert", "sequence-classification"], "hi", "--format", "jsonl"])
    assert "logits" not in json.loads(res.stdout)
