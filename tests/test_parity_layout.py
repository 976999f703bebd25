"""LayoutLM v1 and LayoutLMv3 against transformers, every (family, head), on the processor's own inputs
(padded batches of documents, with and without the page image for v3): max abs difference <= 1e-4."""

from __future__ import annotations

import pytest
import torch

from autocli.checkpoint import Checkpoint
from autocli.models import load_model_from_dir
from autocli.preprocess import load_processor
from tests.fx_layout import LAYOUT_ROWS, oracle_model

TOL = 1e-4
# (row, with the page image): v3 also runs text-only; v1 reads no pixels
ROWS = [(name, True) for name in LAYOUT_ROWS if not name.startswith("v2")] + [(n, False) for n in LAYOUT_ROWS if n.startswith("v3")]


def batch(folder, paths, question=None):
    ckpt = Checkpoint.resolve(str(folder))
    proc = load_processor(ckpt, ckpt.config().model_type)
    docs = [proc.load(str(p)) for p in paths]
    docs = [d.asking(question) for d in docs] if question else docs
    return {k: torch.as_tensor(v) for k, v in proc(docs).items() if k != "labels"}


def oracle_out(model, task, inputs):
    with torch.no_grad():
        out = model(**inputs)
    if task == "base":
        return out.last_hidden_state
    if task == "question-answering":
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    return out.logits


@pytest.mark.parametrize("name, pixels", ROWS)
def test_parity(layout_checkpoints, layout_docs, name, pixels):
    folder = layout_checkpoints[name]
    task = LAYOUT_ROWS[name][1]
    question = "what is the total?" if task == "question-answering" else None
    inputs = batch(folder, [layout_docs["short"], layout_docs["invoice"]], question)
    if not pixels:
        inputs.pop("pixel_values", None)
    want = oracle_out(oracle_model(folder, name), task, inputs)
    ours = load_model_from_dir(folder, task, device="cpu")
    with torch.inference_mode():
        got = ours.module(inputs["input_ids"], inputs["attention_mask"], inputs.get("token_type_ids"),
                          inputs["bbox"], inputs.get("pixel_values"))
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= TOL
    assert ours.report.missing == [] and ours.report.random == [] and ours.report.mismatched == []
