"""The `preprocess` command's records: each file through the processor alone, with value statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from autocli.errors import AutocliError, UsageError
from autocli.results import error_record
from autocli.reports import Preprocessed, TensorStats


def preprocess_items(processor, items: Iterable, values: bool, keep: list | None = None) -> Iterator:
    """One Preprocessed record (or error record) per input, in order; decoded inputs go to `keep` for --save."""
    for item in items:
        try:
            if item.error:
                raise item.error
            path = item.fields[processor.input]
            raw = processor.load(path)
            outputs = processor([raw])
        except AutocliError as e:
            yield error_record(item.index, e)
            continue
        if keep is not None:
            keep.append(raw)
        tensors = [stats(name, array[0], values) for name, array in outputs.items()]
        yield Preprocessed(item.index, path, type(processor).__name__, list(processor.steps()), decoded_input(processor, raw), tensors)


def decoded_input(processor, raw) -> dict:
    """An image's size and mode, or a clip's length at the processor's rate (or the processor's own summary)."""
    if hasattr(processor, "describe"):
        return processor.describe(raw)
    if hasattr(raw, "mode") and hasattr(raw, "size"):
        width, height = raw.size
        return {"width": width, "height": height, "mode": raw.mode}
    rate = getattr(processor, "sampling_rate", None)
    samples = int(getattr(raw, "shape", (len(raw),))[-1])
    return {"samples": samples, "sampling_rate": rate, "seconds": round(samples / rate, 3) if rate else None}


def stats(name: str, array, values: bool) -> TensorStats:
    """One input's tensor (channels first for images) and its statistics, in float64."""
    import numpy as np

    x = np.asarray(array)
    f = x.astype(np.float64)
    empty = f.size == 0
    summary = [None] * 4 if empty else [float(f.min()), float(f.max()), float(f.mean()), float(f.std())]
    channels = None
    if x.ndim == 3 and not empty:  # (C, H, W)
        channels = [{"mean": float(c.mean()), "std": float(c.std()), "min": float(c.min()), "max": float(c.max())} for c in f]
    return TensorStats(name, list(x.shape), str(x.dtype), *summary, channels, x.tolist() if values else None)


def save_batch(processor, raws: list, path: Path) -> None:
    """The decoded inputs as one batch, exactly as the model would get it: .npy the first tensor, .npz all."""
    import numpy as np

    batch = processor(raws)
    try:
        if path.suffix == ".npz":
            np.savez(path, **batch)
        else:
            np.save(path, next(iter(batch.values())))
    except OSError as e:
        raise UsageError(f"cannot write --save {path}: {e.strerror}", "check the folder exists and is writable") from None
