"""transformers' Wav2Vec2FeatureExtractor (wav2vec2, HuBERT): audio files -> `input_values` (B, S) float32 and,
where the config asks, `attention_mask` (B, S).

A file is decoded with soundfile (libsndfile: WAV, FLAC, OGG), downmixed to mono as transformers' pipelines do
(the mean of the channels) and resampled to the model's rate with soxr, streamed a block at a time. Each clip is
normalised to zero mean and unit variance over its own samples when do_normalize (eps 1e-7), then the batch is
padded on the right to its longest clip with padding_value. (transformers computes the same statistics when it
returns an attention mask; without one, its batch padding would enter them and a clip's values would depend on
its batch: autocli keeps them per clip.)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.inputs import no_such_file

# Decoded audio is held whole (at the model's rate): longer files are refused before decoding.
MAX_SECONDS = 3600
# soxr's quality for every resampling (its default; transformers' pipelines use torchaudio, which autocli does not need)
SOXR_QUALITY = "HQ"
# Frames read per block while decoding and resampling.
BLOCK_FRAMES = 1 << 16
MAX_SAMPLING_RATE = 1_000_000
# WAV data chunk sizes written by streaming writers that did not know the length (libsndfile reads to the end).
UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)
EPS = 1e-7
NEEDS = (("numpy", "audio"), ("soundfile", "audio"), ("soxr", "audio"))


@dataclass
class Wav2Vec2FeatureExtractor:
    sampling_rate: int = 16000
    padding_value: float = 0.0
    do_normalize: bool = True
    return_attention_mask: bool = False
    input = "audio"

    @classmethod
    def from_config(cls, settings: dict, source: str) -> "Wav2Vec2FeatureExtractor":
        def read(key, kind, default):
            value = settings.get(key, default)
            value = default if value is None else value
            if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise InvalidCheckpoint(f"{source}: {key} is {value!r}", f"{key} must be a {getattr(kind, '__name__', 'number')}")
            return value

        rate = read("sampling_rate", int, 16000)
        if not 0 < rate <= MAX_SAMPLING_RATE:
            raise InvalidCheckpoint(f"{source}: sampling_rate {rate} is not a usable rate", "16000 for wav2vec2 and HuBERT")
        if read("feature_size", int, 1) != 1:
            raise Unsupported(f"{source}: feature_size {settings['feature_size']} (frames of features) is not supported",
                              "the Wav2Vec2 feature extractor reads raw samples: feature_size 1")
        if read("padding_side", str, "right") != "right":
            raise Unsupported(f"{source}: padding_side {settings['padding_side']!r} is not supported", "use \"right\"")
        pad = read("padding_value", (int, float), 0.0)
        return cls(rate, float(pad), read("do_normalize", bool, True), read("return_attention_mask", bool, False))

    # --- one file -> mono float32 at the model's rate ---

    def load(self, path: str):
        """The file's samples, mono float32 at sampling_rate; a file that cannot be read is a one-line error."""
        return decode(path, self.sampling_rate)

    # --- a batch -> the model's inputs ---

    def __call__(self, raws: list) -> dict:
        import numpy as np

        clips = [normalized(x) if self.do_normalize else np.asarray(x, dtype=np.float32) for x in raws]
        width = max(len(c) for c in clips)
        values = np.full((len(clips), width), self.padding_value, dtype=np.float32)  # (B, S)
        mask = np.zeros((len(clips), width), dtype=np.int32)  # (B, S)
        for row, clip in enumerate(clips):
            values[row, : len(clip)] = clip
            mask[row, : len(clip)] = 1
        return {"input_values": values, "attention_mask": mask} if self.return_attention_mask else {"input_values": values}

    def batch_key(self, raw):
        """Clips with different keys never share a batch: without an attention mask the model sees the padding."""
        return None if self.return_attention_mask else len(raw)

    def settings(self) -> dict:
        return {"feature_extractor_type": type(self).__name__, "sampling_rate": self.sampling_rate,
                "do_normalize": self.do_normalize, "return_attention_mask": self.return_attention_mask,
                "padding_value": self.padding_value}

    def steps(self) -> list[str]:
        out = ["decode (soundfile)", "downmix to mono (mean of the channels)",
               f"resample to {self.sampling_rate} Hz (soxr, {SOXR_QUALITY})"]
        if self.do_normalize:
            out.append("normalize each clip to zero mean, unit variance")
        out.append(f"pad to the longest clip with {self.padding_value:g}"
                   + (", attention mask" if self.return_attention_mask else ""))
        return out


def normalized(x):
    """transformers' zero_mean_unit_var_norm on one clip's real samples, in float32."""
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean()) / np.sqrt(x.var() + EPS)


def decode(path: str, rate: int):
    """Decode, downmix and resample a file (or an object in a store) a block at a time -> (S,) float32; refused
    before decoding when it is missing, not audio, empty, longer than MAX_SECONDS or its header claims more than
    it holds."""
    from autocli.engine.files import local_copy

    with local_copy(path) as local:
        return _decode(local, rate)


def _decode(path: str, rate: int):
    import numpy as np

    from autocli.extras import need

    sf, soxr = need("soundfile", "audio"), need("soxr", "audio")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, not an audio file", "pass the audio files inside it")
    if not os.path.isfile(path):
        raise no_such_file(path, "audio")
    try:
        f = sf.SoundFile(path)
    except (RuntimeError, ValueError, OSError) as e:  # libsndfile: format not recognised, malformed header
        raise UsageError(f"{path}: not a readable audio file ({_reason(e)})", "autocli reads WAV, FLAC and OGG") from None
    with f:
        check_header(path, f)
        stream = soxr.ResampleStream(f.samplerate, rate, 1, dtype="float32", quality=SOXR_QUALITY) if f.samplerate != rate else None
        parts, left = [], f.frames
        try:
            for block in f.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):  # (n, channels)
                left -= len(block)
                mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)  # (n,)
                parts.append(stream.resample_chunk(mono, last=left <= 0) if stream is not None else mono)
        except (RuntimeError, ValueError) as e:
            raise UsageError(f"{path}: the audio data is damaged ({_reason(e)})", "re-export the file") from None
        if stream is not None and left > 0:
            parts.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if out.size == 0:
        raise UsageError(f"{path}: the file holds no audio samples", "pass a recording at least one sample long")
    return out


def check_header(path: str, f) -> None:
    """Refuse what would decode to more than MAX_SECONDS, and a WAV whose header claims more than the file holds."""
    if not 0 < f.samplerate <= MAX_SAMPLING_RATE or f.channels < 1:
        raise UsageError(f"{path}: the header says {f.samplerate} Hz, {f.channels} channel(s)", "the file is damaged")
    if f.frames == 0:
        raise UsageError(f"{path}: the file holds no audio samples", "pass a recording at least one sample long")
    if f.frames > MAX_SECONDS * f.samplerate:
        raise UsageError(f"{path}: {f.frames} frames at {f.samplerate} Hz is longer than {MAX_SECONDS} s",
                         "split the recording (e.g. with sox or ffmpeg) and pass the parts")
    if f.format in ("WAV", "WAVEX"):
        claimed, held = wav_data_sizes(path)
        if claimed is not None and claimed not in UNKNOWN_WAV_SIZES and claimed > held:
            raise UsageError(f"{path}: the WAV header claims {claimed} bytes of samples, the file holds {held}",
                             "the file is truncated or forged; re-export it")


def wav_data_sizes(path: str) -> tuple[int | None, int]:
    """(the data chunk's declared size, the bytes after its header) of a RIFF/WAVE file; (None, 0) if absent."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if fh.read(12)[8:12] != b"WAVE":
            return None, 0
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, n = struct.unpack("<4sI", fh.read(8))
            if cid == b"data":
                return n, size - pos - 8
            pos += 8 + n + (n & 1)  # chunks are word-aligned
    return None, 0


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text
