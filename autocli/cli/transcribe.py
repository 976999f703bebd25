"""`autocli transcribe MODEL [FILE...]`: speech to text with a CTC checkpoint (wav2vec2, HuBERT)."""

from __future__ import annotations

from typing import Annotated

import typer

from autocli.cli import options as o
from autocli.tasks.transcribe import CHUNK_SECONDS

# One 30 s chunk of wav2vec2-base holds ~1 GB of activations on its way through the convolutions.
BATCH_SIZE = 1

EPILOG = (
    "Greedy CTC decoding with the checkpoint's vocab.json, as transformers' automatic-speech-recognition "
    "pipeline. A file longer than --chunk-length seconds runs in overlapping chunks (each --stride seconds of "
    "context on both sides, default a sixth of the chunk), as the pipeline's chunk_length_s / stride_length_s, "
    "so memory stays bounded whatever the length; --chunk-length 0 runs every file whole. Files are decoded "
    "with soundfile (WAV, FLAC, OGG), downmixed to mono and resampled to the model's rate (autocli[audio]).\n\n"
    "Examples:\n\n"
    "  autocli transcribe facebook/wav2vec2-base-960h speech.wav\n\n"
    "  autocli transcribe ./w2v2-ctc lecture.flac --chunk-length 20 --stride 4\n\n"
    "  ls calls/*.wav | autocli transcribe ./w2v2-ctc --format jsonl   # --jsonl: {\"audio\": path}"
)


@o.shared_options(tuple(n for n in o.MODEL_OPTIONS if n not in ("max_length", "tokenizer_source")),
                  batch_size=(o.BatchSize, BATCH_SIZE))
def transcribe_cmd(
    model: o.Checkpoint,
    files: Annotated[list[str] | None, typer.Argument(help="Audio files ('-': stdin, one path per line, at its place; none: stdin).", show_default=False)] = None,
    chunk_length: Annotated[float, typer.Option("--chunk-length", min=0, help="Seconds per chunk for long files; 0: each file whole.")] = CHUNK_SECONDS,
    stride: Annotated[float | None, typer.Option("--stride", min=0, help="Seconds of context on each side of a chunk (default: chunk length / 6).", show_default=False)] = None,
    *,
    shared: o.Shared,
) -> None:
    """Transcribe speech recordings with a CTC checkpoint: text per file."""
    from autocli.errors import Unsupported
    from autocli.inputs import naming_files
    from autocli.preprocess.ctc import load_ctc_decoder
    from autocli.results import Transcription
    from autocli.tasks.transcribe import TranscribeOptions, transcribe

    items = shared.read(files)
    ckpt, pre, loaded = shared.load(model, "ctc")
    if getattr(pre, "input", None) != "audio":
        raise Unsupported(f"{ckpt.name} does not read audio", "transcribe takes a speech checkpoint with a CTC head (wav2vec2, HuBERT)")
    decoder = load_ctc_decoder(ckpt)
    options = TranscribeOptions(shared.batch_size, None, shared.quiet, chunk_length=chunk_length, stride=stride)
    shared.emit(transcribe(loaded, pre, decoder, items.each(naming_files("audio")), options), Transcription)
