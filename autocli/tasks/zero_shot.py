"""Image-text checkpoints (CLIP): zero-shot image classification, and embeddings of images or texts in their
shared space.

Zero-shot classification is transformers' zero-shot-image-classification pipeline: each label through the
hypothesis template, the texts' embeddings and each image's normalised, logits = logit_scale.exp() x their
cosines, softmax over the labels, labels sorted by score (ties in the given order). The label texts are
embedded once per run, not once per image as the pipeline does; the images go through in batches with the
records, windows and error records of every image command (tasks/media.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import UsageError
from autocli.results import Classification, Embedding, LabelScore, error_record
from autocli.tasks import RunOptions, token_limit
from autocli.tasks.batching import RunState, encode_all, encoded_rows, failed_inputs, forward, stream_windows
from autocli.tasks.classify import NOT_A_NUMBER
from autocli.tasks.media import stream_files

TEMPLATE = "This is a photo of {}."  # the pipeline's hypothesis_template


@dataclass
class ZeroShotOptions(RunOptions):
    top_k: int | None = None  # None = every label, as the pipeline returns them


def parse_labels(text: str) -> list[str]:
    """--labels "a cat,a dog": comma-separated, each stripped; blank or repeated labels are refused (a repeated
    label would split its probability in two)."""
    labels = [part.strip() for part in text.split(",")]
    if not any(labels):
        raise UsageError("--labels is empty", 'pass the candidate labels, e.g. --labels "a cat,a dog,a car"')
    for n, label in enumerate(labels):
        if not label:
            raise UsageError(f"--labels has a blank label at position {n + 1}", "drop the extra comma")
        if label in labels[:n]:
            raise UsageError(f"--labels names {label!r} twice", "give each label once")
    return labels


def hypotheses(labels: list[str], template: str) -> list[str]:
    """Each label in the template, as the pipeline's hypothesis_template.format(label)."""
    if "{}" not in template:
        raise UsageError(f"--template {template!r} has no {{}} for the label", f"e.g. --template {TEMPLATE!r}")
    try:
        return [template.format(label) for label in labels]
    except (IndexError, KeyError, ValueError) as e:
        raise UsageError(f"--template {template!r} is not a format string with one {{}} ({e})",
                         "write literal braces as {{ and }}") from None


def text_embeddings(model, processor, texts: list[str], batch_size: int):
    """(N, P) unit vectors for texts that must fit the text tower whole (labels): a longer one is refused."""
    import torch

    limit = token_limit(model, processor.tokenizer)
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), max(1, batch_size)):
            batch = processor.text(texts[start:start + batch_size], max_length=limit)
            out.append(model(batch["input_ids"], batch["attention_mask"]).float())  # (b, P)
    return unit(torch.cat(out))  # (N, P)


def unit(x):
    """Rows divided by their L2 norm, as transformers normalises CLIP's embeddings."""
    return x / x.pow(2).sum(-1, keepdim=True).sqrt()


def logit_scale(model) -> float:
    return float(model.module.logit_scale.float().exp())


def zero_shot(model, processor, items: Iterable, labels: list[str], template: str, options: ZeroShotOptions) -> Iterator:
    """One Classification (or error record) per image, in input order."""
    unit_texts = text_embeddings(model, processor, hypotheses(labels, template), options.batch_size)  # (L, P)
    scale = logit_scale(model)

    def post(images, inputs, batch, slots, records):
        logits = scale * unit(images.float()) @ unit_texts.T.to(images.device)  # (B, L)
        for item, slot, row in zip(batch, slots, logits.cpu()):
            records[slot] = _ranked(item, row, labels, options)

    return stream_files(model, processor, items, options, post, "classify")


def _ranked(item, logits, labels: list[str], options: ZeroShotOptions):
    scores = logits.softmax(-1).tolist()  # (L,)
    if any(math.isnan(s) for s in scores):
        return error_record(item.index, NOT_A_NUMBER)
    order = sorted(range(len(labels)), key=lambda j: -scores[j])  # stable: ties keep the labels' order
    top = [LabelScore(labels[j], scores[j]) for j in order[:options.top_k]]
    return Classification(item.index, top[0].label, top[0].score, top, logits.tolist() if options.logits else None, item.shown)


# --- embeddings in the shared space --------------------------------------------------------------

@dataclass
class SpaceOptions(RunOptions):
    normalize: bool = False  # unit vectors; off: the projections' outputs, as get_image_features / get_text_features


def embed_images(model, processor, items: Iterable, options: SpaceOptions) -> Iterator:
    """One Embedding per image: the projected class token."""
    def post(vectors, inputs, batch, slots, records):
        vectors = unit(vectors.float()) if options.normalize else vectors.float()
        for item, slot, vec in zip(batch, slots, vectors.cpu().tolist()):
            records[slot] = Embedding(item.index, vec, item.shown)

    return stream_files(model, processor, items, options, post, "embed")


def embed_texts(model, processor, items: Iterable, options: SpaceOptions) -> Iterator:
    """One Embedding per text: the projected end-of-text state; a text longer than the tower is truncated
    (with the run's warning), as the text commands do."""
    limit = token_limit(model, processor.tokenizer)
    if options.max_length is not None:
        limit = options.max_length if limit is None else min(limit, options.max_length)

    def window(items: list, run: RunState) -> list:
        records, todo = failed_inputs(items)
        encs = encode_all(processor.tokenizer, [items[s].text for s in todo], None, limit)
        rows, slots = encoded_rows(items, todo, encs, records, run)
        if not rows:
            return records

        def post(vectors, mask, batch):
            return list((unit(vectors.float()) if options.normalize else vectors.float()).cpu())

        vectors = forward(model, rows, batch_size=options.batch_size, pad_id=processor.tokenizer.pad_id, post=post, bar=run.bar)
        for slot, vec in zip(slots, vectors):
            records[slot] = Embedding(items[slot].index, vec.tolist(), items[slot].text)
        return records

    return stream_windows(items, options, limit, window, "embed")
