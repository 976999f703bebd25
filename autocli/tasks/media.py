"""Images and audio clips through their preprocessor and model: classification and pooled embeddings, with
the records, streaming windows, progress and per-input error records of the text tasks.

An input names a file (fields["image"] or fields["audio"]); a file that cannot be decoded is its own error
record. Decoded inputs run in batches of --batch-size in input order (images are all one size after
preprocessing; audio clips are padded to the longest in their batch, as the feature extractor does).
Files are decoded a batch at a time, so memory holds one batch of decoded inputs, whatever their size.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from autocli.errors import AutocliError, UsageError
from autocli.results import Embedding, error_record
from autocli.tasks.batching import RunState, failed_inputs, stream_windows
from autocli.tasks.classify import ClassifyOptions, label_records
from autocli.tasks.embed import EmbedOptions, pool

# Default pooling: ViT-likes classify from the CLS token; wav2vec2-likes mean-pool their frames.
POOLING_OF = {"image": "cls", "audio": "mean"}


def classify_media(model, processor, items: Iterable, options: ClassifyOptions) -> Iterator:
    """One Classification (or error record) per image or clip, in input order."""
    def post(logits, inputs, batch, slots, records):
        label_records(model.config, logits.float().cpu(), batch, slots, records, options)

    return stream_files(model, processor, items, options, post, "classify")


def embed_media(model, processor, items: Iterable, options: EmbedOptions) -> Iterator:
    """One Embedding per image or clip: the base model's states pooled over patches or audio frames."""
    import torch

    def post(hidden, inputs, batch, slots, records):
        mask = inputs.get("attention_mask")
        if mask is not None:
            mask = model.frames_mask(mask)  # (B, T) over the output frames
        else:
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)  # (B, T) every patch
        vectors = pool(hidden.float(), mask, options.pooling)  # (B, D)
        if options.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        for item, slot, vec in zip(batch, slots, vectors.cpu().tolist()):
            records[slot] = Embedding(item.index, vec, item.shown)

    return stream_files(model, processor, items, options, post, "embed")


def shortest_input(model) -> int:
    """The fewest samples an audio model reads into one output frame (0: any input will do)."""
    backbone = getattr(getattr(model, "module", None), "backbone", None)
    return int(getattr(backbone, "min_samples", 0) or 0)


def decoded(processor, items: list, slots: list[int], records: list, shortest: int = 0) -> tuple[list, list[int]]:
    """(decoded inputs, their slots): each file through processor.load; a bad one, or a clip shorter than
    `shortest` samples (it would have no frame, whatever the batch), becomes its error record."""
    raws, kept = [], []
    for slot in slots:
        item = items[slot]
        try:
            raw = processor.load(item.fields[processor.input])
            if shortest and len(raw) < shortest:
                raise UsageError(f"{len(raw)} samples is too short for this model (it reads {shortest} per frame)",
                                 "pass a longer recording")
        except AutocliError as e:
            records[slot] = error_record(item.index, e)
            continue
        raws.append(raw)
        kept.append(slot)
    return raws, kept


def sharing(processor, raws: list) -> list[list[int]]:
    """The decoded inputs in groups that may share a forward pass, in order: those whose processor.batch_key
    differs may not (audio without an attention mask: padding would change a clip's frames)."""
    key = getattr(processor, "batch_key", None)
    groups: dict = {}
    for i, raw in enumerate(raws):
        groups.setdefault(None if key is None else key(raw), []).append(i)
    return list(groups.values())


def stream_files(model, processor, items: Iterable, options, post: Callable, desc: str) -> Iterator:
    def window(items: list, run: RunState) -> list:
        import torch

        records, todo = failed_inputs(items)
        shortest = shortest_input(model)
        size = max(1, options.batch_size)
        starts = range(0, len(todo), size)
        run.bar.grow(len(todo), len(starts))
        with torch.inference_mode():
            for start in starts:  # decoded a batch at a time: full-size images are large
                raws, part = decoded(processor, items, todo[start:start + size], records, shortest)
                for group in sharing(processor, raws):
                    forward(model, processor, post, [raws[i] for i in group], [part[i] for i in group], items, records)
                run.bar.advance(len(todo[start:start + size]))
        return records

    return stream_windows(items, options, None, window, desc)


def forward(model, processor, post: Callable, raws: list, slots: list[int], items: list, records: list) -> None:
    """One forward pass over decoded inputs. When the batch is refused because of one input (a clip too short
    for the model's convolutions), it runs again one input at a time, so that only that input fails."""
    batch = [items[s] for s in slots]
    try:
        inputs = processor(raws)  # {name: (B, ...) array}
        post(model(**inputs), inputs, batch, slots, records)
    except AutocliError as e:
        if len(raws) == 1:
            records[slots[0]] = error_record(batch[0].index, e)
            return
        for raw, slot in zip(raws, slots):
            forward(model, processor, post, [raw], [slot], items, records)
