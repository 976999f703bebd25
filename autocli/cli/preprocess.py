"""`autocli preprocess MODEL FILE...`: what the checkpoint's image processor or feature extractor makes of
files — the tokenizer command's counterpart for images and audio. Never imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Reads preprocessor_config.json and applies the processor transformers' AutoImageProcessor / "
    "AutoFeatureExtractor would build (convert, resize, crop, rescale, normalize; or mono, resample, "
    "normalize, pad). Per file: what was decoded, each output tensor's shape, dtype, min/max/mean/std (per "
    "channel for images) and, in JSON, the values themselves (--no-values leaves them out). --save writes "
    "the batch exactly as the model receives it: .npy the main tensor, .npz every tensor.\n\n"
    "Examples:\n\n"
    "  autocli preprocess google/vit-base-patch16-224 photo.jpg\n\n"
    "  autocli preprocess ./wav2vec2 a.wav b.flac --save batch.npz\n\n"
    "  ls *.png | autocli preprocess ./vit --format jsonl --no-values"
)


@o.shared_options(("input_file", "jsonl", *o.HUB_OPTIONS, *o.OUTPUT_OPTIONS))
def preprocess_cmd(
    model: o.Checkpoint,
    files: Annotated[Optional[list[str]], typer.Argument(help="Image or audio files ('-': paths from stdin, one per line; none: stdin).", show_default=False)] = None,
    save: Annotated[Optional[Path], typer.Option("--save", help="Write the batch as the model gets it: .npy (main tensor) or .npz (all).", show_default=False)] = None,
    no_values: Annotated[bool, typer.Option("--no-values", help="Leave the tensor values out of JSON output.")] = False,
    *,
    shared: o.Shared,
) -> None:
    """Show what the image processor or feature extractor makes of files: steps, shapes, value statistics."""
    import time

    from autocli import render
    from autocli.errors import UsageError
    from autocli.inputs import naming_files
    from autocli.preprocess import load_processor
    from autocli.preprocess.report import preprocess_items, save_batch
    from autocli.reports import Preprocessed
    from autocli.tasks import resolve

    if save is not None and save.suffix not in (".npy", ".npz"):
        raise UsageError(f"--save {save}: the name must end in .npy or .npz", "e.g. --save batch.npz")
    items = shared.read(files)
    start = time.perf_counter()
    ckpt = resolve(model, **shared.hub)
    processor = load_processor(ckpt, ckpt.config().model_type)
    o.note_time(shared.verbose, start, f"read {type(processor).__name__} from {ckpt.where}")
    fmt = shared.format(o.Format.jsonl)
    kept = [] if save is not None else None
    records = preprocess_items(processor, items.each(naming_files(processor.input)), values=fmt != o.Format.table and not no_values, keep=kept)
    tally = render.emit_records(records, fmt, Preprocessed)
    if save is not None and kept:
        save_batch(processor, kept, save)
    render.finish(tally)
