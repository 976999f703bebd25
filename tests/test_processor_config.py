"""Checkpoints whose processor transformers 5 saved: the image processor's settings nested in
processor_config.json, no preprocessor_config.json beside it."""

from __future__ import annotations

import json
import shutil

import numpy as np

from tests.fx_clip import clip_checkpoints, vision_images  # noqa: F401
from tests.test_clip import _oracle_processor, _processor


def _saved_by_processor(src, dest):
    """The checkpoint with its processor re-saved by transformers' ProcessorMixin.save_pretrained."""
    shutil.copytree(src, dest)
    (dest / "preprocessor_config.json").unlink()
    _oracle_processor(src).save_pretrained(str(dest))
    return dest


def test_nested_processor_config_gives_the_same_pixels(clip_checkpoints, vision_images, tmp_path):
    folder = _saved_by_processor(clip_checkpoints["clip"], tmp_path / "saved")
    assert not (folder / "preprocessor_config.json").exists()
    assert "image_processor" in json.loads((folder / "processor_config.json").read_text())
    pre, want = _processor(folder), _processor(clip_checkpoints["clip"])
    path = str(next(iter(vision_images.values())))
    np.testing.assert_array_equal(pre([pre.load(path)])["pixel_values"], want([want.load(path)])["pixel_values"])


def test_compat_reads_the_nested_processor_config(script, clip_checkpoints, tmp_path):
    folder = _saved_by_processor(clip_checkpoints["clip"], tmp_path / "saved")
    out = script(["compat", str(folder), "--format", "json"])
    findings = out.json()["checkpoints"][0]["findings"]
    assert out.exit_code == 0 and not [f for f in findings if f["name"].startswith("preprocessor")], findings


def test_a_processor_config_that_is_not_an_object_is_one_line(script, clip_checkpoints, tmp_path):
    folder = _saved_by_processor(clip_checkpoints["clip"], tmp_path / "saved")
    (folder / "processor_config.json").write_text("[1, 2]")
    out = script(["preprocess", str(folder), "x.png"])
    assert out.exit_code == 4 and "processor_config.json is not a JSON object" in out.stderr
    assert "Traceback" not in out.stderr
