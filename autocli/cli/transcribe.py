"""`autocli transcribe MODEL [FILE...]`: speech to text with a CTC checkpoint (wav2vec2, HuBERT) or Whisper."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.tasks.transcribe import CHUNK_SECONDS


class TranscribeFormat(str, Enum):
    auto = "auto"
    table = "table"
    json = "json"
    jsonl = "jsonl"
    srt = "srt"
    vtt = "vtt"


SUBTITLES = ("srt", "vtt")
FormatOpt = Annotated[TranscribeFormat, typer.Option("--format", "-f", help="Output: table, json, jsonl, or (Whisper) srt/vtt subtitles; auto: a table on a terminal, JSONL in a pipe.", rich_help_panel="Output")]

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
    "  ls calls/*.wav | autocli transcribe ./w2v2-ctc --format jsonl   # --jsonl: {\"audio\": path}\n\n"
    "Whisper checkpoints decode as transformers' generate: the language and task tokens from --language/--task "
    "(else generation_config.json; the language detected from the first 30 s when unset), greedy or --num-beams, "
    "suppress_tokens and begin_suppress_tokens; audio longer than 30 s runs in sequential 30 s windows that move "
    "on at the last predicted timestamp. --timestamps adds the timed segments; --format srt|vtt prints subtitles.\n\n"
    "  autocli transcribe openai/whisper-tiny speech.wav --language de --task translate\n\n"
    "  autocli transcribe openai/whisper-tiny lecture.flac --format srt > lecture.srt"
)
WHISPER_FLAGS = ("--language", "--task", "--timestamps", "--num-beams")


@o.shared_options(tuple(n for n in o.MODEL_OPTIONS if n not in ("max_length", "tokenizer_source")),
                  batch_size=(o.BatchSize, BATCH_SIZE), fmt=(FormatOpt, TranscribeFormat.auto))
def transcribe_cmd(
    model: o.Checkpoint,
    files: Annotated[list[str] | None, typer.Argument(help="Audio files ('-': stdin, one path per line, at its place; none: stdin).", show_default=False)] = None,
    chunk_length: Annotated[float, typer.Option("--chunk-length", min=0, help="Seconds per chunk for long files; 0: each file whole.")] = CHUNK_SECONDS,
    stride: Annotated[float | None, typer.Option("--stride", min=0, help="Seconds of context on each side of a chunk (default: chunk length / 6).", show_default=False)] = None,
    language: Annotated[Optional[str], typer.Option("--language", help="Whisper: the spoken language's code (en, de...); default: detected.", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option("--task", help="Whisper: transcribe, or translate into English.", show_default=False)] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", help="Whisper: add the timed segments (start, end, text).")] = False,
    num_beams: Annotated[Optional[int], typer.Option("--num-beams", min=1, help="Whisper: beam search with N beams (default: generation_config.json's).", show_default=False)] = None,
    *,
    shared: o.Shared,
) -> None:
    """Transcribe speech recordings with a CTC checkpoint or Whisper: text per file."""
    from autocli.errors import Unsupported, UsageError
    from autocli.inputs import naming_files
    from autocli.preprocess.ctc import load_ctc_decoder
    from autocli.results import Transcription
    from autocli.tasks.transcribe import TranscribeOptions, transcribe

    items = shared.read(files)
    if _is_whisper(model, shared):
        from autocli.tasks.whisper import WhisperOptions

        opts = WhisperOptions(shared.batch_size, None, shared.quiet, language=language, task=task,
                              timestamps=timestamps or shared.fmt.value in SUBTITLES, num_beams=num_beams)
        _whisper(model, items, opts, shared)
        return
    given = [f for f, v in zip(WHISPER_FLAGS, (language, task, timestamps, num_beams)) if v not in (None, False)]
    if given or shared.fmt.value in SUBTITLES:
        raise UsageError(f"{(given or ['--format ' + shared.fmt.value])[0]} is for Whisper checkpoints; this one decodes with CTC",
                         "drop it, or pass a Whisper checkpoint")
    ckpt, pre, loaded = shared.load(model, "ctc")
    if getattr(pre, "input", None) != "audio":
        raise Unsupported(f"{ckpt.name} does not read audio", "transcribe takes a speech checkpoint with a CTC head (wav2vec2, HuBERT)")
    decoder = load_ctc_decoder(ckpt)
    options = TranscribeOptions(shared.batch_size, None, shared.quiet, chunk_length=chunk_length, stride=stride)
    shared.emit(transcribe(loaded, pre, decoder, items.each(naming_files("audio")), options), Transcription)


def _is_whisper(model: str, shared: o.Shared) -> bool:
    """Whether the checkpoint's family decodes with a speech seq2seq head (Whisper) rather than CTC."""
    from autocli import registry
    from autocli.tasks import resolve

    fam = registry.family(resolve(model, **shared.hub).config().model_type)
    return fam is not None and "speech-seq2seq" in fam.heads


def _whisper(model: str, items, opts, shared: o.Shared) -> None:
    from autocli import render, render_speech
    from autocli.errors import UsageError
    from autocli.inputs import naming_files
    from autocli.results import WhisperTranscription
    from autocli.tasks.gen_settings import GENERATION_CONFIG, resolve_settings
    from autocli.tasks.whisper import transcribe_whisper
    from autocli.tasks.whisper_rules import WhisperGeneration

    ckpt, pre, loaded = shared.load(model, "speech-seq2seq")
    gen = ckpt.json(GENERATION_CONFIG) or {}
    g = WhisperGeneration.read(gen if isinstance(gen, dict) else {}, loaded.config.raw)
    g.check(opts.language, opts.task, opts.timestamps)
    s = resolve_settings(loaded.config, gen, pre.tokenizer, {"num_beams": opts.num_beams}, seq2seq=True)
    records = transcribe_whisper(loaded, pre, items.each(naming_files("audio")), opts, g, s)
    if shared.fmt.value in SUBTITLES:
        if shared.routed:
            raise UsageError(f"--format {shared.fmt.value} prints subtitles; --output writes records", "drop one of them")
        render.finish(render_speech.emit_subtitles(records, shared.fmt.value))
        return
    shared.emit(records, WhisperTranscription)
