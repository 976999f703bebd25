"""Hostile checkpoints for `generate`, one row each: the checkpoint's fault is exit 4 with a message naming
what is wrong, never a traceback or a usage error."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder
from tests.fx_tokenizers import write_chat_template


def _copy(decoder_root, tmp_path, variant="qwen2"):
    folder = tmp_path / variant
    shutil.copytree(build_decoder(decoder_root, variant, "causal-lm"), folder)
    return folder


@pytest.mark.parametrize("template", [
    "{% for i in range(10**12) %}x{% endfor %}",  # the sandbox's range() limit
    "{% set ns = namespace(_x=1) %}x",  # an underscore attribute
])
def test_unsafe_chat_template_is_an_invalid_checkpoint(decoder_root, tmp_path, cli, template):
    folder = _copy(decoder_root, tmp_path)
    write_chat_template(folder, template)
    for args in (["Hi", "Hello"], ["--jsonl"]):
        res = cli(["generate", folder, "--chat", *args, "--max-new-tokens", "2"],
                  input='{"messages": [{"role": "user", "content": "Hi"}]}\n')
        assert_one_line_error(res, 4)
        assert "chat template" in res.stderr and res.stdout == ""


@pytest.mark.parametrize("setting,value", [
    ("temperature", [1]), ("top_k", "50"), ("top_p", {"p": 1}), ("max_new_tokens", 2.5), ("min_p", "x"),
    ("max_length", [10]), ("repetition_penalty", -1.0), ("max_new_tokens", 0), ("stop_strings", [3]), ("top_p", 2.0),
])
def test_wrong_generation_config_value_names_the_file(decoder_root, tmp_path, cli, setting, value):
    folder = _copy(decoder_root, tmp_path, "gpt2")
    (folder / "generation_config.json").write_text(json.dumps({setting: value, "do_sample": True}))
    for args in (["Hi", "--max-new-tokens", "2"] if setting != "max_new_tokens" else ["Hi"], ["--show-config"]):
        res = cli(["generate", folder, *args])
        assert_one_line_error(res, 4)
        assert "generation_config.json" in res.stderr and setting in res.stderr


def test_the_same_value_on_the_command_line_is_a_usage_error(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = cli(["generate", folder, "Hi", "--repetition-penalty", "-1"])
    assert_one_line_error(res, 2)
    assert "generation_config.json" not in res.stderr


def test_wrong_beam_setting_in_config_json_names_it(tmp_path, seq2seq_root, cli):
    from tests.fx_seq2seq import build_seq2seq

    folder = tmp_path / "t5"
    shutil.copytree(build_seq2seq(seq2seq_root, "t5", "seq2seq-lm"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_beams": "four"}))
    res = cli(["generate", folder, "x", "--max-new-tokens", "2"])
    assert_one_line_error(res, 4)
    assert "config.json" in res.stderr and "num_beams" in res.stderr
