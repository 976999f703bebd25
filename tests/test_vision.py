"""Images: the ViT/DeiT image processors against transformers' AutoImageProcessor (<= 1e-6) on every format
and resample filter, each (family, head) against transformers' model (<= 1e-4, other input sizes included),
and `autocli classify` / `embed` on image files against transformers' pipelines, through the console script."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.preprocess import load_processor
from autocli.preprocess.image import RESAMPLE, DeiTImageProcessor, ViTImageProcessor
from tests.fx_vision import VISION_ROWS, oracle_pixels, oracle_processor, vision_checkpoints, vision_images  # noqa: F401

SQUARE = {"height": 32, "width": 32}
# crop settings: none, inside the resized image, and larger than it on one side (zero padding)
CROPS = {
    "no-crop": {"do_center_crop": False},
    "crop": {"do_center_crop": True, "crop_size": {"height": 24, "width": 30}},
    "crop-padded": {"do_center_crop": True, "crop_size": {"height": 40, "width": 28}},
}


def _processor_dir(tmp_path, settings: dict):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    return tmp_path


def _check_pixels(tmp_path, settings: dict, paths) -> None:
    ours = (DeiTImageProcessor if settings["image_processor_type"].startswith("DeiT") else ViTImageProcessor).from_config(settings, "x")
    oracle = oracle_processor(_processor_dir(tmp_path, settings))
    for path in paths:
        want = oracle_pixels(oracle, [path])  # (1, 3, H, W)
        got = ours([ours.load(str(path))])["pixel_values"]
        assert got.dtype == np.float32 and got.shape == want.shape, (path.name, got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0, err_msg=path.name)


@pytest.mark.parametrize("crop", list(CROPS))
@pytest.mark.parametrize("resample", list(RESAMPLE))
def test_vit_processor_matches_transformers(tmp_path, vision_images, resample, crop):
    settings = {"image_processor_type": "ViTImageProcessor", "size": SQUARE, "resample": RESAMPLE[resample], **CROPS[crop]}
    _check_pixels(tmp_path, settings, vision_images.values())


@pytest.mark.parametrize("settings", [
    {},  # DeiT's own defaults: 256 bicubic, crop 224
    {"size": {"shortest_edge": 36}, "crop_size": 32, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]},
    {"size": 40, "resample": 1, "do_rescale": False},
    {"size": {"shortest_edge": 30, "longest_edge": 50}, "do_center_crop": True, "crop_size": [20, 26], "do_normalize": False},
    {"size": 24, "do_rescale": False, "do_normalize": False, "rescale_factor": 0.5, "do_center_crop": False},
], ids=["defaults", "shortest-edge", "no-rescale", "longest-edge", "bytes"])
def test_deit_processor_settings_match_transformers(tmp_path, vision_images, settings):
    _check_pixels(tmp_path, {"image_processor_type": "DeiTImageProcessor", **settings}, vision_images.values())


def test_feature_extractor_names_and_int_size(tmp_path, vision_images):
    """Older configs: feature_extractor_type ViTFeatureExtractor, size as an int, resample as an id."""
    settings = {"feature_extractor_type": "ViTFeatureExtractor", "size": 32, "resample": 0, "do_resize": True}
    from autocli.checkpoint import Checkpoint

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    _processor_dir(tmp_path, settings)
    ours = load_processor(Checkpoint.resolve(str(tmp_path)), "vit")
    assert isinstance(ours, ViTImageProcessor) and ours.settings()["resample"] == "nearest"
    oracle = oracle_processor(tmp_path)
    got = ours([ours.load(str(vision_images["jpeg"]))])["pixel_values"]
    np.testing.assert_allclose(got, oracle_pixels(oracle, [vision_images["jpeg"]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("key,value", [
    ("image_mean", [0.5, 0.5]),
    ("image_std", [0.5, 0.0, 0.5]),
    ("image_std", "nonsense"),
    ("size", {"height": 0, "width": 32}),
    ("size", {"longest_edge": 32}),
    ("size", -3),
    ("resample", 9),
    ("rescale_factor", 0),
    ("do_normalize", "yes"),
    ("crop_size", {"shortest_edge": 32}),
])
def test_settings_the_processor_cannot_honour_are_refused_by_name(key, value):
    settings = {"image_processor_type": "DeiTImageProcessor", key: value}
    with pytest.raises(InvalidCheckpoint) as e:
        DeiTImageProcessor.from_config(settings, "preprocessor_config.json")
    assert key in e.value.message


def test_named_constants_and_defaults():
    p = ViTImageProcessor.from_config({"image_mean": "imagenet_default_mean", "image_std": "IMAGENET_DEFAULT_STD"}, "x")
    assert p.image_mean == (0.485, 0.456, 0.406) and p.image_std == (0.229, 0.224, 0.225)
    assert p.settings()["size"] == "224x224" and p.settings()["resample"] == "bilinear" and not p.do_center_crop
    d = DeiTImageProcessor.from_config({}, "x")
    assert d.settings()["size"] == "256x256" and d.settings()["resample"] == "bicubic" and d.settings()["crop_size"] == "224x224"
    assert d.steps()[1] == "resize to 256x256 (bicubic)" and d.steps()[2] == "center crop to 224x224"


def test_unknown_processor_type_is_unsupported(tmp_path):
    from autocli.checkpoint import Checkpoint

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    _processor_dir(tmp_path, {"image_processor_type": "SegformerImageProcessor"})
    with pytest.raises(Unsupported) as e:
        load_processor(Checkpoint.resolve(str(tmp_path)), "vit")
    assert "ViTImageProcessor" in e.value.hint


# --- models --------------------------------------------------------------------------------------

def _oracle_model(folder, cls_name):
    import transformers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(transformers, cls_name).from_pretrained(str(folder)).eval()


def _oracle_out(model, task, pixels, interpolate):
    with torch.no_grad():
        out = model(pixel_values=pixels, interpolate_pos_encoding=interpolate)
    return {"base": "last_hidden_state", "image-classification": "logits", "masked-image-modeling": "reconstruction"}[task], out


@pytest.mark.parametrize("name", list(VISION_ROWS))
def test_model_matches_transformers(vision_checkpoints, name):
    from autocli.models import load_model_from_dir

    cls_name, task, *_ = VISION_ROWS[name]
    folder = vision_checkpoints[name]
    ours = load_model_from_dir(folder, task, device="cpu", dtype="float32")
    oracle = _oracle_model(folder, cls_name)
    torch.manual_seed(1)
    sizes = [(32, 32)] if task == "masked-image-modeling" else [(32, 32), (48, 40), (24, 24)]
    for hw in sizes:  # other sizes take interpolated position embeddings
        pixels = torch.randn(3, 3, *hw)
        field, out = _oracle_out(oracle, task, pixels, interpolate=hw != (32, 32))
        got = ours(pixel_values=pixels.numpy())
        want = getattr(out, field)
        assert got.shape == want.shape, (hw, got.shape, want.shape)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_deit_teacher_averages_both_heads(vision_checkpoints):
    from autocli.models import load_model_from_dir

    ours = load_model_from_dir(vision_checkpoints["deit-teacher"], "image-classification", device="cpu")
    assert hasattr(ours.module, "distillation_classifier") and not ours.report.unexpected
    plain = load_model_from_dir(vision_checkpoints["deit-cls"], "image-classification", device="cpu")
    assert not hasattr(plain.module, "distillation_classifier") and not plain.report.unexpected


# --- commands ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vit-cls", "deit-teacher", "vit-cls-nobias"])
def test_classify_matches_the_image_classification_pipeline(script, vision_checkpoints, vision_images, name):
    from transformers import pipeline

    folder = vision_checkpoints[name]
    paths = [str(p) for p in vision_images.values()]
    res = script(["classify", folder, *paths, "--top-k", "3", "--format", "jsonl", "--batch-size", "4"])
    assert res.exit_code == 0, res.stderr
    records = res.jsonl()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = pipeline("image-classification", model=str(folder), device="cpu")
        want = pipe(paths, top_k=3)
    assert [r["index"] for r in records] == list(range(len(paths)))
    for rec, ref in zip(records, want):
        assert [s["label"] for s in rec["scores"]] == [r["label"] for r in ref]
        np.testing.assert_allclose([s["score"] for s in rec["scores"]], [r["score"] for r in ref], atol=1e-4)


def test_embed_an_image_is_the_cls_state(script, vision_checkpoints, vision_images):
    folder = vision_checkpoints["vit-base"]
    res = script(["embed", folder, str(vision_images["png_rgba"]), str(vision_images["wide"]), "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    got = np.array([r["embedding"] for r in res.jsonl()])
    oracle = _oracle_model(folder, "ViTModel")
    pixels = oracle_pixels(oracle_processor(folder), [vision_images["png_rgba"], vision_images["wide"]])
    with torch.no_grad():
        want = oracle(pixel_values=torch.from_numpy(pixels)).last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_image_paths_from_stdin_and_jsonl(script, vision_checkpoints, vision_images):
    folder = vision_checkpoints["vit-cls"]
    plain = script(["classify", folder, "--format", "jsonl"], input=f"{vision_images['jpeg']}\n{vision_images['bmp']}\n")
    objects = script(["classify", folder, "--jsonl", "--format", "jsonl"],
                     input=json.dumps({"image": str(vision_images["jpeg"])}) + "\n" + json.dumps({"image": str(vision_images["bmp"])}) + "\n")
    assert plain.exit_code == objects.exit_code == 0, (plain.stderr, objects.stderr)
    assert [r["label"] for r in plain.jsonl()] == [r["label"] for r in objects.jsonl()] and len(plain.jsonl()) == 2


def test_images_of_different_output_sizes_batch_apart(script, tmp_path, vision_checkpoints, vision_images):
    """A shortest_edge size without a crop keeps aspect ratios: such images never share a forward pass, and
    each gets the same record as when run alone."""
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(vision_checkpoints["vit-cls"], folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "size": {"shortest_edge": 32}, "do_center_crop": False}))
    files = [str(vision_images[n]) for n in ("wide", "jpeg", "wide", "bmp")]
    together = script(["classify", str(folder), *files, "--format", "jsonl", "--batch-size", "4", "--top-k", "all"])
    assert together.exit_code == 0, together.stderr
    alone = [script(["classify", str(folder), f, "--format", "jsonl", "--top-k", "all"]).jsonl()[0] for f in files]
    for rec, single in zip(together.jsonl(), alone):
        assert rec["label"] == single["label"]
        assert [s["score"] for s in rec["scores"]] == pytest.approx([s["score"] for s in single["scores"]], abs=1e-5)
