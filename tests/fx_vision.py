"""Images and tiny ViT / DeiT checkpoints saved by transformers (the oracle), shared per session.

    IMAGES: {name: how it is written}      every format and mode the processor parity rows read
    vision_images       session fixture: {name: path} of small generated image files
    VISION_ROWS         (name, oracle class, task, config overrides, processor settings): the checkpoints
    vision_checkpoints  session fixture: {name: folder} with config.json, model.safetensors, preprocessor_config.json
    oracle_processor(folder)  transformers' AutoImageProcessor for that folder
    oracle_pixels(folder, paths)  pixel_values as transformers' pipeline makes them (load_image, then the processor)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.fx_models import VARIANTS

# name -> (file name, Pillow mode, (width, height), save options)
IMAGES = {
    "jpeg": ("photo.jpg", "RGB", (64, 48), {"quality": 90}),
    "png_rgba": ("alpha.png", "RGBA", (40, 40), {}),
    "gif_palette": ("anim.gif", "P", (36, 30), {}),
    "bmp": ("plain.bmp", "RGB", (33, 47), {}),
    "webp": ("image.webp", "RGB", (50, 50), {"quality": 80}),
    "gray": ("gray.png", "L", (45, 29), {}),
    "wide": ("wide.jpg", "RGB", (300, 120), {"quality": 85}),
    "exif_rotated": ("rotated.jpg", "RGB", (48, 24), {"quality": 90}),
    "tiny": ("tiny.png", "RGB", (7, 5), {}),
}


def _write(path: Path, mode: str, size, options: dict, seed: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    # smooth gradients plus noise: resampling filters give different numbers on it
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) * 127 / max(w + h - 2, 1)], -1)
    rgb = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
        image = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    elif mode == "L":
        image = image.convert("L")
    elif mode == "P":
        frames = [image.quantize(64), Image.fromarray(255 - rgb, "RGB").quantize(64)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, transparency=0)
        return
    if path.name == "rotated.jpg":
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90 CW to display
        image.save(path, exif=exif, **options)
        return
    image.save(path, **options)


@pytest.fixture(scope="session")
def vision_images(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    out = {}
    for seed, (name, (file, mode, size, options)) in enumerate(IMAGES.items()):
        out[name] = root / file
        _write(out[name], mode, size, options, seed)
    return out


TINY = VARIANTS["vit"].config  # the parity table's row (tests/fx_models.py)
LABELS = 5
# name -> (transformers class, autocli task, config overrides, processor class, processor settings)
VISION_ROWS = {
    "vit-base": ("ViTModel", "base", {}, "ViTImageProcessor", {"size": {"height": 32, "width": 32}}),
    "vit-cls": ("ViTForImageClassification", "image-classification", {}, "ViTImageProcessor",
                {"size": {"height": 32, "width": 32}}),
    "vit-mim": ("ViTForMaskedImageModeling", "masked-image-modeling", {}, "ViTImageProcessor",
                {"size": {"height": 32, "width": 32}}),
    "vit-cls-nobias": ("ViTForImageClassification", "image-classification", {"qkv_bias": False, "hidden_act": "gelu_new"},
                       "ViTImageProcessor", {"size": {"height": 32, "width": 32}, "resample": 3,
                                              "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}),
    "deit-base": ("DeiTModel", "base", {}, "DeiTImageProcessor",
                  {"size": {"height": 40, "width": 40}, "crop_size": {"height": 32, "width": 32}}),
    "deit-cls": ("DeiTForImageClassification", "image-classification", {}, "DeiTImageProcessor",
                 {"size": {"height": 40, "width": 40}, "crop_size": {"height": 32, "width": 32}}),
    "deit-teacher": ("DeiTForImageClassificationWithTeacher", "image-classification", {}, "DeiTImageProcessor",
                     {"size": {"height": 40, "width": 40}, "crop_size": {"height": 32, "width": 32}}),
    "deit-mim": ("DeiTForMaskedImageModeling", "masked-image-modeling", {}, "DeiTImageProcessor",
                 {"size": {"height": 40, "width": 40}, "crop_size": {"height": 32, "width": 32}}),
}


def build_vision_checkpoint(folder: Path, name: str) -> Path:
    import torch
    import transformers

    cls_name, _, overrides, proc_name, proc_settings = VISION_ROWS[name]
    model_type = "deit" if cls_name.startswith("DeiT") else "vit"
    config_cls = transformers.DeiTConfig if model_type == "deit" else transformers.ViTConfig
    config = config_cls(**{**TINY, **overrides}, id2label={i: f"class_{i}" for i in range(LABELS)})
    torch.manual_seed(sum(map(ord, name)))
    model = getattr(transformers, cls_name)(config).eval()
    with torch.no_grad():  # DeiT starts its tokens at zero: perturb every weight so a loading mistake shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(folder)
        processor_cls = getattr(transformers, proc_name + "Pil", None) or getattr(transformers, proc_name)
        processor_cls(**proc_settings).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def vision_checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vision_ckpts")
    return {name: build_vision_checkpoint(root / name, name) for name in VISION_ROWS}


def oracle_processor(folder):
    from transformers import AutoImageProcessor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoImageProcessor.from_pretrained(str(folder))


def oracle_pixels(processor, paths):
    """pixel_values (B, 3, H, W) as the image-classification pipeline makes them: load_image, then the processor."""
    from transformers.image_utils import load_image

    return processor([load_image(str(p)) for p in paths], return_tensors="np")["pixel_values"]
