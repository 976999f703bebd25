"""ViT and DeiT image processors, as transformers' PIL backend applies them (ViTImageProcessor,
DeiTImageProcessor; their *Fast and older *FeatureExtractor names read the same settings):

  load       Pillow open -> EXIF orientation -> RGB (transformers' load_image: alpha is dropped, a GIF gives
             its first frame)
  resize     Pillow's resize with the configured filter to {height, width}, or the shortest edge to N
  crop       center crop to crop_size (zero padding where the image is smaller), where do_center_crop
  rescale    float64(pixel) * rescale_factor -> float32
  normalize  (x - mean) / std per channel, in float32; channels first

The rescale and normalize steps map each of the 256 byte values of a channel to one float32, so they are a
lookup table built once with transformers' own arithmetic: the same numbers, at the cost of one gather.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from autocli.errors import InvalidCheckpoint, UsageError
from autocli.extras import need
from autocli.inputs import no_such_file

# Pillow's filter ids (PIL.Image.Resampling), which transformers saves as `resample`
RESAMPLE = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
FILTER_NAMES = {v: k for k, v in RESAMPLE.items()}
# transformers' constants, which configs sometimes name instead of listing
MEANS = {
    "imagenet_default": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "imagenet_standard": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "openai_clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
}
CHANNELS = 3
NEEDS = (("PIL", "vision"), ("numpy", "vision"))
# Pillow's own decompression-bomb threshold (about 89.5 megapixels, a 9459 x 9459 image); the header's size is
# checked against it before any pixel is decoded.
MAX_PIXELS = 89_478_485
# a decoded pixel count that does not fit the model is refused by the loader, not here; sizes above this are typos
MAX_SIDE = 1 << 16


@dataclass(frozen=True)
class Size:
    """What resize aims at: a fixed (height, width), or the shortest edge (and at most the longest one)."""
    height: int = 0
    width: int = 0
    shortest_edge: int = 0
    longest_edge: int = 0

    def of(self, height: int, width: int) -> tuple[int, int]:
        """The output (height, width) for an input of that size, as transformers computes it."""
        if self.height:
            return self.height, self.width
        if self.longest_edge:
            return _with_aspect_ratio(height, width, self.shortest_edge, self.longest_edge)
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)

    def shown(self) -> str:
        if self.height:
            return f"{self.height}x{self.width}"
        return f"shortest edge {self.shortest_edge}" + (f", longest {self.longest_edge}" if self.longest_edge else "")


def _with_aspect_ratio(height: int, width: int, size: int, max_size: int) -> tuple[int, int]:
    """transformers' get_size_with_aspect_ratio: the shortest edge to `size`, the longest at most `max_size`."""
    raw = None
    lo, hi = float(min(height, width)), float(max(height, width))
    if hi / lo * size > max_size:
        raw = max_size * lo / hi
        size = int(round(raw))
    if (height <= width and height == size) or (width <= height and width == size):
        return height, width
    if width < height:
        return (int(raw * height / width) if raw is not None else int(size * height / width)), size
    return size, (int(raw * width / height) if raw is not None else int(size * width / height))


# --- reading preprocessor_config.json ------------------------------------------------------------

def _bad(key: str, value, hint: str) -> InvalidCheckpoint:
    return InvalidCheckpoint(f"preprocessor_config.json: {key} is {value!r}", hint)


def _side(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIDE:
        raise _bad(key, value, f"{key} must be a positive number of pixels")
    return value


def read_size(key: str, value, default_to_square: bool = True) -> Size:
    """`size` / `crop_size` in any form transformers accepts for these processors: {height, width},
    {shortest_edge[, longest_edge]}, an int (square, or the shortest edge when not default_to_square), [h, w]."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = {"height": value[0], "width": value[1]}
    elif isinstance(value, int) and not isinstance(value, bool):
        value = {"height": value, "width": value} if default_to_square else {"shortest_edge": value}
    if not isinstance(value, dict):
        raise _bad(key, value, f"{key} must be {{\"height\": H, \"width\": W}}, {{\"shortest_edge\": N}} or an integer")
    keys = set(value)
    if keys == {"height", "width"}:
        return Size(height=_side(f"{key}.height", value["height"]), width=_side(f"{key}.width", value["width"]))
    if keys in ({"shortest_edge"}, {"shortest_edge", "longest_edge"}) and key == "size":
        size = Size(shortest_edge=_side(f"{key}.shortest_edge", value["shortest_edge"]),
                    longest_edge=_side(f"{key}.longest_edge", value["longest_edge"]) if "longest_edge" in value else 0)
        if size.longest_edge and size.longest_edge < size.shortest_edge:
            raise _bad(key, value, "longest_edge must not be below shortest_edge")
        return size
    raise _bad(key, value, f"{key} keys must be height and width" + (", or shortest_edge [and longest_edge]" if key == "size" else ""))


def read_resample(value) -> int:
    if isinstance(value, str) and value.strip().lower() in RESAMPLE:
        return RESAMPLE[value.strip().lower()]
    if isinstance(value, bool) or not isinstance(value, int) or value not in FILTER_NAMES:
        raise _bad("resample", value, f"resample must be a Pillow filter id 0..5 or one of {', '.join(RESAMPLE)}")
    return value


def read_channels(key: str, value, which: int) -> tuple[float, ...]:
    """image_mean / image_std: three numbers, one number for every channel, or a constant's name."""
    if isinstance(value, str) and value.strip().lower().removesuffix("_mean").removesuffix("_std") in MEANS:
        value = MEANS[value.strip().lower().removesuffix("_mean").removesuffix("_std")][which]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * CHANNELS
    if not isinstance(value, (list, tuple)) or len(value) != CHANNELS:
        raise _bad(key, value, f"{key} must list {CHANNELS} numbers, one per RGB channel")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (which and v <= 0):
            raise _bad(key, value, f"{key} must be finite numbers" + (", all above 0" if which else ""))
    return tuple(float(v) for v in value)


def _flag(settings: dict, key: str, default: bool) -> bool:
    value = settings.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(key, value, f"{key} must be true or false")
    return value


# --- the processors ------------------------------------------------------------------------------

class ImageProcessor:
    """One family's image processor: DEFAULTS are its transformers class's attributes."""

    input = "image"
    texts = ""  # where a checkpoint that also reads texts takes them (said when an input is not a file)
    DEFAULTS: dict = {}

    def __init__(self, name: str, settings: dict):
        d = {**self.DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
        self.name = name
        self.do_convert_rgb = _flag(d, "do_convert_rgb", False)
        self.do_resize = _flag(d, "do_resize", True)
        self.size = read_size("size", d.get("size"), _flag(d, "default_to_square", True))
        self.resample = read_resample(d.get("resample", 2))
        self.do_center_crop = _flag(d, "do_center_crop", False)
        self.crop_size = read_size("crop_size", d.get("crop_size")) if self.do_center_crop else None
        self.do_rescale = _flag(d, "do_rescale", True)
        factor = d.get("rescale_factor", 1 / 255)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
            raise _bad("rescale_factor", factor, "rescale_factor must be a positive number (1/255 for 8-bit images)")
        self.rescale_factor = float(factor)
        self.do_normalize = _flag(d, "do_normalize", True)
        self.image_mean = read_channels("image_mean", d.get("image_mean"), 0)
        self.image_std = read_channels("image_std", d.get("image_std"), 1)
        self._table = None

    @classmethod
    def from_config(cls, settings: dict, source: str):
        name = settings.get("image_processor_type") or settings.get("feature_extractor_type") or cls.__name__
        return cls(str(name), settings)

    # --- decoding ---

    def load(self, path: str):
        """The file (or an object in a store) as an RGB Pillow image; a file Pillow cannot read safely is a
        one-line UsageError."""
        from autocli.engine.files import local_copy

        with local_copy(path) as local:
            return self._decode(local)

    def _decode(self, path: str):
        PIL = need("PIL", "vision")
        from PIL import Image, ImageOps

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's own bomb warning: the check below says it as an error
                image = Image.open(path)
        except FileNotFoundError:
            raise no_such_file(path, "image", self.texts) from None
        except IsADirectoryError:
            raise UsageError(f"{path}: is a directory, not an image file", "pass the image files inside it") from None
        except PIL.UnidentifiedImageError:
            raise UsageError(f"{path}: not an image Pillow can read", "pass a JPEG, PNG, WebP, BMP or GIF file") from None
        except Image.DecompressionBombError:
            raise _too_large(path, None) from None
        except Exception as e:  # hostile headers raise whatever the format's parser raises
            raise UsageError(f"{path}: cannot be read ({type(e).__name__}: {e})", "check the file") from None
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS or width <= 0 or height <= 0:
                raise _too_large(path, (width, height))
            try:
                return ImageOps.exif_transpose(image).convert("RGB")
            except Exception as e:  # truncated or corrupt pixel data, in any format
                raise UsageError(f"{path}: the image data is damaged or incomplete ({type(e).__name__}: {e})",
                                 "re-export or re-download the file") from None

    # --- preprocessing ---

    def __call__(self, raws: list) -> dict:
        """RGB Pillow images -> {"pixel_values": (B, 3, H, W) float32}."""
        np = need("numpy", "vision")
        arrays = [self.pixels(image) for image in raws]  # each (H, W, 3) uint8
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise UsageError(f"images of different sizes after preprocessing ({', '.join(sorted(str(s[:2]) for s in shapes))})",
                             "this processor keeps each image's aspect ratio: pass images of one size per call")
        table = self.table()  # (3, 256) float32
        out = np.empty((len(arrays), CHANNELS) + arrays[0].shape[:2], dtype=np.float32)  # (B, 3, H, W)
        for i, a in enumerate(arrays):
            for c in range(CHANNELS):
                np.take(table[c], a[:, :, c], out=out[i, c])
        return {"pixel_values": out}

    def batch_key(self, image):
        """Images that come out of preprocessing at different sizes (a shortest_edge size without a crop keeps
        each aspect ratio) never share a batch."""
        if self.do_center_crop:
            return None
        return self.size.of(image.height, image.width) if self.do_resize else (image.height, image.width)

    def pixels(self, image):
        """Resized and cropped, still bytes: (H, W, 3) uint8."""
        np = need("numpy", "vision")
        if self.do_convert_rgb:
            image = on_white(image)
        if self.do_resize:
            height, width = self.size.of(image.height, image.width)
            image = image.resize((width, height), resample=self.resample)  # the same size: Pillow copies
        a = np.asarray(image)  # (H, W, 3)
        return center_crop(a, self.crop_size.height, self.crop_size.width) if self.do_center_crop else a

    def table(self):
        """(3, 256) float32: what rescale and normalize make of each byte value, in transformers' arithmetic."""
        if self._table is None:
            np = need("numpy", "vision")
            x = np.arange(256, dtype=np.uint8)
            if self.do_rescale:
                x = (x.astype(np.float64) * self.rescale_factor).astype(np.float32)  # rescale upcasts, then casts down
            x = np.broadcast_to(x.astype(np.float32), (CHANNELS, 256))
            if self.do_normalize:
                mean = np.array(self.image_mean, dtype=np.float32)[:, None]
                std = np.array(self.image_std, dtype=np.float32)[:, None]
                x = (x - mean) / std  # (3, 256), float32 as transformers' normalize
            self._table = np.ascontiguousarray(x, dtype=np.float32)
        return self._table

    # --- what inspect and `preprocess` show ---

    def settings(self) -> dict:
        return {
            "processor": self.name,
            "do_convert_rgb": self.do_convert_rgb,
            "do_resize": self.do_resize,
            "size": self.size.shown(),
            "resample": FILTER_NAMES[self.resample],
            "do_center_crop": self.do_center_crop,
            "crop_size": self.crop_size.shown() if self.crop_size else None,
            "do_rescale": self.do_rescale,
            "rescale_factor": self.rescale_factor,
            "do_normalize": self.do_normalize,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
        }

    def steps(self) -> list[str]:
        out = ["decode, apply the EXIF orientation, convert to RGB"]
        if self.do_convert_rgb:
            out.append("composite a transparent colour onto white")
        if self.do_resize:
            out.append(f"resize to {self.size.shown()} ({FILTER_NAMES[self.resample]})")
        if self.do_center_crop:
            out.append(f"center crop to {self.crop_size.shown()}")
        if self.do_rescale:
            out.append(f"rescale by {self.rescale_factor:.8g}")
        if self.do_normalize:
            out.append(f"normalize: mean {list(self.image_mean)}, std {list(self.image_std)}")
        out.append("channels first, float32")
        return out


def _too_large(path: str, size) -> UsageError:
    shown = f"{size[0]}x{size[1]} pixels" if size else "more pixels than allowed"
    return UsageError(f"{path}: {shown} is over the {MAX_PIXELS:,}-pixel limit (a decompression bomb?); refused before decoding",
                      "downscale the image first")


def on_white(image):
    """transformers' convert_to_rgb: transparency composited onto white. A palette image's transparent colour
    survives the conversion to RGB as info["transparency"], so those pixels turn white."""
    if "A" not in image.getbands() and image.info.get("transparency") is None:
        return image
    from PIL import Image

    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def center_crop(a, height: int, width: int):
    """transformers' center_crop on (H, W, C): the middle height x width, zero-padded where the image is smaller."""
    np = need("numpy", "vision")
    h, w = a.shape[:2]
    top, left = (h - height) // 2, (w - width) // 2
    if top >= 0 and left >= 0:
        return a[top:top + height, left:left + width]
    new_h, new_w = max(height, h), max(width, w)
    padded = np.zeros((new_h, new_w) + a.shape[2:], dtype=a.dtype)
    top_pad, left_pad = math.ceil((new_h - h) / 2), math.ceil((new_w - w) / 2)
    padded[top_pad:top_pad + h, left_pad:left_pad + w] = a
    top, left = top + top_pad, left + left_pad
    return padded[max(0, top):min(new_h, top + height), max(0, left):min(new_w, left + width)]


_STANDARD = {"image_mean": list(MEANS["imagenet_standard"][0]), "image_std": list(MEANS["imagenet_standard"][1])}


class ViTImageProcessor(ImageProcessor):
    DEFAULTS = {"do_resize": True, "size": {"height": 224, "width": 224}, "resample": 2, "do_center_crop": False,
                "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, **_STANDARD}


class DeiTImageProcessor(ImageProcessor):
    DEFAULTS = {"do_resize": True, "size": {"height": 256, "width": 256}, "resample": 3, "do_center_crop": True,
                "crop_size": {"height": 224, "width": 224}, "do_rescale": True, "rescale_factor": 1 / 255,
                "do_normalize": True, **_STANDARD}


class CLIPImageProcessor(ImageProcessor):
    """The shortest edge to `size` (bicubic), then a square crop: CLIP and the checkpoints that reuse its processor."""

    DEFAULTS = {"do_resize": True, "size": {"shortest_edge": 224}, "default_to_square": False, "resample": 3,
                "do_center_crop": True, "crop_size": {"height": 224, "width": 224}, "do_rescale": True,
                "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(MEANS["openai_clip"][0]),
                "image_std": list(MEANS["openai_clip"][1])}

    def __init__(self, name: str, settings: dict):
        if settings.get("use_square_size"):  # KOSMOS-2's older configs: a square of the shortest edge
            edge = (settings.get("size") or {}).get("shortest_edge", 224) if isinstance(settings.get("size"), dict) else 224
            settings = {**settings, "size": {"height": edge, "width": edge}}
        super().__init__(name, settings)
