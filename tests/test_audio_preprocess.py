"""The Wav2Vec2 feature extractor and the CTC decoder against transformers (the oracle), torch-free in autocli.

Files are written with soundfile in each sample format; the oracle is transformers' feature extractor on the
same decoded, downmixed and resampled array (transformers' pipelines resample with torchaudio, autocli with
soxr: the resampling is checked against soxr itself and the downmix against the pipeline's own _to_mono).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.fx_audio import CTC_VOCAB, RATE, write_audio

FORMATS = [  # (subtype, rate, channels, container)
    ("PCM_U8", 16000, 1, "WAV"),
    ("PCM_16", 16000, 2, "WAV"),
    ("PCM_24", 8000, 1, "WAV"),
    ("PCM_16", 44100, 2, "WAV"),
    ("FLOAT", 44100, 1, "WAV"),
    ("PCM_24", 22050, 2, "FLAC"),
    ("VORBIS", 16000, 1, "OGG"),
]
SETTINGS = [dict(do_normalize=True, return_attention_mask=True), dict(do_normalize=False, return_attention_mask=True),
            dict(do_normalize=True, return_attention_mask=False), dict(do_normalize=False, return_attention_mask=False, padding_value=0.25)]


def ours(settings: dict):
    from autocli.preprocess.audio import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor.from_config({"feature_extractor_type": "Wav2Vec2FeatureExtractor", **settings}, "test")


def oracle(settings: dict):
    import transformers

    return transformers.Wav2Vec2FeatureExtractor(**{"feature_size": 1, "sampling_rate": RATE, **settings})


def expected_samples(path, rate: int = RATE):
    """What autocli must decode: soundfile's float32 samples, the pipeline's channel mean, soxr at the target rate."""
    import soundfile as sf
    import soxr

    from transformers.pipelines.automatic_speech_recognition import _to_mono

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (n, channels)
    mono = _to_mono(data.T) if data.shape[1] > 1 else data[:, 0]
    return mono if sr == rate else soxr.resample(mono, sr, rate, quality="HQ")


@pytest.mark.parametrize("subtype,rate,channels,container", FORMATS)
def test_decoding_is_soundfile_downmix_and_soxr(tmp_path, subtype, rate, channels, container):
    from autocli.preprocess.audio import decode

    path = write_audio(tmp_path / f"clip.{container.lower()}", seconds=1.7, rate=rate, channels=channels, subtype=subtype, fmt=container)
    got = decode(str(path), RATE)
    want = expected_samples(path)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_long_file_decodes_in_blocks_like_one_resampling(tmp_path):
    from autocli.preprocess import audio

    path = write_audio(tmp_path / "long.wav", seconds=3 * audio.BLOCK_FRAMES / 44100 + 0.3, rate=44100, channels=2)
    got = audio.decode(str(path), RATE)
    np.testing.assert_allclose(got, expected_samples(path), atol=1e-6, rtol=0)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("subtype,rate,channels,container", FORMATS[:5])
def test_one_clip_matches_the_feature_extractor(tmp_path, settings, subtype, rate, channels, container):
    proc = ours(settings)
    path = write_audio(tmp_path / "clip.wav", seconds=0.9, rate=rate, channels=channels, subtype=subtype, seed=7)
    raw = proc.load(str(path))
    got = proc([raw])
    want = oracle(settings)(raw, sampling_rate=RATE, return_tensors="np")
    assert sorted(got) == sorted(k for k in want.keys())
    assert got["input_values"].dtype == np.float32
    np.testing.assert_allclose(got["input_values"], want["input_values"], atol=1e-6, rtol=0)
    if "attention_mask" in got:
        np.testing.assert_array_equal(got["attention_mask"], want["attention_mask"])


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_a_padded_batch(settings):
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.3 + 0.1 for n in (1200, 3000, 2000)]
    got = ours(settings)(clips)
    assert got["input_values"].shape == (3, 3000)
    fe = oracle(settings)
    if settings["return_attention_mask"]:  # transformers' statistics over the real samples: the same batch
        want = fe(clips, sampling_rate=RATE, padding=True, return_tensors="np")
        np.testing.assert_allclose(got["input_values"], want["input_values"], atol=1e-6, rtol=0)
        np.testing.assert_array_equal(got["attention_mask"], want["attention_mask"])
        return
    # no mask: each clip as transformers processes it alone, then the padding value
    for row, clip in zip(got["input_values"], clips):
        alone = fe(clip, sampling_rate=RATE, return_tensors="np")["input_values"][0]
        np.testing.assert_allclose(row[: len(clip)], alone, atol=1e-6, rtol=0)
        assert np.all(row[len(clip):] == fe.padding_value)


def test_batch_key_keeps_unmasked_clips_of_different_lengths_apart():
    from autocli.tasks.media import sharing

    clips = [np.zeros(n, dtype=np.float32) for n in (5, 7, 5)]
    assert sharing(ours(dict(return_attention_mask=False)), clips) == [[0, 2], [1]]
    assert sharing(ours(dict(return_attention_mask=True)), clips) == [[0, 1, 2]]


def test_settings_and_steps():
    proc = ours(dict(sampling_rate=8000, do_normalize=False, return_attention_mask=True))
    assert proc.settings()["sampling_rate"] == 8000 and proc.input == "audio"
    assert any("8000 Hz" in step for step in proc.steps()) and not any("normalize" in s for s in proc.steps())


@pytest.mark.parametrize("bad,code", [({"sampling_rate": "16k"}, 4), ({"sampling_rate": 0}, 4), ({"feature_size": 80}, 5),
                                      ({"padding_side": "left"}, 5), ({"do_normalize": "yes"}, 4), ({"padding_value": "0"}, 4)])
def test_refused_settings(bad, code):
    from autocli.errors import AutocliError

    with pytest.raises(AutocliError) as e:
        ours(bad)
    assert e.value.exit_code == code


# --- CTC decoding ------------------------------------------------------------------------------------

class _Ckpt:
    """The two JSON files a CTC decoder reads, as a checkpoint hands them over."""

    name = "test"

    def __init__(self, files: dict):
        self.files = files

    def json(self, name, max_bytes=None):
        return self.files.get(name)


@pytest.mark.parametrize("config", [{}, {"do_lower_case": True}, {"word_delimiter_token": "'", "clean_up_tokenization_spaces": True},
                                    {"pad_token": "<unk>", "unk_token": "<pad>"}])
def test_ctc_decoding_matches_the_tokenizer_as_the_pipeline_calls_it(tmp_path, config):
    import json

    import transformers

    from autocli.preprocess.ctc import load_ctc_decoder

    (tmp_path / "vocab.json").write_text(json.dumps(CTC_VOCAB))
    tok = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), **config)
    tok.save_pretrained(tmp_path)
    files = {n: json.loads((tmp_path / n).read_text()) for n in ("vocab.json", "tokenizer_config.json")}
    decoder = load_ctc_decoder(_Ckpt(files))
    rng = np.random.default_rng(0)
    for n in range(30):
        ids = rng.integers(0, len(CTC_VOCAB) + 2, size=rng.integers(0, 60)).tolist()  # ids past the vocab: <unk>
        assert decoder.decode(ids) == tok.decode(ids, skip_special_tokens=False), ids


def test_ctc_vocab_per_language(tmp_path):
    from autocli.errors import AutocliError
    from autocli.preprocess.ctc import load_ctc_decoder

    nested = {"eng": CTC_VOCAB, "fra": {"<pad>": 0, "|": 1, "É": 2}}
    assert load_ctc_decoder(_Ckpt({"vocab.json": nested, "tokenizer_config.json": {"target_lang": "fra"}})).decode([2, 2, 0, 2, 1, 2]) == "ÉÉ É"
    with pytest.raises(AutocliError, match="target_lang"):
        load_ctc_decoder(_Ckpt({"vocab.json": nested}))
    with pytest.raises(AutocliError, match="no vocab.json"):
        load_ctc_decoder(_Ckpt({}))
