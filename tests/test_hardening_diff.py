"""Hostile and broken inputs to `diff` and `--expect`: one-line errors with the documented codes, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_hub import safetensors_bytes, tiny_bert
from tests.fx_tokenizers import write_wordpiece_tokenizer


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tiny_bert(tmp_path_factory.mktemp("hard_diff") / "good", vocab=128)
    write_wordpiece_tokenizer(folder, vocab_size=128)
    return folder


def _copy(good, tmp_path, name="bad"):
    out = tmp_path / name
    shutil.copytree(good, out)
    return out


def test_a_corrupt_header_on_one_side_is_exit_4(cli, good, tmp_path):
    bad = _copy(good, tmp_path)
    (bad / "model.safetensors").write_bytes(safetensors_bytes({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}))
    assert_one_line_error(cli(["diff", good, bad]), 4)


def test_a_side_without_config_is_exit_4(cli, good, tmp_path):
    bad = _copy(good, tmp_path)
    (bad / "config.json").unlink()
    assert_one_line_error(cli(["diff", bad, good]), 4)


def test_a_truncated_weight_file_is_exit_4(cli, good, tmp_path):
    bad = _copy(good, tmp_path)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[:-100])
    assert_one_line_error(cli(["diff", good, bad]), 4)


def test_an_unreadable_tokenizer_is_a_difference_not_a_crash(cli, good, tmp_path):
    bad = _copy(good, tmp_path)
    (bad / "tokenizer.json").write_text("{not json")
    res = cli(["diff", good, bad, "--json"])
    assert res.exit_code == 0, res.stderr
    keys = [c["key"] for c in res.json()["tokenizer"]]
    assert "error" in keys


def test_config_values_of_any_json_type(cli, good, tmp_path):
    bad = _copy(good, tmp_path)
    cfg = json.loads((bad / "config.json").read_text())
    cfg.update({"nested": {"deep": {"x": [1, {"y": None}]}}, "id2label": {"0": "A"}, "weird": float("1e308")})
    (bad / "config.json").write_text(json.dumps(cfg))
    d = cli(["diff", good, bad, "--json"]).json()
    assert [c["key"] for c in d["config"]] == ["id2label", "nested.deep.x", "weird"]


def test_outputs_file_that_is_not_text_is_exit_2(cli, good, tmp_path):
    binary = tmp_path / "inputs.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert_one_line_error(cli(["diff", good, good, "--outputs", binary]), 2)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert_one_line_error(cli(["diff", good, good, "--outputs", empty]), 2)


def test_a_golden_file_that_is_a_folder_or_binary_is_exit_2(cli, good, tmp_path):
    assert_one_line_error(cli(["classify", good, "x", "--expect", tmp_path]), 2)
    binary = tmp_path / "golden.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    assert_one_line_error(cli(["classify", good, "x", "--expect", binary]), 2)
    assert_one_line_error(cli(["classify", good, "x", "--expect", binary, "--atol", "-1"]), 2)
