"""Hostile checkpoint files: each row is a file, the command, the exit code and what stderr must (not) say."""

from __future__ import annotations

import json
import os
import pickle

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_hub import tiny_bert


class _RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _evil_zip(path, marker):
    import torch

    torch.save({"embeddings.word_embeddings.weight": _RunsCode(marker)}, path)


def _evil_raw(path, marker):
    path.write_bytes(pickle.dumps({"w": _RunsCode(marker)}, protocol=4))


@pytest.mark.parametrize("write", [_evil_zip, _evil_raw], ids=["torch.save", "plain-pickle"])
@pytest.mark.parametrize("command", [["embed", "x"], ["classify", "x", "--allow-random-head"]])
def test_malicious_pickle_is_untrusted_not_retried(cli, tmp_path, write, command):
    folder = tiny_bert(tmp_path / "ck")
    os.remove(folder / "model.safetensors")
    marker = tmp_path / "pwned"
    write(folder / "pytorch_model.bin", marker)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x"]) + "\n")
    res = cli([command[0], folder, *command[1:], "--allow-pickle"])
    assert_one_line_error(res, 4)
    assert "holds more than tensors" in res.stderr and "must not be trusted" in res.stderr
    assert "weights_only=False" not in res.stderr and "weights_only` set to `False`" not in res.stderr
    assert not marker.exists()
    if write is _evil_zip:  # the object it would build is named
        assert "GLOBAL" in res.stderr and "system" in res.stderr


def test_corrupt_pickle_is_not_called_untrusted(cli, tmp_path):
    folder = tiny_bert(tmp_path / "ck")
    os.remove(folder / "model.safetensors")
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 truncated")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\n")
    res = cli(["embed", folder, "x", "--allow-pickle"])
    assert_one_line_error(res, 4)
    assert "cannot be read as a PyTorch pickle" in res.stderr and "weights_only" not in res.stderr


STRUCTURE = [
    ('{"model": 3}', '"model" is a JSON number'),
    ("[1, 2]", "the top level is a JSON array"),
    ('"a tokenizer"', "the top level is a JSON string"),
    ("{}", '"model" is missing'),
    ('{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "added_tokens": {}}', '"added_tokens" is a JSON object'),
    ('{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "pre_tokenizer": []}', '"pre_tokenizer" is a JSON array'),
]


@pytest.mark.parametrize("content, problem", STRUCTURE)
def test_tokenizer_json_of_the_wrong_structure(cli, tmp_path, content, problem):
    (tmp_path / "tokenizer.json").write_text(content)
    res = cli(["tokenize", tmp_path, "hello"])
    assert_one_line_error(res, 4)
    assert "invalid tokenizer.json structure" in res.stderr and problem in res.stderr
    assert "newer" not in res.stderr and "not valid JSON" not in res.stderr


def test_tokenizer_json_syntax_error_is_named_as_such(cli, tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {')
    res = cli(["tokenize", tmp_path, "hello"])
    assert_one_line_error(res, 4)
    assert "not valid JSON (line 1, column 12)" in res.stderr and "newer" not in res.stderr


def test_unknown_component_keeps_the_version_hint(cli, tmp_path):
    """A well-shaped file with a type this `tokenizers` does not know may come from a newer release."""
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "FutureModel"}}))
    res = cli(["tokenize", tmp_path, "hello"])
    assert_one_line_error(res, 4)
    assert "invalid tokenizer.json structure" not in res.stderr and "newer `tokenizers`" in res.stderr


def test_hub_down_without_a_cache_is_exit_3(cli, hub, tmp_path):
    hub.add_repo("org/x", tiny_bert(tmp_path / "x"))
    hub.down = 503
    res = cli(["inspect", "org/x"])
    assert_one_line_error(res, 3)
    assert "HTTP 503" in res.stderr and "try again later" in res.stderr


def test_hub_that_names_no_commit(cli, hub, tmp_path, monkeypatch):
    import tests.fx_hub as fx

    hub.add_repo("org/x", tiny_bert(tmp_path / "x"))
    monkeypatch.setattr(fx._Handler, "_json", lambda self, data, head: self._send(200, json.dumps({**data, "sha": None}).encode(),
                                                                                   {"Content-Type": "application/json"}, head))
    res = cli(["inspect", "org/x"])
    assert_one_line_error(res, 3)
    assert "gave no commit" in res.stderr
