"""Hostile checkpoints the loader must refuse with the true reason (exit 4), before torch trips over them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from autocli import errors
from autocli.models import load_model_from_dir
from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder


def _rewrite(src: Path, dst: Path, edit) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst, dirs_exist_ok=True)
    save_file(edit(dict(load_file(src / "model.safetensors"))), dst / "model.safetensors", metadata={"format": "pt"})
    return dst


@pytest.mark.parametrize("dtype", [torch.int8, torch.int32, torch.int64, torch.bool])
def test_integer_weights_are_an_invalid_checkpoint(tiny_checkpoints, tmp_path, dtype):
    name = "encoder.layer.0.attention.self.query.weight"

    def to_int(state):
        state[name] = state[name].to(dtype)
        return state

    folder = _rewrite(tiny_checkpoints["bert", "base"], tmp_path / "ints", to_int)
    with pytest.raises(errors.InvalidCheckpoint) as e:
        load_model_from_dir(folder, "base")
    assert e.value.exit_code == 4
    assert name in e.value.message and str(dtype).removeprefix("torch.") in e.value.message


def test_integer_weights_in_a_pickle_through_the_cli(tiny_checkpoints, tmp_path, cli):
    """A pickle has no headers to check beforehand: the loader itself refuses (safetensors are refused earlier,
    from their headers, by the same rule)."""
    from safetensors.torch import load_file

    src = tiny_checkpoints["bert", "base"]
    folder = tmp_path / "ints-pickle"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    state = {k: v.to(torch.int32) if k.endswith("word_embeddings.weight") else v for k, v in load_file(src / "model.safetensors").items()}
    torch.save(state, folder / "pytorch_model.bin")
    res = cli(["embed", folder, "hello world", "--allow-pickle"])
    assert_one_line_error(res, 4)
    assert "word_embeddings.weight" in res.stderr and "int32" in res.stderr


def test_another_architectures_weights_report_the_backbone_first(tiny_checkpoints, decoder_root, tmp_path, cli):
    """GPT-2 tensors under a BERT config: the first message is the true one (the backbone is not there), not
    'no trained head', whose hint (--allow-random-head) would only lead to the same error."""
    gpt2 = build_decoder(decoder_root, "gpt2", "causal-lm")
    folder = tmp_path / "bert-config-gpt2-weights"
    folder.mkdir()
    shutil.copy(tiny_checkpoints["bert", "sequence-classification"] / "config.json", folder / "config.json")
    shutil.copy(gpt2 / "model.safetensors", folder / "model.safetensors")
    for allow in (False, True):
        with pytest.raises(errors.InvalidCheckpoint, match=r"backbone weight\(s\) missing") as e:
            load_model_from_dir(folder, "sequence-classification", allow_random_head=allow)
        assert e.value.exit_code == 4 and "another architecture" in e.value.hint
    config = json.loads((folder / "config.json").read_text())
    expected = load_model_from_dir(tiny_checkpoints["bert", "sequence-classification"], "sequence-classification")
    body = [k for k in expected.module.state_dict() if k.startswith("bert.") and ".pooler." not in k]
    assert f"{len(body)} backbone weight(s) missing" in e.value.message and config["model_type"] == "bert"
