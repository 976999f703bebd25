"""Hostile or inconsistent Gemma 2 / Phi-3 configs: refused before any forward pass as one line with a hint,
invalid (4) or unsupported (5), never a traceback or an exception from deep in the model code."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_gemma_phi3 import build, family_root  # noqa: F401


def _edited(folder, tmp_path, change: dict, rope: dict | None = None):
    out = tmp_path / "m"
    shutil.copytree(folder, out)
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    if rope is not None:
        config["rope_parameters"] = {**config["rope_parameters"], **rope}
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.mark.parametrize("variant,change,rope,code,words", [
    ("gemma2", {"attn_logit_softcapping": 0}, None, 4, "attn_logit_softcapping"),
    ("gemma2", {"final_logit_softcapping": -3.0}, None, 4, "final_logit_softcapping"),
    ("gemma2", {"final_logit_softcapping": True}, None, 4, "final_logit_softcapping"),
    ("gemma2", {"query_pre_attn_scalar": "256"}, None, 4, "query_pre_attn_scalar"),
    ("gemma2", {"layer_types": ["sliding_attention"]}, None, 4, "layer_types"),
    ("gemma2", {"hidden_activation": "swishy"}, None, 5, "hidden_activation"),
    ("gemma2", {"use_bidirectional_attention": True}, None, 5, "bidirectional"),
    ("phi3-longrope", {}, {"short_factor": [1.0, 2.0]}, 4, "short_factor"),
    ("phi3-longrope", {}, {"long_factor": ["x", 1.0, 1.0]}, 4, "long_factor"),
    ("phi3-longrope", {}, {"long_factor": None}, 4, "long_factor"),
    ("phi3-longrope", {}, {"short_factor": [0.0, 1.0, 1.0]}, 4, "short_factor"),
    ("phi3", {"partial_rotary_factor": 0.01}, {"partial_rotary_factor": 0.01}, 4, "rotary dimension"),
])
def test_hostile_config_is_refused_in_one_line(cli, family_root, tmp_path, variant, change, rope, code, words):  # noqa: F811
    folder = _edited(build(family_root, variant, "causal-lm"), tmp_path, change, rope)
    res = cli(["generate", str(folder), "hello", "--max-new-tokens", "2"])
    assert_one_line_error(res, code)
    assert words in res.stderr


def test_fused_weight_of_the_wrong_size_is_named(cli, family_root, tmp_path):  # noqa: F811
    """A qkv_proj that does not split into q, k and v stays as it is, and the load report names what is missing."""
    from safetensors.torch import load_file, save_file

    folder = _edited(build(family_root, "phi3", "causal-lm"), tmp_path, {})
    state = load_file(str(folder / "model.safetensors"))
    key = "model.layers.1.self_attn.qkv_proj.weight"
    state[key] = state[key][:-3].clone()
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    res = cli(["generate", str(folder), "hello", "--max-new-tokens", "2"])
    assert_one_line_error(res, 4)
    assert "model.layers.1.self_attn.q_proj.weight" in res.stderr


@pytest.mark.parametrize("variant", ["gemma2", "phi3-longrope"])
def test_every_config_field_of_the_wrong_type_is_refused_by_name(family_root, variant, tmp_path):  # noqa: F811
    """Each number or string in config.json (and in its rope settings) set to a value of another type or a
    negative one: an AutocliError, at loading or in a forward pass, never an exception from the model code."""
    from autocli.errors import AutocliError
    from autocli.models import load_model_from_dir

    folder = build(family_root, variant, "causal-lm")
    config = json.loads((folder / "config.json").read_text())

    def scalar(v):
        return isinstance(v, (int, float, str)) and not isinstance(v, bool)

    fields = [(k, None) for k, v in config.items() if scalar(v) and k not in ("model_type", "transformers_version", "dtype")]
    fields += [("rope_parameters", k) for k, v in config["rope_parameters"].items() if scalar(v) or isinstance(v, list)]
    assert len(fields) > 15
    for field, sub in fields:
        value = config[field] if sub is None else config[field][sub]
        for bad in (None, "x" if not isinstance(value, str) else 7, [1], -1):
            case = tmp_path / f"{field}-{sub}-{type(bad).__name__}"
            shutil.copytree(folder, case)
            changed = {**config, field: bad} if sub is None else {**config, field: {**config[field], sub: bad}}
            (case / "config.json").write_text(json.dumps(changed))
            try:
                load_model_from_dir(case, "causal-lm")([list(range(2, 40))])  # a forward pass past the window
            except AutocliError:
                pass
            shutil.rmtree(case)
