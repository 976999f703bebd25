"""Documents for LayoutLM: the document JSON, Tesseract OCR and the LayoutLMv2 / LayoutLMv3 image processors.

A document is a JSON file {"image": path, "words": [...], "boxes": [[x0, y0, x1, y1], ...]} with boxes on
transformers' 0-1000 scale (1000 * x / page width); "word_labels" (ints) optional, for the alignment
token classification trains on. A relative image path is read from the JSON file's folder. Without words,
an image processor with apply_ocr (transformers' default for both) reads them from the image with Tesseract,
as transformers' apply_tesseract does: empty words dropped, (left, top, left + width, top + height) scaled by
int(1000 * x / size) of the image as decoded.

The image processors are transformers' PIL backend:
  LayoutLMv2   resize to 224x224 (bilinear), no rescale, no normalisation, channels flipped RGB -> BGR
               (Detectron2's order): byte values as float32
  LayoutLMv3   resize to 224x224 (bilinear), rescale 1/255, normalise with image_mean / image_std (0.5)
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace

from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.inputs import no_such_file
from autocli.preprocess.image import ImageProcessor, MEANS, _flag

NEEDS = (("numpy", "vision"),)
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_COORDINATE = 1000  # boxes are normalised to 0-1000 (the models' 2-D position embeddings)
OCR_SECONDS = 300
INSTALL_TESSERACT = ("install Tesseract (apt install tesseract-ocr, brew install tesseract, or pip install pytesseract "
                     "beside the binary), or pass \"words\" and \"boxes\" in the document JSON")


@dataclass(frozen=True)
class Document:
    path: str
    words: tuple
    boxes: tuple  # one (x0, y0, x1, y1) per word, 0-1000
    image: object = None  # an RGB Pillow image, or None (LayoutLM v1 reads no pixels)
    labels: tuple | None = None  # word_labels: one int per word
    question: str | None = None  # question answering: asked of the words
    ocr: bool = False  # words and boxes came from Tesseract

    def asking(self, question: str | None) -> "Document":
        return replace(self, question=question)


# --- the document JSON ---------------------------------------------------------------------------

def read_document(path: str) -> dict:
    """The file as a JSON object; anything else is a one-line UsageError."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise no_such_file(path, "document JSON") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a document JSON file", "pass the .json files inside it") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot be read ({e.strerror})", "check the path") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UsageError(f"{path}: over the {MAX_DOCUMENT_BYTES:,}-byte limit for a document", "split the document")
    try:
        obj = json.loads(data.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 (byte {e.start})", "a document is a UTF-8 JSON file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})",
                         'a document is {"image": path, "words": [...], "boxes": [[x0, y0, x1, y1], ...]}') from None
    if not isinstance(obj, dict):
        raise UsageError(f"{path}: a JSON {type(obj).__name__}, not an object",
                         'a document is {"image": path, "words": [...], "boxes": [[x0, y0, x1, y1], ...]}')
    return obj


def check_words(path: str, words, boxes) -> tuple[tuple, tuple]:
    """words: non-empty strings; boxes: one [x0, y0, x1, y1] of integers in 0-1000 per word, x0 <= x1, y0 <= y1."""
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        raise UsageError(f"{path}: \"words\" must be a list of non-empty strings", 'e.g. "words": ["Invoice", "42"]')
    if not isinstance(boxes, list):
        raise UsageError(f"{path}: \"boxes\" must be a list of [x0, y0, x1, y1]", "one box per word")
    if len(words) != len(boxes):
        raise UsageError(f"{path}: {len(words)} words but {len(boxes)} boxes", "give exactly one box per word")
    if not words:
        raise UsageError(f"{path}: the document has no words", "pass at least one word and its box")
    for i, box in enumerate(boxes):
        ints = isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        if not ints:
            raise UsageError(f"{path}: box {i} is {box!r}, not four integers [x0, y0, x1, y1]", "one box per word")
        if not all(0 <= v <= MAX_COORDINATE for v in box):
            raise UsageError(f"{path}: box {i} {box} is outside 0-{MAX_COORDINATE}",
                             "normalise coordinates to 0-1000: int(1000 * x / page_width), int(1000 * y / page_height)")
        if box[0] > box[2] or box[1] > box[3]:
            raise UsageError(f"{path}: box {i} {box} has x0 > x1 or y0 > y1", "boxes are [left, top, right, bottom]")
    return tuple(words), tuple(tuple(b) for b in boxes)


def check_labels(path: str, labels, n: int) -> tuple | None:
    if labels is None:
        return None
    if not isinstance(labels, list) or len(labels) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise UsageError(f"{path}: \"word_labels\" must list one integer per word ({n})", "or leave it out")
    return tuple(labels)


def load_document(path: str, image_processor, apply_ocr: bool) -> Document:
    """A document JSON file -> Document; the image decoded by image_processor (None: no image is read)."""
    obj = read_document(path)
    image = None
    ref = obj.get("image")
    if ref is not None and not isinstance(ref, str):
        raise UsageError(f"{path}: \"image\" must be a file path", '"image": "page1.png"')
    if image_processor is not None:
        if ref is None:
            raise UsageError(f"{path}: no \"image\": this model reads the page image too", '"image": "page1.png"')
        image = image_processor.load(os.path.join(os.path.dirname(path), ref))
    words, boxes = obj.get("words"), obj.get("boxes")
    if words is None and boxes is None:
        if image is None or not apply_ocr:
            why = "this processor has apply_ocr off" if image is not None else "without an image there is nothing to OCR"
            raise UsageError(f"{path}: no \"words\" and \"boxes\" ({why})", 'pass "words": [...], "boxes": [[x0, y0, x1, y1], ...]')
        words, boxes = tesseract(image, image_processor.ocr_lang, image_processor.tesseract_config)
        if not words:
            raise UsageError(f"{path}: Tesseract found no words in the image", 'pass "words" and "boxes" yourself')
        return Document(path, tuple(words), tuple(tuple(b) for b in boxes), image, None, ocr=True)
    words, boxes = check_words(path, words, boxes)
    return Document(path, words, boxes, image, check_labels(path, obj.get("word_labels"), len(words)))


# --- OCR -------------------------------------------------------------------------------------------

def tesseract(image, lang: str | None, config: str | None) -> tuple[list, list]:
    """(words, 0-1000 boxes) as transformers' apply_tesseract: pytesseract where it is installed, else the
    `tesseract` binary's TSV output, which is what pytesseract parses."""
    try:
        import pytesseract
    except ImportError:
        pytesseract = None
    if pytesseract is not None:
        data = pytesseract.image_to_data(image, lang=lang, output_type="dict", config=config or "")
    else:
        data = _tesseract_tsv(image, lang, config)
    width, height = image.size
    words, boxes = [], []
    for text, left, top, w, h in zip(data["text"], data["left"], data["top"], data["width"], data["height"]):
        if not str(text).strip():
            continue
        x0, y0, x1, y1 = int(left), int(top), int(left) + int(w), int(top) + int(h)
        words.append(str(text))
        boxes.append([int(1000 * (x0 / width)), int(1000 * (y0 / height)), int(1000 * (x1 / width)), int(1000 * (y1 / height))])
    return words, boxes


def _tesseract_tsv(image, lang: str | None, config: str | None) -> dict:
    binary = shutil.which("tesseract")
    if binary is None:
        raise Unsupported("OCR (apply_ocr) needs Tesseract, which is not installed", INSTALL_TESSERACT)
    with tempfile.TemporaryDirectory(prefix="autocli-ocr-") as tmp:
        page = os.path.join(tmp, "page.png")
        image.save(page)
        cmd = [binary, page, "stdout"] + (["-l", lang] if lang else []) + shlex.split(config or "") + ["tsv"]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=OCR_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unsupported(f"Tesseract could not run ({type(e).__name__}: {e})", INSTALL_TESSERACT) from None
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"Tesseract failed (exit {done.returncode}): {last}", "check the image, ocr_lang and tesseract_config")
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE))
    try:
        return {key: [row.get(key) or ("" if key == "text" else 0) for row in rows] for key in ("text", "left", "top", "width", "height")}
    except (TypeError, ValueError) as e:
        raise UsageError(f"Tesseract's output is not the TSV it writes ({e})", INSTALL_TESSERACT) from None


# --- the image processors --------------------------------------------------------------------------

class DocumentImageProcessor(ImageProcessor):
    """An image processor that also knows how to read words off the image (apply_ocr)."""

    def __init__(self, name: str, settings: dict):
        super().__init__(name, settings)
        d = {**self.DEFAULTS, **settings}
        self.apply_ocr = _flag(d, "apply_ocr", True)
        self.ocr_lang = d.get("ocr_lang")
        self.tesseract_config = d.get("tesseract_config") or ""
        for key in ("ocr_lang", "tesseract_config"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise InvalidCheckpoint(f"preprocessor_config.json: {key} is {value!r}", f"{key} must be a string")

    def settings(self) -> dict:
        return {**super().settings(), "apply_ocr": self.apply_ocr, "ocr_lang": self.ocr_lang, "tesseract_config": self.tesseract_config}

    def steps(self) -> list[str]:
        ocr = [f"words and boxes by Tesseract OCR ({self.ocr_lang or 'eng'}) where the document gives none"] if self.apply_ocr else []
        return ocr + super().steps()


class LayoutLMv2ImageProcessor(DocumentImageProcessor):
    DEFAULTS = {"do_resize": True, "size": {"height": 224, "width": 224}, "resample": 2, "do_rescale": False,
                "do_normalize": False, "apply_ocr": True, "image_mean": [0.0] * 3, "image_std": [1.0] * 3}

    def __init__(self, name: str, settings: dict):
        # transformers' LayoutLMv2 image processor has no rescale or normalize step, whatever the file says
        super().__init__(name, {**settings, "do_rescale": False, "do_normalize": False, "do_center_crop": False})

    def __call__(self, raws: list) -> dict:
        out = super().__call__(raws)["pixel_values"]  # (B, 3, H, W) RGB
        return {"pixel_values": out[:, ::-1].copy()}  # (B, 3, H, W) BGR, as Detectron2 reads

    def steps(self) -> list[str]:
        return super().steps()[:-1] + ["channels flipped RGB -> BGR, first; byte values as float32"]


class LayoutLMv3ImageProcessor(DocumentImageProcessor):
    DEFAULTS = {"do_resize": True, "size": {"height": 224, "width": 224}, "resample": 2, "do_rescale": True,
                "rescale_factor": 1 / 255, "do_normalize": True, "apply_ocr": True,
                "image_mean": list(MEANS["imagenet_standard"][0]), "image_std": list(MEANS["imagenet_standard"][1])}
