"""The console script against transformers' pipelines on the same audio: `classify` vs audio-classification
(labels, scores ±1e-4), `transcribe` vs automatic-speech-recognition (transcripts equal, whole and in chunks
with strides), `embed` vs the base model's mean-pooled frames. The pipelines get the decoded 16 kHz arrays
(they would need ffmpeg for files and torchaudio to resample)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fx_audio import RATE, build_audio_checkpoint, write_audio

TOL = 1e-4


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return [write_audio(root / "a.wav", 1.3, 44100, 2, "PCM_16", seed=1),
            write_audio(root / "b.flac", 0.6, 8000, 1, "PCM_24", seed=2, fmt="FLAC"),
            write_audio(root / "c.wav", 2.9, 16000, 1, "FLOAT", seed=3)]


def _samples(path):
    from autocli.preprocess.audio import decode

    return {"raw": decode(str(path), RATE), "sampling_rate": RATE}


def _pipeline(task, folder):
    import transformers

    return transformers.pipeline(task, model=str(folder), device="cpu")


@pytest.mark.parametrize("variant", ["wav2vec2", "wav2vec2-layer", "hubert"])
def test_classify_matches_the_audio_classification_pipeline(script, audio_root, clips, variant):
    folder = build_audio_checkpoint(audio_root, variant, "audio-classification")
    res = script(["classify", folder, *clips, "--top-k", "all", "--format", "jsonl", "--batch-size", "2"])
    assert res.exit_code == 0, res.stderr
    pipe = _pipeline("audio-classification", folder)
    for rec, path in zip(res.jsonl(), clips):
        want = pipe(_samples(path), top_k=None)
        assert [s["label"] for s in rec["scores"]] == [w["label"] for w in want]
        assert np.allclose([s["score"] for s in rec["scores"]], [w["score"] for w in want], atol=TOL, rtol=0)


@pytest.mark.parametrize("variant,chunk,stride", [("wav2vec2", 0, None), ("wav2vec2", 1.0, None), ("wav2vec2", 0.8, 0.2),
                                                   ("wav2vec2-layer", 0.8, 0.2), ("hubert-stable", 1.0, None)])
def test_transcribe_matches_the_asr_pipeline(script, audio_root, clips, variant, chunk, stride):
    folder = build_audio_checkpoint(audio_root, variant, "ctc")
    args = ["--chunk-length", chunk] + (["--stride", stride] if stride is not None else [])
    res = script(["transcribe", folder, *clips, "--format", "jsonl", "--batch-size", "3", *args])
    assert res.exit_code == 0, res.stderr
    pipe = _pipeline("automatic-speech-recognition", folder)
    kw = {"chunk_length_s": chunk, **({"stride_length_s": stride} if stride is not None else {})} if chunk else {}
    records = res.jsonl()
    assert [r["index"] for r in records] == [0, 1, 2]
    for rec, path in zip(records, clips):
        want = pipe(_samples(path), **kw)["text"]
        assert rec["text"] == want and len(want) > 3
        assert rec["seconds"] == pytest.approx(len(_samples(path)["raw"]) / RATE, abs=1e-3)


def test_chunked_transcripts_differ_from_whole_ones_where_the_pipeline_does(audio_root, clips):
    """The chunk rows above are not the whole-file rows in disguise: the strides change the random model's text."""
    folder = build_audio_checkpoint(audio_root, "wav2vec2", "ctc")
    pipe = _pipeline("automatic-speech-recognition", folder)
    x = _samples(clips[2])
    assert pipe(dict(x))["text"] != pipe(dict(x), chunk_length_s=0.8, stride_length_s=0.2)["text"]


def test_embed_is_the_mean_of_the_base_models_frames(script, audio_root, clips):
    import torch

    from tests.fx_audio import audio_oracle

    folder = build_audio_checkpoint(audio_root, "wav2vec2-layer", "base")
    res = script(["embed", folder, *clips[:2], "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    ref = audio_oracle(folder, "wav2vec2-layer", "base")
    for rec, path in zip(res.jsonl(), clips):
        x = torch.tensor(_samples(path)["raw"])
        x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
        with torch.no_grad():
            want = ref(input_values=x[None]).last_hidden_state[0].mean(0)
        assert np.allclose(rec["embedding"], want.numpy(), atol=TOL, rtol=0)


def test_transcribe_table_and_usage_errors(script, audio_root, clips):
    folder = build_audio_checkpoint(audio_root, "wav2vec2", "ctc")
    res = script(["transcribe", folder, clips[0], "--format", "table"], env={"COLUMNS": "200"})  # the path unwrapped
    assert res.exit_code == 0 and "a.wav" in res.stdout and "1.30" in res.stdout
    res = script(["transcribe", folder, clips[0], "--chunk-length", "1", "--stride", "0.5"])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and "--stride" in res.stderr


def test_transcribe_refuses_a_checkpoint_without_ctc_head(script, audio_root, clips):
    folder = build_audio_checkpoint(audio_root, "wav2vec2", "audio-classification")
    res = script(["transcribe", folder, clips[0]])
    assert res.exit_code == 5 and "no trained ctc head" in res.stderr and "Traceback" not in res.stderr
