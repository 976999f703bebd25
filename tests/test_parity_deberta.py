"""DeBERTa v1, DeBERTa-v2/v3 and ModernBERT against transformers: one row per (family, variant, head).

Float32, padded batches, max |Δ| <= 1e-4 over the real (unpadded) positions; whole-sequence heads are
compared entirely. Variants are rows of tests/fx_models.VARIANTS (each moves one config value that changes the math).
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_deberta import build_family_checkpoint, oracle_model
from tests.fx_models import parity_rows

TOL = 1e-4
PER_TOKEN = ("base", "token-classification", "question-answering", "masked-lm")

ROWS = [(name.split("/")[0], name.split("/")[1], task) for name, task in parity_rows("deberta")]  # fx_models.VARIANTS


def _batch(task: str, vocab: int, T: int = 20, seed: int = 0):
    """Rows of lengths T, T-5 and 3 (padding on the right), choices for multiple choice."""
    import torch

    g = torch.Generator().manual_seed(seed)
    shape = (3, 2, T) if task == "multiple-choice" else (3, T)
    ids = torch.randint(5, vocab, shape, generator=g)
    mask = torch.ones(shape, dtype=torch.long)
    for b, n in enumerate((T, T - 5, 3)):
        mask[b, ..., n:] = 0
        ids[b, ..., n:] = 0
    return ids, mask


def _reference(model, task, ids, mask):
    import torch

    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    if task == "base":
        return out.last_hidden_state
    if task == "question-answering":
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    return out.logits


def _max_diff(task, want, got, mask) -> float:
    assert got.shape == want.shape, (got.shape, want.shape)
    if task in PER_TOKEN:
        keep = mask.bool()
        return (want[keep] - got[keep]).abs().max().item()
    return (want - got).abs().max().item()


@pytest.mark.parametrize("family,variant,task", ROWS, ids=["/".join(r) for r in ROWS])
def test_parity(deberta_root, family, variant, task):
    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, family, task, variant)
    ours = load_model_from_dir(folder, task, device="cpu")
    assert not ours.report.missing and not ours.report.unexpected and not ours.report.random, ours.report
    ids, mask = _batch(task, 99)
    want = _reference(oracle_model(folder, family, task), task, ids, mask)
    assert _max_diff(task, want, ours(ids, mask), mask) <= TOL


def test_long_rows_cross_the_log_buckets(deberta_root):
    """deberta-v3's 256 buckets only start bucketing past 128 tokens."""
    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, "deberta-v2", "token-classification", "v3")
    ids, mask = _batch("token-classification", 99, T=300)
    want = _reference(oracle_model(folder, "deberta-v2", "token-classification"), "token-classification", ids, mask)
    got = load_model_from_dir(folder, "token-classification", device="cpu")(ids, mask)
    assert _max_diff("token-classification", want, got, mask) <= TOL


def test_talking_heads_are_built(deberta_root):
    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, "deberta", "base", "talking-heads")
    model = load_model_from_dir(folder, "base", device="cpu")
    attn = model.module.deberta.encoder.layer[0].attention.self
    assert attn.head_logits_proj.weight.shape == (4, 4) and attn.head_weights_proj.weight.shape == (4, 4)


def test_the_window_matters(deberta_root):
    """The sliding window is applied: widening it (config only) changes the output, and transformers agrees."""
    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, "modernbert", "base", "alternating")
    wide = folder.parent / (folder.name + "-wide")
    shutil.copytree(folder, wide, dirs_exist_ok=True)
    cfg = json.loads((wide / "config.json").read_text())
    cfg["local_attention"] = 1000
    (wide / "config.json").write_text(json.dumps(cfg))
    ids, mask = _batch("base", 99)
    narrow_out = load_model_from_dir(folder, "base", device="cpu")(ids, mask)
    wide_out = load_model_from_dir(wide, "base", device="cpu")(ids, mask)
    assert _max_diff("base", narrow_out, wide_out, mask) > 1e-2
    assert _max_diff("base", _reference(oracle_model(wide, "modernbert", "base"), "base", ids, mask), wide_out, mask) <= TOL


def test_modernbert_pre_v5_config(deberta_root):
    """Hub configs written before transformers 5: global_attn_every_n_layers and global/local_rope_theta
    instead of layer_types and rope_parameters."""
    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, "modernbert", "sequence-classification", "mean-biases")
    old = folder.parent / (folder.name + "-old")
    shutil.copytree(folder, old, dirs_exist_ok=True)
    cfg = json.loads((old / "config.json").read_text())
    rope = cfg.pop("rope_parameters")
    types = cfg.pop("layer_types")
    assert types == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
    cfg.update(global_attn_every_n_layers=3, global_rope_theta=rope["full_attention"]["rope_theta"],
               local_rope_theta=rope["sliding_attention"]["rope_theta"])
    assert cfg["global_rope_theta"] == 1000.0 and cfg["local_rope_theta"] == 77.0
    (old / "config.json").write_text(json.dumps(cfg))
    ids, mask = _batch("sequence-classification", 99)
    want = _reference(oracle_model(folder, "modernbert", "sequence-classification"), "sequence-classification", ids, mask)
    assert _max_diff("sequence-classification", want, load_model_from_dir(old, "sequence-classification", device="cpu")(ids, mask), mask) <= TOL


def test_real_v3_masked_lm_layout(deberta_root):
    """microsoft/deberta-v3-* ship `lm_predictions.lm_head.*` (+ the RTD head `mask_predictions.*`) with no
    `legacy` in config.json: the trained head is used (transformers would leave `cls.predictions` random)."""
    import torch
    from safetensors.torch import load_file, save_file

    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, "deberta-v2", "masked-lm", "v3-new-mlm")
    real = folder.parent / (folder.name + "-real")
    shutil.copytree(folder, real, dirs_exist_ok=True)
    cfg = json.loads((real / "config.json").read_text())
    del cfg["legacy"]
    (real / "config.json").write_text(json.dumps(cfg))
    state = load_file(real / "model.safetensors")
    state["mask_predictions.dense.weight"] = torch.zeros(32, 32)
    state["mask_predictions.classifier.weight"] = torch.zeros(1, 32)
    state["deberta.embeddings.position_embeddings.weight"] = torch.zeros(512, 32)
    save_file(state, real / "model.safetensors", metadata={"format": "pt"})
    ours = load_model_from_dir(real, "masked-lm", device="cpu")
    assert not ours.report.unexpected and not ours.report.missing
    ids, mask = _batch("masked-lm", 99)
    want = _reference(oracle_model(folder, "deberta-v2", "masked-lm"), "masked-lm", ids, mask)
    assert _max_diff("masked-lm", want, ours(ids, mask), mask) <= TOL


def test_bare_backbone_loads_into_a_head_only_with_permission(deberta_root):
    from autocli.errors import Unsupported
    from autocli.models import load_model_from_dir

    folder = build_family_checkpoint(deberta_root, "deberta-v2", "base", "v3")
    with pytest.raises(Unsupported, match="no trained sequence-classification head"):
        load_model_from_dir(folder, "sequence-classification", device="cpu")
    model = load_model_from_dir(folder, "sequence-classification", device="cpu", allow_random_head=True)
    assert set(model.report.random) == {"pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"}


def test_deberta_v1_has_no_multiple_choice(cli, deberta_root):
    folder = build_family_checkpoint(deberta_root, "deberta", "base", "base", tokenizer="bpe")
    res = cli(["choose", folder, "--question", "Which?", "--choice", "a", "--choice", "b"])
    assert_one_line_error(res, 5)
    assert "multiple-choice" in res.stderr or "no multiple" in res.stderr


@pytest.mark.parametrize("family,change,match", [
    ("deberta-v2", {"conv_kernel_size": 2}, "even"),
    ("deberta-v2", {"pooler_hidden_size": 16}, "pooler_hidden_size"),
    ("deberta-v2", {"pos_att_type": 3}, "pos_att_type"),
    ("deberta-v2", {"conv_kernel_size": 3, "conv_groups": 5}, "conv_groups"),
    ("deberta-v2", {"position_buckets": 1}, "position_buckets"),
    ("deberta-v2", {"layer_norm_eps": "tiny"}, "layer_norm_eps"),
    ("deberta-v2", {"attention_head_size": 16}, "attention_head_size"),
    ("modernbert", {"classifier_pooling": "max"}, "classifier_pooling"),
    ("modernbert", {"rope_parameters": {"full_attention": {"rope_type": "yarn", "factor": 2.0}}}, "rope type"),
    ("modernbert", {"layer_types": ["full_attention"]}, "layer_types"),
    ("modernbert", {"hidden_activation": "swiglu"}, "hidden_activation"),
])
def test_refused_configs(deberta_root, family, change, match):
    from autocli.errors import AutocliError
    from autocli.models import load_model_from_dir

    variant = "v3" if family == "deberta-v2" else "alternating"
    folder = build_family_checkpoint(deberta_root, family, "sequence-classification", variant)
    bad = folder.parent / (folder.name + "-bad-" + "-".join(change))
    shutil.copytree(folder, bad, dirs_exist_ok=True)
    cfg = json.loads((bad / "config.json").read_text())
    cfg.update(change)
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(AutocliError, match=match) as info:
        load_model_from_dir(bad, "sequence-classification", device="cpu")
    assert info.value.exit_code in (4, 5) and info.value.hint
