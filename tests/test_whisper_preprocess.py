"""Whisper's log-mel features equal transformers' WhisperFeatureExtractor (numpy path) to 1e-6, its mel filters
audio_utils.mel_filter_bank; the checkpoint's processor pairs them with the tokenizer (WhisperProcessor)."""

from __future__ import annotations

import numpy as np
import pytest

from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.preprocess.whisper import WhisperFeatureExtractor, mel_filter_bank

RATE = 16000


def _clip(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(np.arange(n) / 7.0) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def _oracle(x: np.ndarray, bins: int) -> np.ndarray:
    """transformers' numpy path on the clip as the ASR pipeline pads it (to 30 s; longer clips whole)."""
    from transformers import WhisperFeatureExtractor as Oracle

    padded = np.pad(x, (0, max(0, 30 * RATE - len(x))))
    return Oracle(feature_size=bins)._np_extract_fbank_features(padded[None], "cpu")[0]


@pytest.mark.parametrize("n,bins", [(3 * RATE, 80), (30 * RATE, 128), (45 * RATE + 123, 80), (1, 80), (30 * RATE + 1, 128)])
def test_features_equal_transformers(n, bins):
    x = _clip(n)
    got = WhisperFeatureExtractor(feature_size=bins).features(x)
    want = _oracle(x, bins)
    assert got.dtype == np.float32 and got.shape == want.shape == (bins, max(3000, n // 160))
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_batch_pads_to_the_longest():
    fe = WhisperFeatureExtractor()
    out = fe([_clip(RATE), _clip(40 * RATE, seed=1)])["input_features"]
    assert out.shape == (2, 80, 4000)
    np.testing.assert_allclose(out[0, :, :3000], _oracle(_clip(RATE), 80), atol=1e-6, rtol=0)
    assert not out[0, :, 3000:].any()


@pytest.mark.parametrize("bins", [80, 128])
def test_mel_filters_equal_audio_utils(bins):
    from transformers.audio_utils import mel_filter_bank as oracle

    want = oracle(num_frequency_bins=201, num_mel_filters=bins, min_frequency=0.0, max_frequency=8000.0,
                  sampling_rate=RATE, norm="slaney", mel_scale="slaney")
    np.testing.assert_allclose(mel_filter_bank(201, bins, 8000.0, RATE), want, atol=1e-12, rtol=1e-10)


def test_config_is_read_and_checked():
    fe = WhisperFeatureExtractor.from_config({"feature_size": 128, "hop_length": 160, "n_fft": 400}, "preprocessor_config.json")
    assert (fe.feature_size, fe.n_samples, fe.nb_max_frames) == (128, 480000, 3000)
    with pytest.raises(InvalidCheckpoint, match="feature_size"):
        WhisperFeatureExtractor.from_config({"feature_size": "80"}, "preprocessor_config.json")
    with pytest.raises(Unsupported, match="dither"):
        WhisperFeatureExtractor.from_config({"dither": 1e-4}, "preprocessor_config.json")


def test_checkpoint_processor_pairs_features_and_tokenizer(whisper_ckpt):
    from transformers import WhisperProcessor as Oracle

    from autocli.checkpoint import Checkpoint
    from autocli.preprocess import load_processor

    pre = load_processor(Checkpoint.resolve(str(whisper_ckpt)), "whisper")
    assert type(pre).__name__ == "WhisperProcessor" and pre.input == "audio" and pre.sampling_rate == RATE
    oracle = Oracle.from_pretrained(whisper_ckpt)
    x = _clip(2 * RATE)
    want = oracle.feature_extractor._np_extract_fbank_features(np.pad(x, (0, 28 * RATE))[None], "cpu")
    np.testing.assert_allclose(pre([x])["input_features"], want, atol=1e-6, rtol=0)
    for token in ("<|startoftranscript|>", "<|de|>", "<|translate|>", "<|transcribe|>", "<|notimestamps|>", "<|0.00|>", "<|30.00|>"):
        assert pre.tokenizer.token_to_id(token) == oracle.tokenizer.convert_tokens_to_ids(token)
    ids = oracle.tokenizer("the cat sat", add_special_tokens=False).input_ids
    assert pre.tokenizer.decode(ids) == oracle.tokenizer.decode(ids, skip_special_tokens=True)
    assert any("mel" in step for step in pre.steps())
