"""`autocli transcribe` with a Whisper checkpoint, through the console script: JSON records with language and
segments, SRT and WebVTT subtitles, the table; the subtitle timestamps themselves."""

from __future__ import annotations

import json

import pytest

from autocli.render_speech import subtitles, timestamp
from autocli.results import TimedSegment, WhisperTranscription
from tests.fx_audio import write_audio


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("whisper_cli")
    return {"short": write_audio(root / "short.wav", 2.0), "long": write_audio(root / "long.wav", 35.0, seed=3)}


def _ours(ckpt, path, **kw):
    """The in-process records, to compare the script's output with."""
    from autocli.cli.options import Shared  # noqa: F401  (the script's path; imported for parity of settings)
    from autocli.checkpoint import Checkpoint
    from autocli.inputs import naming_files, read_inputs
    from autocli.models import load_model_from_dir
    from autocli.preprocess import load_processor
    from autocli.render import to_data
    from autocli.tasks.gen_settings import resolve_settings
    from autocli.tasks.whisper import WhisperOptions, transcribe_whisper
    from autocli.tasks.whisper_rules import WhisperGeneration

    m = load_model_from_dir(ckpt, "speech-seq2seq")
    pre = load_processor(Checkpoint.resolve(str(ckpt)), "whisper")
    gen = json.loads((ckpt / "generation_config.json").read_text())
    g = WhisperGeneration.read(gen, m.config.raw)
    s = resolve_settings(m.config, gen, pre.tokenizer, {"num_beams": kw.pop("num_beams", None)}, seq2seq=True)
    items = read_inputs([str(path)], None, False).each(naming_files("audio"))
    return [to_data(r) for r in transcribe_whisper(m, pre, items, WhisperOptions(quiet=True, **kw), g, s)]


def test_json_records_equal_the_task(script, whisper_ckpt, speech):
    r = script(["transcribe", whisper_ckpt, speech["long"], "--timestamps", "--language", "en", "--format", "json", "-q"])
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == _ours(whisper_ckpt, speech["long"], language="en", timestamps=True)
    rec = got[0]
    assert rec["language"] == "en" and rec["seconds"] == 35.0 and rec["segments"]
    assert all(s["start"] <= s["end"] for s in rec["segments"])


def test_plain_run_detects_the_language_and_has_no_segments(script, whisper_ckpt, speech):
    r = script(["transcribe", whisper_ckpt, speech["short"], "--num-beams", "2"])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert "segments" not in rec and rec["language"] in ("en", "de", "fr", "es", "ja")
    assert [rec] == _ours(whisper_ckpt, speech["short"], num_beams=2)


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_subtitles_from_the_script(script, whisper_ckpt, speech, kind):
    r = script(["transcribe", whisper_ckpt, speech["long"], "--format", kind, "--language", "en"])
    assert r.exit_code == 0, r.stderr
    rec = _ours(whisper_ckpt, speech["long"], language="en", timestamps=True)[0]
    segments = [TimedSegment(**s) for s in rec["segments"]]
    assert r.stdout == subtitles(WhisperTranscription(0, rec["text"], rec["seconds"], "en", segments), kind)
    assert r.stdout.startswith("WEBVTT\n\n" if kind == "vtt" else "1\n00:00:")


def test_subtitle_layout():
    rec = WhisperTranscription(0, " Hi there", 70.0, "en", [TimedSegment(0.0, 1.5, " Hi"), TimedSegment(1.5, 1.5, "  "),
                                                            TimedSegment(61.25, 3725.004, " there")])
    assert timestamp(3725.004, ",") == "01:02:05,004" and timestamp(0.02, ".") == "00:00:00.020"
    assert subtitles(rec, "srt") == "1\n00:00:00,000 --> 00:00:01,500\nHi\n\n2\n00:01:01,250 --> 01:02:05,004\nthere\n"
    assert subtitles(rec, "vtt") == "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHi\n\n00:01:01.250 --> 01:02:05.004\nthere\n"


def test_table_on_request(script, whisper_ckpt, speech):
    r = script(["transcribe", whisper_ckpt, speech["short"], "--format", "table", "--language", "de", "--timestamps"])
    assert r.exit_code == 0, r.stderr
    assert "language" in r.stdout and "de" in r.stdout and "→" in r.stdout


def test_audio_classification_runs_through_classify(script, whisper_root, speech):
    from tests.fx_whisper import build_whisper

    ckpt = build_whisper(whisper_root, "audio-classification")
    r = script(["classify", ckpt, speech["short"], "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)[0]["label"].startswith("LABEL_")
