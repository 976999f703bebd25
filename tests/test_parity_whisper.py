"""Whisper's model equals transformers' on tiny random checkpoints (<= 1e-4): the LM logits over given decoder
tokens, the encoder (base), audio classification; 128 mel bins and scaled embeddings too; cached decoding
gives the logits of a full forward."""

from __future__ import annotations

import pytest
import torch

from tests.fx_whisper import build_whisper, whisper_oracle

ROWS = [("speech-seq2seq", {}), ("speech-seq2seq", {"num_mel_bins": 128, "scale_embedding": True}),
        ("base", {}), ("audio-classification", {}), ("audio-classification", {"num_mel_bins": 128})]


def _features(bins: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, bins, 3000, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("task,overrides", ROWS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(ROWS)])
def test_parity(whisper_root, task, overrides):
    from autocli.models import load_model_from_dir

    folder = build_whisper(whisper_root, task, **overrides)
    oracle = whisper_oracle(folder, task)
    loaded = load_model_from_dir(folder, task)
    assert not loaded.report.missing and not loaded.report.unexpected and not loaded.report.random
    x = _features(overrides.get("num_mel_bins", 80))
    with torch.no_grad():
        if task == "speech-seq2seq":
            dec = torch.tensor([[330, 321, 327, 332, 40, 41], [330, 322, 326, 333, 7, 9]])
            want = oracle(input_features=x, decoder_input_ids=dec).logits
            got = loaded.module.logits(loaded.module.full_decode(x, None, dec))
        elif task == "base":
            want = oracle.encoder(x).last_hidden_state
            got = loaded(input_features=x)
        else:
            want = oracle(input_features=x).logits
            got = loaded(input_features=x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_cached_steps_equal_a_full_forward(whisper_ckpt):
    from autocli.models import load_model_from_dir

    m = load_model_from_dir(whisper_ckpt, "speech-seq2seq").module
    x, dec = _features(80, 1), torch.tensor([[330, 321, 327, 332, 40, 41, 57]])
    with torch.no_grad():
        full = m.logits(m.full_decode(x, None, dec))[0]  # (T, V)
        cache = m.new_cache(m.encode(x, None), None, 1, 16)
        first = m.logits(m.backbone.decode(dec[:, :4], cache.cross, cache.cross_mask, cache))[0]  # the prompt at once
        steps = [m.step(dec[:, t], cache)[0] for t in range(4, 7)]
    torch.testing.assert_close(torch.cat([first, torch.stack(steps)]), full, atol=1e-4, rtol=1e-4)


def test_features_of_the_wrong_length_are_refused(whisper_ckpt):
    from autocli.errors import UsageError
    from autocli.models import load_model_from_dir

    loaded = load_model_from_dir(whisper_ckpt, "base")
    with pytest.raises(UsageError, match="3000"):
        loaded(input_features=torch.zeros(1, 80, 2999))
