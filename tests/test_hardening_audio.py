"""Hostile audio inputs: each bad file is its own error record (one line, no traceback), the good ones still
run, the run exits 7; what would allocate without bound is refused from the header, before decoding."""

from __future__ import annotations

import struct

import pytest

from tests.fx_audio import build_audio_checkpoint, write_audio


def _claims(path, frames: int):
    """Rewrite a 16-bit mono WAV's data chunk size to claim `frames` frames."""
    data = bytearray(path.read_bytes())
    i = data.find(b"data")
    data[i + 4:i + 8] = struct.pack("<I", min(frames * 2, 0xFFFFFFFE))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    good = write_audio(root / "good.wav", 0.5)
    huge = _claims(write_audio(root / "huge.wav", 0.1), 10**9)
    empty = _claims(write_audio(root / "empty.wav", 0.1), 0)
    empty.write_bytes(empty.read_bytes()[: empty.read_bytes().find(b"data") + 8])  # a header and no samples
    text = root / "notes.wav"
    text.write_text("these are not samples\n")
    flac = write_audio(root / "long.flac", 0.1, fmt="FLAC")
    data = bytearray(flac.read_bytes())  # STREAMINFO (after "fLaC" and its block header): 36-bit total samples
    data[8 + 13] = (data[8 + 13] & 0xF0) | ((10**9 >> 32) & 0xF)
    data[8 + 14:8 + 18] = (10**9 & 0xFFFFFFFF).to_bytes(4, "big")
    flac.write_bytes(bytes(data))
    return {"good": good, "huge": huge, "empty": empty, "text": text, "missing": root / "missing.wav", "flac": flac}


@pytest.mark.parametrize("name,message", [("huge", "claims 2000000000 bytes"), ("empty", "no audio samples"),
                                          ("text", "not a readable audio file"), ("missing", "no such file"),
                                          ("flac", "longer than 3600 s")])
def test_refused_before_decoding(hostile, name, message):
    from autocli.errors import AutocliError
    from autocli.preprocess.audio import decode

    with pytest.raises(AutocliError, match=message) as e:
        decode(str(hostile[name]), 16000)
    assert "\n" not in e.value.message


@pytest.mark.parametrize("command", ["classify", "transcribe"])
def test_each_bad_file_is_its_own_record(script, audio_root, hostile, command):
    task = "ctc" if command == "transcribe" else "audio-classification"
    folder = build_audio_checkpoint(audio_root, "wav2vec2", task)
    order = ["good", "huge", "empty", "text", "good", "missing", "flac"]
    res = script([command, folder, *(hostile[n] for n in order), "--format", "jsonl", "--batch-size", "2"])
    assert res.exit_code == 7, res.stderr
    assert "Traceback" not in res.stderr
    records = res.jsonl()
    assert [r["index"] for r in records] == list(range(len(order)))
    for name, rec in zip(order, records):
        assert ("error" in rec) == (name != "good"), rec
    assert records[0] == {k: v for k, v in records[4].items() if k != "index"} | {"index": 0}


@pytest.mark.parametrize("command", ["transcribe", "classify", "preprocess"])
def test_missing_soundfile_stops_once_naming_the_extra(cli, audio_root, hostile, monkeypatch, command):
    import sys

    folder = build_audio_checkpoint(audio_root, "wav2vec2", "ctc" if command == "transcribe" else "audio-classification")
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile -> ImportError
    res = cli([command, folder, hostile["good"], hostile["good"], "--format", "jsonl"])
    assert res.exit_code == 5 and res.stdout == ""
    assert "soundfile" in res.stderr and "autocli[audio]" in res.stderr and "Traceback" not in res.stderr


def test_a_clip_shorter_than_one_frame(script, audio_root, hostile, tmp_path):
    """transcribe: its own error record; a short last chunk gives no frame and is skipped, as it has none."""
    folder = build_audio_checkpoint(audio_root, "wav2vec2", "ctc")
    short = write_audio(tmp_path / "short.wav", 20 / 16000)  # the tiny model reads 40 samples per frame
    res = script(["transcribe", folder, short, hostile["good"], "--format", "jsonl"])
    assert res.exit_code == 7
    bad, good = res.jsonl()
    assert "too short" in bad["error"]["message"] and good["text"]
    res = script(["transcribe", folder, write_audio(tmp_path / "edge.wav", (16000 + 30) / 16000), "--chunk-length", "0.5", "--stride", "0"])
    assert res.exit_code == 0, res.stderr


@pytest.mark.parametrize("command", ["classify", "embed"])
def test_a_short_clip_in_a_batch_is_its_own_record(script, audio_root, hostile, tmp_path, command):
    """Whatever batch it lands in, a clip with no frame fails alone; the clips around it are unchanged."""
    folder = build_audio_checkpoint(audio_root, "wav2vec2", "audio-classification")
    short = write_audio(tmp_path / "short.wav", 20 / 16000)
    res = script([command, folder, hostile["good"], short, hostile["good"], "--format", "jsonl", "--batch-size", "3"])
    assert res.exit_code == 7, res.stderr
    first, bad, last = res.jsonl()
    assert "too short" in bad["error"]["message"] and bad["error"]["exit_code"] == 2
    assert {k: v for k, v in first.items() if k != "index"} == {k: v for k, v in last.items() if k != "index"}
