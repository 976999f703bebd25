"""Whisper transcripts token-identical to transformers' generate (and its ASR pipeline's text) on a tiny random
checkpoint: short and long form (> 30 s), with and without timestamps, language given and detected, translate,
beam search; the decoding rules (suppress, begin-suppress, timestamp pairs) and the cut into segments equal
transformers' processors and _retrieve_segment on crafted inputs."""

from __future__ import annotations

import json

import pytest
import torch

from tests.fx_audio import write_audio

# (seconds, generate keywords): greedy unless num_beams
CASES = [(3, {"return_timestamps": True}), (3, {"task": "translate", "return_timestamps": True}),
         (45, {}), (45, {"return_timestamps": True, "language": "en"}), (75, {"language": "fr"}),
         (45, {"num_beams": 2}), (3, {"num_beams": 2, "return_timestamps": True})]


@pytest.fixture(scope="module")
def setup(whisper_ckpt, tmp_path_factory):
    from autocli.checkpoint import Checkpoint
    from autocli.models import load_model_from_dir
    from autocli.preprocess import load_processor
    from autocli.preprocess.audio import decode
    from tests.fx_whisper import whisper_oracle

    root = tmp_path_factory.mktemp("speech")
    audio = {n: decode(str(write_audio(root / f"{n}.wav", n)), 16000) for n in (3, 45, 75)}
    return {"oracle": whisper_oracle(whisper_ckpt), "model": load_model_from_dir(whisper_ckpt, "speech-seq2seq"),
            "pre": load_processor(Checkpoint.resolve(str(whisper_ckpt)), "whisper"), "audio": audio,
            "gen": json.loads((whisper_ckpt / "generation_config.json").read_text()), "ckpt": whisper_ckpt}


def _ours(setup, samples, kw):
    from autocli.tasks.gen_settings import resolve_settings
    from autocli.tasks.whisper import WhisperOptions, transcribe_samples
    from autocli.tasks.whisper_rules import WhisperGeneration

    m, pre = setup["model"], setup["pre"]
    g = WhisperGeneration.read(setup["gen"], m.config.raw)
    s = resolve_settings(m.config, setup["gen"], pre.tokenizer, {"num_beams": kw.get("num_beams")}, seq2seq=True)
    options = WhisperOptions(language=kw.get("language"), task=kw.get("task"), timestamps=bool(kw.get("return_timestamps")))
    return transcribe_samples(m, pre, samples, g, s, options)


def _theirs(setup, samples, kw):
    from transformers import WhisperFeatureExtractor

    long = len(samples) > 480000
    fe = WhisperFeatureExtractor.from_pretrained(setup["ckpt"])
    feats = fe(samples, sampling_rate=16000, return_tensors="pt", truncation=not long,
               padding="longest" if long else "max_length", return_attention_mask=True)
    with torch.no_grad():
        out = setup["oracle"].generate(feats.input_features, attention_mask=feats.attention_mask, return_segments=True, **kw)
    return out["sequences"][0].tolist(), out["segments"][0]


@pytest.mark.parametrize("seconds,kw", CASES, ids=[f"{s}s-{'-'.join(k) or 'plain'}" for s, k in CASES])
def test_tokens_and_segments_equal_generate(setup, seconds, kw):
    samples = setup["audio"][seconds]
    segments, language = _ours(setup, samples, kw)
    want, their_segments = _theirs(setup, samples, kw)
    pad = setup["gen"]["pad_token_id"]
    while want and want[-1] == pad:
        want.pop()
    assert [t for s in segments for t in s.tokens] == want
    assert [(round(s.start, 6), round(s.end, 6)) for s in segments] == \
        [(round(float(s["start"]), 6), round(float(s["end"]), 6)) for s in their_segments]
    if "language" in kw:
        assert language == kw["language"]


def test_language_detection_equals_detect_language(setup):
    from transformers import WhisperFeatureExtractor

    from autocli.tasks.whisper import detect_language
    from autocli.tasks.whisper_rules import WhisperGeneration

    m, samples = setup["model"], setup["audio"][3]
    g = WhisperGeneration.read(setup["gen"], m.config.raw)
    feats = WhisperFeatureExtractor.from_pretrained(setup["ckpt"])(samples, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        want = int(setup["oracle"].detect_language(feats)[0])
        got = detect_language(m, m.module.encode(feats, None), g)
    assert got == want and got in g.lang_to_id.values()


def test_short_form_text_equals_the_asr_pipeline(setup):
    """Short form without timestamps, language given (its tokens: test_tokens_and_segments_equal_generate's rows)."""
    from transformers import AutoTokenizer, WhisperFeatureExtractor, pipeline

    from autocli.tasks.whisper import text_of

    ckpt = setup["ckpt"]
    asr = pipeline("automatic-speech-recognition", model=setup["oracle"], tokenizer=AutoTokenizer.from_pretrained(ckpt),
                   feature_extractor=WhisperFeatureExtractor.from_pretrained(ckpt))
    samples = setup["audio"][3]
    want = asr({"raw": samples, "sampling_rate": 16000}, generate_kwargs={"language": "de"})["text"]
    segments, _ = _ours(setup, samples, {"language": "de"})
    ts = setup["gen"]["no_timestamps_token_id"] + 1
    assert text_of(setup["pre"].tokenizer, [t for s in segments for t in s.tokens], ts) == want


def test_long_form_text_equals_decoding_generate(setup):
    """The text is generate's tokens decoded without special and timestamp tokens (processor.batch_decode)."""
    from transformers import AutoTokenizer

    from autocli.tasks.whisper import text_of

    kw = {"return_timestamps": True, "language": "en"}
    want, _ = _theirs(setup, setup["audio"][45], kw)
    segments, _ = _ours(setup, setup["audio"][45], kw)
    ts = setup["gen"]["no_timestamps_token_id"] + 1
    got = text_of(setup["pre"].tokenizer, [t for s in segments for t in s.tokens], ts)
    assert got == AutoTokenizer.from_pretrained(setup["ckpt"]).decode(want, skip_special_tokens=True)


def _crafted(ts: int, eos: int):
    """Token histories that reach every branch of the timestamp rules (prompt of 3 tokens first)."""
    prompt = [330, 321, 327]
    rows = [[], [ts + 3], [ts + 3, 40], [ts + 3, 40, ts + 9], [ts + 3, 40, ts + 9, ts + 9], [40, 41], [ts, ts + 2, 7]]
    width = max(len(r) for r in rows)
    return [prompt + r + [eos] * (width - len(r)) for r in rows], width


@pytest.mark.parametrize("timestamps", [False, True])
def test_rules_equal_transformers_processors(setup, timestamps):
    from transformers import GenerationConfig
    from transformers.generation.logits_process import (SuppressTokensAtBeginLogitsProcessor,
                                                        SuppressTokensLogitsProcessor, WhisperTimeStampLogitsProcessor)

    from autocli.tasks.whisper_rules import WhisperGeneration, WhisperRules

    gen = setup["gen"]
    g = WhisperGeneration.read(gen, setup["model"].config.raw)
    ts, V = g.timestamp_begin, setup["model"].vocab_size
    rows, width = _crafted(ts, g.eos)
    for cut in range(0, width + 1):  # each history length, the prompt alone first
        seqs = torch.tensor([r[: 3 + cut] for r in rows])
        scores = torch.randn(len(rows), V, generator=torch.Generator().manual_seed(cut)) * 3
        want = SuppressTokensAtBeginLogitsProcessor(gen["begin_suppress_tokens"], 3)(seqs, scores)
        want = SuppressTokensLogitsProcessor(gen["suppress_tokens"])(seqs, want)
        if timestamps:
            want = WhisperTimeStampLogitsProcessor(GenerationConfig(**gen), begin_index=3)(seqs, want)
        torch.testing.assert_close(WhisperRules(g, 3, timestamps)(seqs, scores), want, atol=0, rtol=0)


@pytest.mark.parametrize("tokens", [[], [40, 41, 42], [1, 40, 5], [1, 40, 41, 9, 9, 50, 60, 12], [1, 40, 9, 9, 50, 14],
                                    [0, 40, 7, 7, 41, 9, 9], [3, 40, 41, 8], [0]])
@pytest.mark.parametrize("seek,frames", [(0, 3000), (2400, 1700)])
def test_segments_equal_retrieve_segment(setup, tokens, seek, frames):
    from transformers import WhisperForConditionalGeneration

    from autocli.tasks.whisper_rules import split_segments

    ts = setup["gen"]["no_timestamps_token_id"] + 1
    ids = [t + ts if t < 20 else t for t in tokens]  # small numbers are timestamps
    want, move = WhisperForConditionalGeneration._retrieve_segment(
        torch.tensor(ids, dtype=torch.long), [None], torch.tensor([seek * 0.01], dtype=torch.float64), ts,
        torch.tensor([frames]), 0.02, 0.01, 2, 0, 0, False, torch.zeros(1, 3))
    got, our_move = split_segments(ids, ts, seek, frames)
    assert int(move) == our_move
    assert [(s.tokens, round(s.start, 9), round(s.end, 9)) for s in got] == \
        [(w["tokens"].tolist(), round(float(w["start"]), 9), round(float(w["end"]), 9)) for w in want]
