"""Decoder logit parity with transformers: every (family, head) pair and every config variant that changes the math (rope scaling, GQA, sliding windows, tied/untied, biases, head_dim, q/k norm, ...), float32,
padded batches (left and right), max |Δ| <= 1e-4 at real tokens.

transformers is given position ids that count real tokens only (what its generate() does); autocli derives
the same from the attention mask.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.fx_decoders import build_decoder, decoder_oracle, oracle_output, padded_batch
from tests.fx_models import parity_rows

TOL = 1e-4
PAIRS = parity_rows("decoder")  # every head of each family's first row, causal-lm on the others (fx_models.VARIANTS)


def _load(folder, task):
    from autocli.models import load_model_from_dir

    return load_model_from_dir(folder, task, device="cpu", dtype="float32")


@pytest.mark.parametrize("variant,task", PAIRS, ids=[f"{v}:{t}" for v, t in PAIRS])
def test_logits_match_transformers(decoder_root, variant, task):
    cfg_pad = {"pad_token_id": 1} if task == "sequence-classification" else {}
    folder = build_decoder(decoder_root, variant, task, **cfg_pad)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    ref_model, ours = decoder_oracle(folder, variant, task), _load(folder, task)
    assert not ours.report.missing and not ours.report.random
    for side in ("left", "right"):
        ids, mask = padded_batch(vocab, pad=1, side=side)
        ref, out = oracle_output(ref_model, task, ids, mask), ours(ids, mask)
        assert out.shape == ref.shape, (out.shape, ref.shape)
        if task == "sequence-classification":
            delta = (out - ref).abs().max()
        else:
            delta = (out - ref)[mask.bool()].abs().max()  # padding positions carry no meaning
        assert delta <= TOL, f"{variant} {task} {side}-padded: max |Δ| = {delta:.2e}"


@pytest.mark.parametrize("variant", ["gpt2", "llama", "gpt_neox"])
def test_sequence_classification_without_pad_token(decoder_root, variant):
    """transformers refuses batches > 1 without pad_token_id; autocli pools at the last real token by the mask."""
    folder = build_decoder(decoder_root, variant, "sequence-classification")
    assert json.loads((folder / "config.json").read_text()).get("pad_token_id") is None
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    ref_model, ours = decoder_oracle(folder, variant, "sequence-classification"), _load(folder, "sequence-classification")
    ids, mask = padded_batch(vocab, pad=0, side="right", lengths=(11, 4, 7))
    out = ours(ids, mask)  # (B, L)
    for b in range(ids.shape[0]):
        n = int(mask[b].sum())
        with torch.no_grad():
            ref = ref_model(input_ids=ids[b:b + 1, :n]).logits  # one unpadded row at a time
        assert (out[b] - ref[0]).abs().max() <= TOL


def test_sliding_window_is_shorter_than_the_prompt(decoder_root):
    """The mistral fixture's window (5) must matter: a full-attention run of the same weights differs."""
    folder = build_decoder(decoder_root, "mistral", "causal-lm")
    windowed = _load(folder, "causal-lm")
    ids, mask = padded_batch(300, pad=1, side="left", lengths=(14, 12))
    config = json.loads((folder / "config.json").read_text())
    assert config["sliding_window"] < 12
    full_folder = build_decoder(decoder_root, "mistral", "causal-lm", sliding_window=None)
    assert (windowed(ids, mask) - _load(full_folder, "causal-lm")(ids, mask))[mask.bool()].abs().max() > 1e-3


def test_tied_head_is_the_embedding_matrix(decoder_root):
    """A tied checkpoint stores no lm_head; loading gives the head the embedding tensor itself."""
    from safetensors import safe_open

    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert "lm_head.weight" not in set(f.keys())
    m = _load(folder, "causal-lm").module
    assert m.lm_head.weight.data_ptr() == m.transformer.wte.weight.data_ptr()


def test_rope_scaling_spellings_agree(decoder_root):
    """`rope_scaling` (old) and `rope_parameters` (new) spellings of one setting give the same model."""
    from autocli.models._rope import rope_parameters

    old = {"rope_scaling": {"type": "linear", "factor": 2.0}, "rope_theta": 500.0, "max_position_embeddings": 64}
    new = {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}, "max_position_embeddings": 64}
    assert rope_parameters(old) == rope_parameters(new)
    neox = rope_parameters({"rotary_pct": 0.25, "rotary_emb_base": 1000}, {"partial_rotary_factor": 0.25})
    assert neox == {"rope_type": "default", "rope_theta": 1000, "partial_rotary_factor": 0.25}


@pytest.mark.parametrize("rope", [
    {"rope_type": "linear", "factor": 2.0},
    {"rope_type": "dynamic", "factor": 2.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "mscale": 0.7, "mscale_all_dim": 1.0, "truncate": False},
])
def test_inverse_frequencies_match_transformers(rope):
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from autocli.models._rope import INIT, rope_parameters

    raw = {"hidden_size": 64, "num_attention_heads": 4, "max_position_embeddings": 32, "rope_parameters": dict(rope, rope_theta=10000.0)}
    cfg = LlamaConfig(**raw)
    for seq_len in (None, 80):
        ref, ref_scale = ROPE_INIT_FUNCTIONS[rope["rope_type"]](cfg, "cpu", seq_len=seq_len)
        ours, scale = INIT[rope["rope_type"]](rope_parameters(raw), 16, 32, seq_len)
        assert torch.allclose(ours, ref, rtol=1e-6, atol=0) and scale == pytest.approx(ref_scale)


def test_unsupported_rope_type_is_refused(decoder_root, cli):
    from tests.conftest import assert_one_line_error

    folder = build_decoder(decoder_root, "llama", "causal-lm")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["rope_parameters"] = {"rope_type": "xpos", "rope_theta": 10000.0, "scale_base": 512}
    bad = folder.parent / "llama-xpos"
    if not bad.exists():
        import shutil

        shutil.copytree(folder, bad)
    (bad / "config.json").write_text(json.dumps(cfg))
    res = cli(["generate", bad, "hello", "--max-new-tokens", "2"])
    assert_one_line_error(res, 5)
    assert "xpos" in res.stderr
