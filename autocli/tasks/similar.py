"""Ranking by similarity in an image-text checkpoint's shared space: images (files, or the image files of a
folder) against one text, or texts against one image. The score is the cosine of the two embeddings.

The inputs stream through the model a window at a time and only their scores are kept; the ranking comes
out when every input is done: Match records best first (--top-k of them), then an error record for each
input that could not be read, in input order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import UsageError
from autocli.inputs import IMAGE_SUFFIXES, Item
from autocli.results import ErrorRecord, Match
from autocli.tasks.zero_shot import SpaceOptions, embed_images, embed_texts, text_embeddings, unit


@dataclass
class SimilarOptions(SpaceOptions):
    top_k: int | None = None  # None = every input, ranked


def expand_folders(items: Iterable, field: str = "image") -> Iterator:
    """The inputs with each folder replaced by its image files (sorted by name), numbered again in order."""
    n = 0
    for item in items:
        path = item.fields.get(field) if item.error is None else None
        if isinstance(path, str) and os.path.isdir(path):
            files = sorted(e.path for e in os.scandir(path) if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))
            if not files:
                yield Item(n, dict(item.fields), UsageError(f"{path}: a folder without image files",
                                                            f"it holds no {', '.join(IMAGE_SUFFIXES)} files"))
                n += 1
            for f in files:
                yield Item(n, {field: f})
                n += 1
            continue
        item.index = n
        yield item
        n += 1


def images_against_text(model, processor, items: Iterable, text: str, options: SimilarOptions) -> Iterator:
    """Images ranked by their similarity to `text`."""
    query = text_embeddings(model, processor, [text], 1)[0]  # (P,)
    records = embed_images(model, processor, expand_folders(items), SpaceOptions(options.batch_size, None, options.quiet, normalize=True))
    return ranked(records, query, options.top_k)


def texts_against_image(model, processor, items: Iterable, image: str, options: SimilarOptions) -> Iterator:
    """Texts ranked by their similarity to the image file `image`."""
    import torch

    with torch.inference_mode():
        query = unit(model(**processor([processor.load(image)])).float())[0]  # (P,)
    records = embed_texts(model, processor, items, SpaceOptions(options.batch_size, options.max_length, options.quiet, normalize=True))
    return ranked(records, query, options.top_k)


def ranked(records: Iterable, query, top_k: int | None) -> Iterator:
    """Embedding records (unit vectors) -> Match records best first (ties in input order), then the errors."""
    import torch

    scored, errors = [], []
    for rec in records:
        if isinstance(rec, ErrorRecord):
            errors.append(rec)
            continue
        score = float(torch.tensor(rec.embedding) @ query.cpu())
        scored.append((score, rec.index, rec._text))
    scored.sort(key=lambda s: (-s[0], s[1]))
    for rank, (score, index, shown) in enumerate(scored[:top_k], 1):
        yield Match(index, rank, score, shown)
    yield from errors
