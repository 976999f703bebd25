"""Gemma, Gemma 2 and Phi-3 against transformers: logits of every head (float32, left and right padding,
max |Δ| <= 1e-4 at real tokens), greedy generation token-identical for a padded batch of two prompts and for
each prompt alone, and what each family's own math must prove: Gemma 2's soft-capping and alternating
sliding windows, Phi-3's partial rotary and LongRoPE (short factors, long factors, and the switch from one to
the other during generation, where transformers reruns the sequence), `autocli compat` on the checkpoints.

Checkpoints: tests/fx_gemma_phi3.py (the every-head rows of the three families are in the parity table).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.fx_gemma_phi3 import LEGACY_ROPE, ORIGINAL, TASKS, VARIANTS, build, family_root, oracle  # noqa: F401
from tests.fx_decoders import oracle_output, padded_batch, reference_generate
from tests.fx_models import VARIANTS as TABLE

TOL = 1e-4
NEW = 32
PROMPTS = ["The quick brown fox jumps over", "Hello"]
LONG_PROMPT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods"
# every head of gemma, gemma2 and phi3 is a row of the parity table (tests/fx_models.VARIANTS, test_parity_decoders);
# here causal-lm on the settings only this file's builder writes (config.json edits, LongRoPE)
PAIRS = [(v, "causal-lm") for v in VARIANTS if v not in TABLE]


def _load(folder: Path, task: str):
    from autocli.models import load_model_from_dir

    return load_model_from_dir(folder, task, device="cpu", dtype="float32")


# --- logits ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant,task", PAIRS, ids=[f"{v}:{t}" for v, t in PAIRS])
def test_logits_match_transformers(family_root, variant, task):
    folder = build(family_root, variant, task)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    ref_model, ours = oracle(folder, variant, task), _load(folder, task)
    assert not ours.report.missing and not ours.report.random
    # (30, 20, 3) passes LongRoPE's ORIGINAL length (long factors), (14, 9, 3) does not (short ones)
    for side, lengths in (("left", (30, 20, 3)), ("right", (30, 20, 3)), ("left", (14, 9, 3))):
        ids, mask = padded_batch(vocab, 1, side, lengths)
        ref, out = oracle_output(ref_model, task, ids, mask), ours(ids, mask)
        assert out.shape == ref.shape, (out.shape, ref.shape)
        delta = (out - ref).abs().max() if task == "sequence-classification" else (out - ref)[mask.bool()].abs().max()
        assert delta <= TOL, f"{variant} {task} {side}-padded {lengths}: max |Δ| = {delta:.2e}"


def _config_variant(root: Path, folder: Path, name: str, **changes) -> Path:
    """A copy of folder whose config.json has `changes` (None deletes a key)."""
    out = root / name
    if not out.exists():
        shutil.copytree(folder, out)
        raw = json.loads((folder / "config.json").read_text())
        for k, v in changes.items():
            raw.pop(k, None) if v is None else raw.__setitem__(k, v)
        (out / "config.json").write_text(json.dumps(raw))
    return out


@pytest.mark.parametrize("variant,change", [
    ("gemma2", {"attn_logit_softcapping": None}),  # the attention cap bites
    ("gemma2", {"final_logit_softcapping": None}),  # the logit cap bites
    ("gemma2", {"sliding_window": 64}),  # the prompt is longer than the window
    ("gemma2-rule", {"layer_types": ["full_attention"] * 3}),  # the even/odd rule put windows somewhere
    ("phi3", {"partial_rotary_factor": None, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}),  # half
    ("phi3", {"sliding_window": None}),
    ("phi3-longrope", {"original_max_position_embeddings": 64}),  # 30 tokens picked the long factors
])
def test_each_feature_changes_the_logits(family_root, variant, change):
    """The fixtures' settings matter: the same weights with the feature turned off give other logits."""
    folder = build(family_root, variant, "causal-lm")
    name = f"{variant}-off-{hashlib.sha1(json.dumps(change).encode()).hexdigest()[:6]}"
    off = _config_variant(family_root, folder, name, **change)
    ids, mask = padded_batch(200, 1, "left", (30, 12))
    assert (_load(folder, "causal-lm")(ids, mask) - _load(off, "causal-lm")(ids, mask))[mask.bool()].abs().max() > 1e-3


def test_longrope_inverse_frequencies_match_transformers():
    from transformers import Phi3Config
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from autocli.models._rope import INIT, rope_parameters

    raw = dict(hidden_size=64, num_attention_heads=4, max_position_embeddings=80, original_max_position_embeddings=16,
               rope_parameters={"rope_type": "longrope", "rope_theta": 500.0, "short_factor": [1.0 + i / 8 for i in range(8)],
                                "long_factor": [2.0 + i for i in range(8)]})
    cfg = Phi3Config(**raw)
    for seq_len in (None, 16, 17):
        ref, ref_scale = ROPE_INIT_FUNCTIONS["longrope"](cfg, "cpu", seq_len=seq_len)
        ours, scale = INIT["longrope"](rope_parameters(raw), 16, 80, seq_len)
        assert torch.equal(ours, ref) and scale == pytest.approx(ref_scale)
    assert scale > 1  # max/original = 5: the attention factor scales cos and sin


def test_su_is_the_old_name_of_longrope(family_root):
    """Phi-3's first configs named LongRoPE "su" (the installed transformers maps the name but cannot load it)."""
    folder = build(family_root, "phi3-legacy", "causal-lm")
    su = _config_variant(family_root, folder, "phi3-su", rope_scaling={**LEGACY_ROPE, "type": "su"})
    ids, mask = padded_batch(200, 1, "left", (30, 12))
    assert torch.equal(_load(folder, "causal-lm")(ids, mask), _load(su, "causal-lm")(ids, mask))


def test_fused_weights_load_as_views(family_root):
    """Phi-3's qkv_proj / gate_up_proj are split by name without copies; nothing is left over."""
    from safetensors import safe_open

    folder = build(family_root, "phi3", "causal-lm")
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "model.layers.0.self_attn.qkv_proj.weight" in keys and "model.layers.0.mlp.gate_up_proj.weight" in keys
    m = _load(folder, "causal-lm")
    assert not m.report.unexpected and not m.report.missing
    attn = m.module.model.layers[0].self_attn
    assert attn.k_proj.weight.shape == (2 * 8, 32) and attn.q_proj.weight.shape == (4 * 8, 32)


# --- generation ------------------------------------------------------------------------------------

def _generate(folder, prompts: list[str], replay: bool = True):
    from autocli.models import load_model_from_dir
    from autocli.tasks.gen_loop import run_batch
    from autocli.tasks.gen_settings import resolve_settings
    from autocli.tokenizer import load_tokenizer_from_dir

    model, tok = load_model_from_dir(folder, "causal-lm", device="cpu", dtype="float32"), load_tokenizer_from_dir(folder)
    model.module.model.replays &= replay
    rows = [tok.encode(p).ids for p in prompts]
    s = resolve_settings(model.config, None, tok, {"max_new_tokens": NEW})
    out = run_batch(model, tok, rows, s).rows
    return rows, [seq.token_ids for [seq] in out], s["eos_token_id"][0]


def _reference_generate(folder, variant, rows, eos):
    return reference_generate(oracle(folder, variant, "causal-lm"), rows, eos, NEW)


GEN = [(v, p) for v in VARIANTS for p in ("batch", "alone")] + [("phi3-longrope", "long"), ("phi3-legacy", "long"), ("llama-longrope", "long")]


@pytest.mark.parametrize("variant,prompts", GEN, ids=[f"{v}:{p}" for v, p in GEN])
def test_greedy_ids_equal_transformers(family_root, variant, prompts):
    folder = build(family_root, variant, "causal-lm")
    texts = {"batch": [PROMPTS], "alone": [[p] for p in PROMPTS], "long": [[LONG_PROMPT, PROMPTS[1]]]}[prompts]
    for batch in texts:
        rows, ours, eos = _generate(folder, batch)
        if variant.endswith(("-longrope", "-legacy")) and prompts != "long":
            assert max(map(len, rows)) < ORIGINAL < max(map(len, rows)) + NEW  # LongRoPE switches while generating
        if prompts == "long":
            assert max(map(len, rows)) > ORIGINAL and len(rows[0]) != len(rows[1])
        assert ours == _reference_generate(folder, variant, rows, eos), (variant, batch)


def test_longrope_switch_reruns_the_sequence(family_root):
    """Past ORIGINAL positions the cached keys (short factors) are stale: without the rerun the tokens differ."""
    folder = build(family_root, "phi3-longrope", "causal-lm")
    assert _generate(folder, PROMPTS)[1] != _generate(folder, PROMPTS, replay=False)[1]


# --- compat ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["gemma", "gemma2", "phi3"])
def test_compat_says_ready_for_every_head(family_root, cli, variant):
    for task in TASKS:
        folder = build(family_root, variant, task)
        res = cli(["compat", folder, "--format", "json"])
        assert res.exit_code == 0, res.stderr
        [report] = res.json()["checkpoints"]
        assert report["family"] and report["model_type"] == VARIANTS[variant][0].lower()
        verdicts = {t: v["verdict"] for t, v in report["verdicts"].items()}
        assert verdicts[task] == "ready" and verdicts["base"] == "ready", verdicts
        assert verdicts["question-answering"] != "ready"
