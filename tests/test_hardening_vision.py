"""Hostile image inputs: each bad file is its own error record (exit 7) while the others are classified; a
decompression bomb is refused from its header, before any pixel is decoded; hostile processor configs are
refused by key; a missing Pillow says which extra to install."""

from __future__ import annotations

import json
import struct
import sys
import zipfile
import zlib

import pytest

from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.preprocess.image import MAX_PIXELS, ViTImageProcessor
from tests.conftest import assert_one_line_error
from tests.fx_vision import vision_checkpoints, vision_images  # noqa: F401


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_claiming(path, width: int, height: int):
    """A valid PNG signature and IHDR for width x height RGB, with a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


@pytest.fixture
def hostile(tmp_path, vision_images):
    jpeg = vision_images["wide"].read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with zipfile.ZipFile(tmp_path / "archive.png", "w") as z:
        z.writestr("a.txt", "not an image")
    png_header_claiming(tmp_path / "bomb.png", 30000, 30000)
    png_header_claiming(tmp_path / "big.png", 10000, 10000)  # under Pillow's own error threshold, over ours
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "empty.jpg").write_bytes(b"")
    return {name: tmp_path / name for name in ("truncated.jpg", "archive.png", "bomb.png", "big.png", "folder.png", "empty.jpg")} | {
        "missing.png": tmp_path / "missing.png"}


def test_each_bad_file_is_its_own_record_and_the_rest_are_classified(script, vision_checkpoints, vision_images, hostile):
    good = [vision_images["jpeg"], vision_images["gif_palette"]]
    bad = list(hostile.values())
    order = [good[0], *bad[:4], good[1], *bad[4:]]
    res = script(["classify", vision_checkpoints["vit-cls"], *order, "--format", "jsonl", "--batch-size", "3"])
    assert res.exit_code == 7, res.stderr
    records = res.jsonl()
    assert [r["index"] for r in records] == list(range(len(order)))
    for path, rec in zip(order, records):
        if path in good:
            assert "label" in rec, rec
        else:
            assert rec["error"]["exit_code"] == 2 and str(path) in rec["error"]["message"], rec
            assert "\n" not in rec["error"]["message"]
    assert "Traceback" not in res.stderr
    by_name = {p.name: r["error"]["message"] for p, r in zip(order, records) if p not in good}
    assert "30000x30000" in by_name["bomb.png"] or "limit" in by_name["bomb.png"]
    assert "10000x10000" in by_name["big.png"] and "refused before decoding" in by_name["big.png"]
    assert "damaged" in by_name["truncated.jpg"]
    assert "not an image" in by_name["archive.png"] and "directory" in by_name["folder.png"]
    assert "no such file" in by_name["missing.png"]


@pytest.mark.parametrize("size", [(30000, 30000), (10000, 10000), (MAX_PIXELS, 2)])
def test_a_bomb_is_refused_before_any_pixel_is_decoded(tmp_path, monkeypatch, size):
    from PIL import ImageFile

    def no_decoding(self, *a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    path = png_header_claiming(tmp_path / "bomb.png", *size)
    with pytest.raises(UsageError) as e:
        ViTImageProcessor.from_config({}, "x").load(str(path))
    assert "limit" in e.value.message


def test_all_inputs_bad_still_one_record_each(script, vision_checkpoints, hostile):
    res = script(["classify", vision_checkpoints["deit-teacher"], *hostile.values(), "--format", "jsonl"])
    assert res.exit_code == 7
    assert [("error" in r) for r in res.jsonl()] == [True] * len(hostile)


def test_missing_pillow_names_the_extra(monkeypatch, cli, vision_checkpoints, vision_images):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(Unsupported) as e:
        ViTImageProcessor.from_config({}, "x").load(str(vision_images["jpeg"]))
    assert "autocli[vision]" in e.value.hint and "PIL" in e.value.message
    for command in ("classify", "embed", "preprocess"):  # stops once, before any input is read
        res = cli([command, str(vision_checkpoints["vit-cls"]), str(vision_images["jpeg"]), str(vision_images["png_rgba"]), "--format", "jsonl"])
        assert res.exit_code == 5 and res.stdout == "", res.stdout
        assert "autocli[vision]" in res.stderr and "Traceback" not in res.stderr


def test_hostile_processor_config_is_one_line_exit_4(cli, tmp_path, vision_checkpoints, vision_images):
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(vision_checkpoints["vit-cls"], folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "ViTImageProcessor",
                                                                  "image_mean": [0.5, 0.5, 0.5, 0.5]}))
    res = cli(["classify", str(folder), str(vision_images["jpeg"])])
    assert_one_line_error(res, 4)
    assert "image_mean" in res.stderr
    (folder / "preprocessor_config.json").write_text("[1, 2]")
    assert_one_line_error(cli(["classify", str(folder), str(vision_images["jpeg"])]), 4)
    (folder / "preprocessor_config.json").unlink()
    res = cli(["classify", str(folder), str(vision_images["jpeg"])])
    assert_one_line_error(res, 4)
    assert "preprocessor_config.json" in res.stderr


@pytest.mark.parametrize("config", [{"image_size": "big"}, {"patch_size": 0}, {"image_size": 30, "patch_size": 8},
                                    {"image_size": [32, 32, 3]}, {"hidden_size": 30}])
def test_hostile_model_config_is_refused_by_key(tmp_path, vision_checkpoints, config):
    import shutil

    from autocli.models import load_model_from_dir

    folder = tmp_path / "ckpt"
    shutil.copytree(vision_checkpoints["vit-cls"], folder)
    raw = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**raw, **config}))
    with pytest.raises(InvalidCheckpoint):
        load_model_from_dir(folder, "image-classification")


def test_an_image_too_small_for_one_patch_is_a_usage_error(tmp_path, vision_checkpoints, vision_images):
    """do_resize false hands the model the file's own size; smaller than a patch cannot run."""
    import shutil

    from autocli.tasks import load

    folder = tmp_path / "ckpt"
    shutil.copytree(vision_checkpoints["vit-cls"], folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "ViTImageProcessor", "do_resize": False}))
    _, pre, model = load(str(folder), "sequence-classification")
    inputs = pre([pre.load(str(vision_images["tiny"]))])
    assert inputs["pixel_values"].shape == (1, 3, 5, 7)
    with pytest.raises(UsageError) as e:
        model(**inputs)
    assert "patch" in e.value.message
