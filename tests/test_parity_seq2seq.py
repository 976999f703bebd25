"""Encoder-decoder logit parity with transformers: every (family, head) pair on every config variant
that changes the math (T5 v1.0 tied + ReLU, v1.1 untied + gated-GELU, mT5, UMT5's per-layer bias, BART, mBART's
pre-norm and language-id shift), float32, right-padded batches, max |Δ| <= 1e-4 at real tokens.

`base` is the encoder's output (T5EncoderModel; BartModel's encoder_last_hidden_state). Heads that read the
decoder get transformers' default decoder inputs (the inputs shifted right), as their forward does.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.fx_models import parity_rows
from tests.fx_seq2seq import VARIANTS, build_seq2seq, is_t5, seq2seq_oracle

TOL = 1e-4
PAIRS = parity_rows("seq2seq")  # every head the registry row offers, on every variant (fx_models.VARIANTS)


def _batch(folder, lengths=(14, 9, 3), seed: int = 0):
    """Right-padded rows of random ids, each ending in the checkpoint's EOS (sequence classification pools there)."""
    cfg = json.loads((folder / "config.json").read_text())
    vocab, pad, eos = cfg["vocab_size"], cfg["pad_token_id"], cfg["eos_token_id"]
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.full((len(lengths), T), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        row = torch.randint(5, vocab, (n,), generator=g)
        row[-1] = eos
        ids[b, :n], mask[b, :n] = row, 1
    return ids, mask


def _oracle_output(model, variant, task, ids, mask):
    with torch.no_grad():
        if task in ("seq2seq-lm", "sequence-classification", "question-answering") and is_t5(variant):
            out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=model._shift_right(ids))
        else:
            out = model(input_ids=ids, attention_mask=mask)
    if task == "base":
        return out.last_hidden_state if is_t5(variant) else out.encoder_last_hidden_state
    if task == "question-answering":
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    return out.logits


def _load(folder, task):
    from autocli.models import load_model_from_dir

    return load_model_from_dir(folder, task, device="cpu", dtype="float32")


@pytest.mark.parametrize("variant,task", PAIRS, ids=[f"{v}:{t}" for v, t in PAIRS])
def test_logits_match_transformers(seq2seq_root, variant, task):
    folder = build_seq2seq(seq2seq_root, variant, task)
    ref_model, ours = seq2seq_oracle(folder, variant, task), _load(folder, task)
    assert not ours.report.missing and not ours.report.random
    ids, mask = _batch(folder)
    ref, out = _oracle_output(ref_model, variant, task, ids, mask), ours(ids, mask)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    if task == "sequence-classification":
        delta = (out - ref).abs().max()
    else:
        delta = (out - ref)[mask.bool()].abs().max()  # padding positions carry no meaning
    assert delta <= TOL, f"{variant} {task}: max |Δ| = {delta:.2e}"


CACHED = [(v, {}) for v in VARIANTS] + [("t5-v1_1", {"num_decoder_layers": 3}), ("bart", {"decoder_layers": 3})]


@pytest.mark.parametrize("variant,overrides", CACHED, ids=[v + ("-deeper-decoder" if o else "") for v, o in CACHED])
def test_cached_decoding_equals_the_full_decoder(seq2seq_root, variant, overrides):
    """Decoder inputs unlike the encoder's (other length, own tokens), once in one pass against transformers,
    once token by token through the generation cache (self-attention K/V and cross-attention K/V once).
    Also with a decoder deeper than the encoder (transformers' own generate cannot run those)."""
    folder = build_seq2seq(seq2seq_root, variant, "seq2seq-lm", **overrides)
    ref_model, ours = seq2seq_oracle(folder, variant, "seq2seq-lm"), _load(folder, "seq2seq-lm")
    ids, mask = _batch(folder, lengths=(12, 5))
    dec = _batch(folder, lengths=(7, 7), seed=3)[0]
    with torch.no_grad():
        ref = ref_model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits  # (B, 7, V)
        m = ours.module
        full = m.lm(m, m.full_decode(ids, mask, dec))
        cache = m.new_cache(m.encode(ids, mask), mask, 1, dec.shape[1])
        steps = torch.stack([m.step(dec[:, t], cache) for t in range(dec.shape[1])], dim=1)
    assert (full - ref).abs().max() <= TOL
    assert (steps - ref).abs().max() <= TOL


def test_untied_head_is_its_own_and_unscaled(seq2seq_root):
    """v1.1/Flan: config.json says untied and the weights hold lm_head; v1.0: the head is the embedding, rescaled."""
    v11 = _load(build_seq2seq(seq2seq_root, "t5-v1_1", "seq2seq-lm"), "seq2seq-lm").module
    assert v11.lm_head.weight.data_ptr() != v11.transformer.decoder.embed_tokens.weight.data_ptr()
    assert not v11.scale
    v10 = _load(build_seq2seq(seq2seq_root, "t5", "seq2seq-lm"), "seq2seq-lm").module
    assert v10.lm_head.weight.data_ptr() == v10.transformer.decoder.embed_tokens.weight.data_ptr()
    assert v10.scale


def test_encoder_only_checkpoint_runs_base_but_not_the_lm(seq2seq_root):
    from autocli.errors import AutocliError

    folder = build_seq2seq(seq2seq_root, "t5", "base")  # T5EncoderModel: shared.* and encoder.* only
    assert _load(folder, "base").report.missing == []
    with pytest.raises(AutocliError) as e:
        _load(folder, "seq2seq-lm")
    assert "decoder" in str(e.value.message)
