"""--image-column / --audio-column: a CSV or Parquet listing names each row's file (relative paths: to the listing's
folder); the records are those of the same files given as arguments, an unreadable file is an error record (exit 7),
and the Ray engine gives the local engine's records."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_engine import comparable, ray_address, read_output  # noqa: F401
from tests.fx_vision import vision_checkpoints, vision_images  # noqa: F401

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("PIL")


def _without_id(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "id"} for r in records]


@pytest.fixture
def photos(tmp_path, vision_images) -> tuple[Path, list[Path]]:
    """photos.parquet in listing/, naming images in listing/imgs/ by relative paths, a damaged file among them;
    -> (the listing, the files in row order)."""
    (tmp_path / "listing" / "imgs").mkdir(parents=True)
    files = []
    for name in ("jpeg", "png_rgba", "gray", "wide"):
        files.append(Path(shutil.copy(vision_images[name], tmp_path / "listing" / "imgs")))
    broken = tmp_path / "listing" / "imgs" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    files.insert(2, broken)
    rel = [str(p.relative_to(tmp_path / "listing")) for p in files]
    listing = tmp_path / "listing" / "photos.parquet"
    pq.write_table(pa.table({"path": rel, "name": [f"p{i}" for i in range(len(rel))]}), listing)
    return listing, files


def test_an_image_column_gives_the_records_of_the_files(cli, vision_checkpoints, photos, tmp_path):
    listing, files = photos
    model = vision_checkpoints["vit-cls"]
    plain = cli(["classify", model, *files, "--format", "jsonl", "--top-k", "2", "--batch-size", "2"])
    res = cli(["classify", model, "--input", listing, "--image-column", "path", "--id-column", "name", "--top-k", "2",
               "--output", tmp_path / "out", "--shard-rows", "5", "--batch-size", "2", "--format", "jsonl"])
    assert res.exit_code == plain.exit_code == 7, res.stderr
    assert "1 of 5 inputs failed" in res.stderr
    got = read_output(tmp_path / "out")
    assert _without_id(got) == plain.jsonl()
    assert [r["id"] for r in got] == [f"p{i}" for i in range(5)]
    assert got[2]["error"]["message"].startswith(str(files[2])) and "error" not in got[3]


def test_ray_gives_the_local_records_of_an_image_column(cli, ray_address, vision_checkpoints, photos, tmp_path):
    listing, _ = photos
    base = ["embed", vision_checkpoints["vit-base"], "--input", listing, "--image-column", "path", "--shard-rows", "2", "--format", "jsonl"]
    local = cli([*base, "--output", tmp_path / "local", "--threads-per-worker", "1"])
    on_ray = cli([*base, "--output", tmp_path / "ray", "--engine", "ray", "--workers", "2"])
    assert local.exit_code == on_ray.exit_code == 7, on_ray.stderr
    want, got = comparable(read_output(tmp_path / "local")), comparable(read_output(tmp_path / "ray"))
    assert len(got) == 5 and got == want and sum("error" not in r for r in got) == 4


def test_an_audio_column_of_a_csv_listing(cli, audio_root, tmp_path):
    from tests.fx_audio import build_audio_checkpoint, write_audio

    (tmp_path / "clips").mkdir()
    clips = [write_audio(tmp_path / "clips" / f"{i}.wav", 0.4 + 0.3 * i, 16000, 1, "PCM_16", seed=i) for i in range(3)]
    listing = tmp_path / "clips" / "clips.csv"
    with open(listing, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["file", "speaker"], *([p.name, f"s{i}"] for i, p in enumerate(clips)), ["gone.wav", "s9"]])
    for name, task in (("classify", "audio-classification"), ("transcribe", "ctc")):
        model = build_audio_checkpoint(audio_root, "wav2vec2", task)
        plain = cli([name, model, *clips, tmp_path / "clips" / "gone.wav", "--format", "jsonl"])
        res = cli([name, model, "--input", listing, "--audio-column", "file", "--output", tmp_path / name, "--format", "jsonl"])
        assert res.exit_code == plain.exit_code == 7, res.stderr
        assert _without_id(read_output(tmp_path / name)) == plain.jsonl()


def test_column_errors(cli, vision_checkpoints, tmp_path):
    model = vision_checkpoints["vit-cls"]
    listing = tmp_path / "l.parquet"
    pq.write_table(pa.table({"path": pa.array([None, 7], pa.int64())}), listing)
    missing = cli(["classify", model, "--input", listing, "--image-column", "picture", "--output", tmp_path / "a"])
    assert_one_line_error(missing, 2)
    assert "has no column 'picture'" in missing.stderr
    no_output = cli(["classify", model, "--input", listing, "--image-column", "path"])
    assert_one_line_error(no_output, 2)
    assert "need --output" in no_output.stderr
    res = cli(["classify", model, "--input", listing, "--image-column", "path", "--output", tmp_path / "b", "--format", "jsonl"])
    assert res.exit_code == 7
    assert [r["error"]["message"] for r in read_output(tmp_path / "b")] == ["column 'path' is missing", "column 'path' is a int"]
