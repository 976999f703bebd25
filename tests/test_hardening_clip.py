"""Hostile inputs to the CLIP commands: files that are not images, empty or repeated labels, templates without a
place for the label, label texts too long for the text tower, queries missing or doubled, folders without
images, and configs that cannot be CLIP's. Each is one `error:` line with its exit code, never a traceback,
and in a batch only the bad input fails."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.fx_clip import clip_checkpoints, vision_images  # noqa: F401


@pytest.fixture(scope="module")
def clip_dir(clip_checkpoints):
    return clip_checkpoints["clip"]


@pytest.fixture
def not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is text, not a JPEG")
    return path


def _one_error(r, code: int, *words: str) -> None:
    assert r.exit_code == code, (r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: "), r.stderr
    for word in words:
        assert word in r.stderr, r.stderr


def _records(r):
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.parametrize("command", [["classify", "--labels", "a cat,a dog"], ["embed"], ["similar", "--text", "a cat"]])
def test_a_file_that_is_not_an_image_is_its_own_error_record(script, clip_dir, vision_images, not_an_image, command):
    name, *opts = command
    r = script([name, clip_dir, vision_images["jpeg"], not_an_image, vision_images["bmp"], *opts])
    assert r.exit_code == 7 and "Traceback" not in r.stderr
    records = _records(r)
    assert len(records) == 3 and sum("error" in rec for rec in records) == 1
    bad = next(rec for rec in records if "error" in rec)
    assert bad["index"] == 1 and "not an image" in bad["error"]["message"]
    if name != "similar":
        assert [rec["index"] for rec in records] == [0, 1, 2]


@pytest.mark.parametrize("labels,words", [
    ("", ["--labels is empty"]),
    (" , ,", ["--labels is empty"]),
    ("a cat,,a dog", ["blank label at position 2"]),
    ("a cat, a dog,a cat", ["'a cat' twice"]),
])
def test_empty_blank_and_repeated_labels_are_refused_before_the_model_loads(script, clip_dir, vision_images, labels, words):
    _one_error(script(["classify", clip_dir, vision_images["jpeg"], "--labels", labels]), 2, *words)


@pytest.mark.parametrize("template,words", [("a photo", ["has no {}"]), ("{0} and {1}", ["has no {}"]),
                                            ("{} of {kind}", ["not a format string"])])
def test_a_template_without_one_place_for_the_label_is_refused(script, clip_dir, vision_images, template, words):
    _one_error(script(["classify", clip_dir, vision_images["jpeg"], "--labels", "a,b", "--template", template]), 2, *words)


def test_a_label_too_long_for_the_text_tower_is_refused_by_name(script, clip_dir, vision_images):
    long = "a " + "very " * 60 + "long label"
    _one_error(script(["classify", clip_dir, vision_images["jpeg"], "--labels", f"a cat,{long}"]), 2,
               "the text tower reads at most 40")


def test_a_text_too_long_to_embed_is_truncated_with_a_warning(script, clip_dir):
    r = script(["embed", clip_dir, "--text", "a cat", "word " * 200])
    assert r.exit_code == 0 and len(_records(r)) == 2
    assert "1 input truncated to 40 tokens (index 1)" in r.stderr


def test_options_that_do_not_go_with_zero_shot_are_refused(script, clip_dir, vision_images):
    _one_error(script(["classify", clip_dir, vision_images["jpeg"], "--labels", "a,b", "--pair", "x"]), 2, "not for zero-shot")
    _one_error(script(["classify", clip_dir, vision_images["jpeg"], "--labels", "a,b", "--top-k", "0"]), 2, "--top-k")
    _one_error(script(["embed", clip_dir, vision_images["jpeg"], "--pooling", "mean"]), 2, "--pooling")


def test_zero_shot_on_a_checkpoint_without_the_text_tower_is_refused(script, clip_checkpoints, vision_images):
    r = script(["classify", clip_checkpoints["clip-cls"], vision_images["jpeg"], "--labels", "a,b"])
    assert r.exit_code == 4 and "backbone weight" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,words", [
    ([], ["--text TEXT", "--image FILE"]),
    (["--text", "a", "--image", "x.jpg"], ["--text TEXT"]),
    (["--text", "  "], ["--text is empty"]),
])
def test_similar_needs_exactly_one_query(script, clip_dir, vision_images, args, words):
    _one_error(script(["similar", clip_dir, vision_images["jpeg"], *args]), 2, *words)


def test_similar_with_a_query_image_that_is_not_one(script, clip_dir, not_an_image):
    _one_error(script(["similar", clip_dir, "--image", not_an_image, "a cat"]), 2, "not an image")


def test_a_folder_without_images_is_one_error_record(script, clip_dir, vision_images, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    r = script(["similar", clip_dir, "--text", "a cat", empty, vision_images["jpeg"]])
    records = _records(r)
    assert r.exit_code == 7 and len(records) == 2 and records[0]["rank"] == 1
    assert records[1]["index"] == 0 and "without image files" in records[1]["error"]["message"]


def test_a_crop_that_does_not_fit_the_model_fails_each_image_clearly(script, clip_dir, vision_images, tmp_path):
    folder = tmp_path / "clip"
    shutil.copytree(clip_dir, folder)
    settings = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**settings, "crop_size": {"height": 24, "width": 24}}))
    r = script(["classify", folder, vision_images["jpeg"], "--labels", "a,b"])
    assert r.exit_code == 7 and "crop_size must match" in _records(r)[0]["error"]["hint"]


@pytest.mark.parametrize("change,words", [({"text_config": [1, 2]}, ["text_config must be an object"]),
                                          ({"vision_config": {"image_size": 31, "patch_size": 6}}, ["not a multiple of patch_size"]),
                                          ({"text_config": {"hidden_act": "swishy"}}, ["hidden_act 'swishy'"])])
def test_configs_clip_cannot_run_are_refused_by_name(script, clip_dir, vision_images, tmp_path, change, words):
    folder = tmp_path / "clip"
    shutil.copytree(clip_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (folder / "config.json").write_text(json.dumps(config))
    r = script(["embed", folder, vision_images["jpeg"]])
    assert r.exit_code in (4, 5) and "Traceback" not in r.stderr
    for word in words:
        assert word in r.stderr, r.stderr
