"""`autocli preprocess`: the processor's steps, the decoded input, tensor statistics and values, --save — equal to
transformers' processors, and without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, assert_one_line_error
from tests.fx_audio import audio_root, build_audio_checkpoint, write_audio  # noqa: F401
from tests.fx_vision import oracle_pixels, oracle_processor, vision_checkpoints, vision_images  # noqa: F401


def test_image_values_and_statistics_equal_transformers(cli, vision_checkpoints, vision_images):
    folder = vision_checkpoints["vit-cls"]
    files = [vision_images["jpeg"], vision_images["png_rgba"]]
    res = cli(["preprocess", str(folder), *map(str, files), "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    expected = oracle_pixels(oracle_processor(folder), files)  # (2, 3, H, W)
    for rec, want, path in zip(res.jsonl(), expected, files):
        [t] = rec["outputs"]
        assert t["name"] == "pixel_values" and t["shape"] == list(want.shape) and t["dtype"] == "float32"
        got = np.array(t["values"], dtype=np.float32)
        assert np.abs(got - want).max() <= 1e-6
        assert t["mean"] == pytest.approx(float(want.astype(np.float64).mean()), abs=1e-9)
        assert [c["std"] for c in t["channels"]] == pytest.approx([float(c.astype(np.float64).std()) for c in want], abs=1e-9)
        assert rec["file"] == str(path) and rec["input"]["width"] > 0 and rec["input"]["mode"] == "RGB"
        assert rec["steps"] and rec["processor"] == "ViTImageProcessor"


def test_save_writes_the_batch_the_model_gets(cli, tmp_path, vision_checkpoints, vision_images):
    folder = vision_checkpoints["vit-cls"]
    files = [vision_images["bmp"], vision_images["gray"]]
    out = tmp_path / "batch.npz"
    res = cli(["preprocess", str(folder), *map(str, files), "--save", str(out), "--no-values", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    assert all("values" not in t for rec in res.jsonl() for t in rec["outputs"])
    saved = np.load(out)
    assert np.abs(saved["pixel_values"] - oracle_pixels(oracle_processor(folder), files)).max() <= 1e-6
    npy = tmp_path / "batch.npy"
    assert cli(["preprocess", str(folder), *map(str, files), "--save", str(npy), "--format", "jsonl"]).exit_code == 0
    assert np.load(npy).shape == saved["pixel_values"].shape
    assert_one_line_error(cli(["preprocess", str(folder), str(files[0]), "--save", str(tmp_path / "x.txt")]), 2)


def test_audio_clips_padded_batch_and_per_clip_records(cli, tmp_path, audio_root):
    from transformers import AutoFeatureExtractor

    folder = build_audio_checkpoint(audio_root, "wav2vec2", "audio-classification")
    clips = [write_audio(tmp_path / "a.wav", 0.3), write_audio(tmp_path / "b.wav", 0.5, seed=1)]
    out = tmp_path / "batch.npz"
    res = cli(["preprocess", str(folder), *map(str, clips), "--format", "jsonl", "--save", str(out)])
    assert res.exit_code == 0, res.stderr
    recs = res.jsonl()
    assert [r["input"]["samples"] for r in recs] == [4800, 8000] and recs[0]["input"]["sampling_rate"] == 16000
    fe = AutoFeatureExtractor.from_pretrained(str(folder))
    import soundfile as sf

    waves = [sf.read(str(c), dtype="float32")[0] for c in clips]
    # each clip normalised over its own samples, then padded (autocli keeps a clip's values whatever its batch)
    alone = [fe(w, sampling_rate=16000, return_tensors="np")["input_values"][0] for w in waves]
    want = np.zeros((2, 8000), np.float32) + fe.padding_value
    for row, clip in zip(want, alone):
        row[: len(clip)] = clip
    saved = np.load(out)
    assert np.abs(saved["input_values"] - want).max() <= 1e-6
    single = np.array(recs[0]["outputs"][0]["values"], dtype=np.float32)
    assert single.shape == (4800,)


def test_bad_files_are_their_own_records_and_the_table_shows_steps(cli, tmp_path, vision_checkpoints, vision_images):
    folder = vision_checkpoints["vit-cls"]
    bad = tmp_path / "not.png"
    bad.write_bytes(b"PK\x03\x04 not an image")
    res = cli(["preprocess", str(folder), str(vision_images["jpeg"]), str(bad), "--format", "jsonl"])
    assert res.exit_code == 7
    good, err = res.jsonl()
    assert "outputs" in good and "error" in err and err["index"] == 1
    table = cli(["preprocess", str(folder), str(vision_images["jpeg"]), "--format", "table"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "steps in order" in table.stdout and "pixel_values" in table.stdout


def test_preprocess_does_not_import_torch(vision_checkpoints, vision_images):
    code = (
        "import sys\nfrom autocli.cli import run\n"
        f"rc = run(['preprocess', {str(vision_checkpoints['vit-cls'])!r}, {str(vision_images['jpeg'])!r}, '--format', 'json', '--no-values'])\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stderr.strip().splitlines()[-1] == "NO-TORCH 0", out.stderr


def test_a_closed_pipe_ends_preprocess_and_classify_of_images_quietly(script, vision_checkpoints, vision_images):
    folder = str(vision_checkpoints["vit-cls"])
    files = [str(vision_images[n]) for n in ("jpeg", "bmp", "webp", "gray")] * 50
    for command in ("preprocess", "classify"):
        res = script([command, folder, "-q", "--format", "jsonl"], input="\n".join(files) + "\n", pipefail_head=1)
        assert res.exit_code == 0, (command, res.stderr)
        assert res.stderr == "" and len(res.stdout.splitlines()) == 1
