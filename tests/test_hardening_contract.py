"""Hostile rows for the output contract: numbers JSON cannot hold, NaN scores, unusable option values."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error


def _with_head_bias(folder, tmp_path, value: float):
    """A copy of a classifier whose head outputs `value` for every label."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    out = tmp_path / "hostile"
    shutil.copytree(folder, out)
    weights = load_file(out / "model.safetensors")
    for name in weights:
        if name.startswith("classifier."):
            weights[name] = torch.zeros_like(weights[name]) if name.endswith("weight") else torch.full_like(weights[name], value)
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    return out


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinite_scores_are_null_in_json(cli, tiny_checkpoints, tmp_path, value):
    folder = _with_head_bias(tiny_checkpoints["bert", "sequence-classification"], tmp_path, value)
    res = cli(["classify", folder, "hi", "--function", "none", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)  # valid JSON: no Infinity
    assert rec["score"] is None and all(s["score"] is None for s in rec["scores"])


def test_nan_scores_give_an_error_record_not_a_label(cli, tiny_checkpoints, tmp_path):
    folder = _with_head_bias(tiny_checkpoints["bert", "sequence-classification"], tmp_path, float("nan"))
    res = cli(["classify", folder, "hi", "--format", "jsonl"])
    assert res.exit_code == 7
    (rec,) = res.jsonl()
    assert "label" not in rec and rec["error"]["exit_code"] == 4 and "NaN" in rec["error"]["message"]


@pytest.mark.parametrize("cmd, task", [("classify", "sequence-classification"), ("embed", "base"), ("tokenize", None)])
def test_unusable_max_length_is_a_usage_error(cli, tiny_checkpoints, minilm_dir, cmd, task):
    folder = minilm_dir if task in (None, "base") else tiny_checkpoints["bert", task]
    res = cli([cmd, folder, "hello", "--max-length", "1"])
    assert_one_line_error(res, 2)
    assert res.stdout == ""


@pytest.mark.parametrize("args", [["classify", "x", ""], ["embed", "x", "  "]])
def test_an_empty_text_argument_is_an_error_record(cli, minilm_dir, tiny_checkpoints, args):
    folder = tiny_checkpoints["bert", "sequence-classification"] if args[0] == "classify" else minilm_dir
    res = cli([args[0], folder, *args[2:], "--format", "jsonl"])
    assert res.exit_code == 7
    (rec,) = res.jsonl()
    assert rec["error"]["message"] == "the text is empty" and rec["error"]["hint"]


@pytest.mark.parametrize("device, dtype", [("cuda:x", "auto"), ("cpu", "fp8")])
def test_bad_device_or_dtype_is_a_usage_error(cli, minilm_dir, device, dtype):
    assert_one_line_error(cli(["embed", minilm_dir, "hi", "--device", device, "--dtype", dtype]), 2)


def test_dtype_aliases_and_device_index_are_accepted(cli, minilm_dir):
    res = cli(["embed", minilm_dir, "hi", "--device", "cpu", "--dtype", "fp32", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr


def test_tokenizer_from_another_folder(cli, minilm_dir, tmp_path):
    import shutil

    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(minilm_dir / name, bare / name)
    assert cli(["embed", bare, "hi"]).exit_code == 4  # no tokenizer of its own
    same = ["--pooling", "mean", "--no-normalize", "--format", "jsonl"]  # the copy lacks the pooling files
    res = cli(["embed", bare, "hi", "--tokenizer", minilm_dir, *same])
    want = cli(["embed", minilm_dir, "hi", *same])
    assert res.exit_code == 0 and res.stdout == want.stdout
