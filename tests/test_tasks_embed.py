"""`autocli embed`: the real MiniLM equals transformers BertModel + mean pooling + normalize; pooling options."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.conftest import assert_one_line_error

TEXTS = ["A man is eating food.", "Hello world", "The quick brown fox jumps over the lazy dog and keeps running far away."]


def _hidden(folder, texts):
    from transformers import AutoTokenizer, BertModel

    enc = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return BertModel.from_pretrained(str(folder)).eval()(**enc).last_hidden_state, enc["attention_mask"]


def _vectors(res):
    assert res.exit_code == 0, res.stderr
    recs = res.jsonl()
    assert [r["index"] for r in recs] == list(range(len(recs)))
    return torch.tensor([r["embedding"] for r in recs])


def test_minilm_equals_mean_pooling_and_normalize(cli, minilm_dir):
    got = _vectors(cli(["embed", minilm_dir, *TEXTS, "--batch-size", "2"]))
    hidden, mask = _hidden(minilm_dir, TEXTS)
    m = mask[..., None].float()
    want = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
    cos = torch.nn.functional.cosine_similarity(got, want)
    assert got.shape == (3, 384) and float(cos.min()) >= 0.99999
    assert torch.allclose(got.norm(dim=-1), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "max", "mean"])
def test_pooling_override_without_normalize(cli, minilm_dir, pooling):
    got = _vectors(cli(["embed", minilm_dir, *TEXTS, "--pooling", pooling, "--no-normalize"]))
    hidden, mask = _hidden(minilm_dir, TEXTS)
    m = mask[..., None].float()
    want = {
        "cls": hidden[:, 0],
        "max": hidden.masked_fill(m == 0, -1e9).max(1).values,
        "mean": (hidden * m).sum(1) / m.sum(1),
    }[pooling]
    assert float((got - want).abs().max()) <= 1e-4


def _copy(minilm_dir, tmp_path, pooling: dict | None = None, modules: list | None = None):
    folder = tmp_path / "st"
    shutil.copytree(minilm_dir, folder)
    if pooling is not None:
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    if modules is not None:
        (folder / "modules.json").write_text(json.dumps(modules))
    return folder


def test_sentence_transformers_flags_are_honoured(cli, minilm_dir, tmp_path):
    flags = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True, "pooling_mode_max_tokens": True}
    folder = _copy(minilm_dir, tmp_path, pooling=flags)
    got = _vectors(cli(["embed", folder, *TEXTS]))
    hidden, mask = _hidden(minilm_dir, TEXTS)
    m = mask[..., None].float()
    want = torch.cat([hidden[:, 0], hidden.masked_fill(m == 0, -1e9).max(1).values], -1)  # cls then max
    want = torch.nn.functional.normalize(want, dim=-1)
    assert got.shape == (3, 768) and float((got - want).abs().max()) <= 1e-4


def test_without_a_normalize_module_vectors_are_raw(cli, minilm_dir, tmp_path):
    modules = json.loads((minilm_dir / "modules.json").read_text())[:2]
    folder = _copy(minilm_dir, tmp_path, modules=modules)
    got = _vectors(cli(["embed", folder, TEXTS[0]]))
    assert abs(float(got.norm()) - 1.0) > 1e-3
    assert abs(float(_vectors(cli(["embed", folder, TEXTS[0], "--normalize"])).norm()) - 1.0) <= 1e-5


def test_unknown_modules_are_refused(cli, minilm_dir, tmp_path):
    modules = json.loads((minilm_dir / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    res = cli(["embed", _copy(minilm_dir, tmp_path, modules=modules), "x"])
    assert_one_line_error(res, 5)
    assert "Dense" in res.stderr


def test_plain_checkpoint_defaults_to_mean_and_bad_lines_are_records(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "base"]
    res = cli(["embed", folder, "--format", "jsonl"], input="Hello world\n\nA cat.\n")
    assert res.exit_code == 7
    recs = res.jsonl()
    assert [("error" in r) for r in recs] == [False, True, False] and len(recs[0]["embedding"]) == 32
    table = cli(["embed", folder, "Hello", "--format", "table"])
    assert table.exit_code == 0 and "dim" in table.stdout
