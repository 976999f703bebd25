"""Hostile inputs to Whisper transcription: a file that is not audio and an empty one are their own error records
(the others still run, exit 7); an unknown --language, --task translate on an English-only model, Whisper options
on a CTC checkpoint and subtitles without Whisper are one-line errors before any audio is read."""

from __future__ import annotations

import json

import pytest

from tests.fx_audio import build_audio_checkpoint, write_audio


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_whisper")
    text = root / "notes.wav"
    text.write_text("these are not samples\n")
    empty = root / "empty.wav"
    import soundfile as sf

    sf.write(str(empty), [], 16000, subtype="PCM_16")
    return {"good": write_audio(root / "good.wav", 1.0), "text": text, "empty": empty}


def _one_line(err: str) -> None:
    assert "Traceback" not in err
    assert err.startswith("error: ")


def test_bad_files_are_their_own_records(script, whisper_ckpt, files):
    r = script(["transcribe", whisper_ckpt, files["text"], files["good"], files["empty"], "--format", "jsonl", "--language", "en"])
    assert r.exit_code == 7, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["index"] for rec in recs] == [0, 1, 2]
    assert "not a readable audio file" in recs[0]["error"]["message"] and "text" in recs[1]
    assert "no audio samples" in recs[2]["error"]["message"]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,code,message", [
    (["--language", "xx"], 2, "--language 'xx' is not a language of this model"),
    (["--task", "summarize"], 2, "--task 'summarize' is not one of transcribe, translate"),
])
def test_bad_options(script, whisper_ckpt, files, args, code, message):
    r = script(["transcribe", whisper_ckpt, files["good"], *args])
    assert r.exit_code == code and message in r.stderr, r.stderr
    _one_line(r.stderr)


def test_translate_on_an_english_only_model(script, whisper_root, files):
    from tests.fx_whisper import build_whisper

    ckpt = build_whisper(whisper_root, multilingual=False)
    r = script(["transcribe", ckpt, files["good"], "--task", "translate"])
    assert r.exit_code == 5 and "English-only" in r.stderr, r.stderr
    _one_line(r.stderr)
    ok = script(["transcribe", ckpt, files["good"]])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["language"] is None, ok.stderr


@pytest.mark.parametrize("args", [["--language", "en"], ["--format", "srt"], ["--timestamps"]])
def test_whisper_options_on_a_ctc_checkpoint(script, audio_root, files, args):
    ckpt = build_audio_checkpoint(audio_root, "wav2vec2", "ctc")
    r = script(["transcribe", ckpt, files["good"], *args])
    assert r.exit_code == 2 and "Whisper" in r.stderr, r.stderr
    _one_line(r.stderr)
