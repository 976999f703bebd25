"""transformers' WhisperFeatureExtractor (its numpy path) and WhisperProcessor: audio -> log-mel `input_features`
(B, feature_size, frames), and the checkpoint's tokenizer beside it.

A clip up to chunk_length seconds is padded with padding_value to exactly chunk_length seconds (3000 frames at
16 kHz); a longer one keeps all its samples (as transformers' ASR pipeline featurises long-form audio). Each
clip: centred STFT (reflect padding, periodic Hann window of n_fft, hop_length) computed in float64 and held as
complex64 as transformers does, power spectrum, slaney mel filters from 0 to 8 kHz, floor 1e-10, log10, the last
frame dropped, everything below (max - 8) raised to it, then (x + 4) / 4. Decoding and resampling are the
wav2vec2 extractor's (autocli/preprocess/audio.py).
"""

from __future__ import annotations

from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.preprocess.audio import MAX_SAMPLING_RATE, NEEDS, decode  # noqa: F401  NEEDS: checked when loaded

MEL_FLOOR = 1e-10
MAX_FREQUENCY = 8000.0  # transformers' mel filters stop here, whatever the sampling rate
DYNAMIC_RANGE = 8.0  # log10 units kept below each clip's loudest bin
FRAMES_PER_BLOCK = 4096  # STFT frames computed at once: bounds memory on long files
# preprocessor_config.json key -> (transformers' default, lowest, highest)
SETTINGS = {"feature_size": (80, 1, 512), "sampling_rate": (16000, 1, MAX_SAMPLING_RATE), "hop_length": (160, 1, 1 << 16),
            "chunk_length": (30, 1, 3600), "n_fft": (400, 2, 1 << 16)}


class WhisperFeatureExtractor:
    input = "audio"

    def __init__(self, padding_value: float = 0.0, **values):
        for name, (default, _, _) in SETTINGS.items():
            setattr(self, name, values.pop(name, default))
        if values:
            raise TypeError(f"unknown settings: {', '.join(values)}")
        self.padding_value = padding_value

    @classmethod
    def from_config(cls, settings: dict, source: str) -> "WhisperFeatureExtractor":
        values = {}
        for name, (default, lo, hi) in SETTINGS.items():
            value = settings.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InvalidCheckpoint(f"{source}: {name} is {value!r}", f"{name} must be an integer from {lo} to {hi}")
            values[name] = value
        pad = settings.get("padding_value", 0.0)
        if isinstance(pad, bool) or not isinstance(pad, (int, float)):
            raise InvalidCheckpoint(f"{source}: padding_value is {pad!r}", "padding_value must be a number")
        if settings.get("dither", 0.0) not in (0, 0.0, None):
            raise Unsupported(f"{source}: dither {settings['dither']!r} adds random noise to every frame",
                              "set dither to 0.0: autocli's features are deterministic")
        return cls(float(pad), **values)

    @property
    def n_samples(self) -> int:
        return self.chunk_length * self.sampling_rate

    @property
    def nb_max_frames(self) -> int:
        return self.n_samples // self.hop_length

    def load(self, path: str):
        return decode(path, self.sampling_rate)

    def __call__(self, raws: list) -> dict:
        """Clips -> {"input_features": (B, feature_size, frames) float32}; one width per batch (the longest)."""
        import numpy as np

        feats = [self.features(x) for x in raws]
        width = max(f.shape[1] for f in feats)
        out = np.zeros((len(feats), self.feature_size, width), dtype=np.float32)  # (B, M, F)
        for row, f in enumerate(feats):
            out[row, :, : f.shape[1]] = f
        return {"input_features": out}

    def features(self, samples):
        """One clip (S,) -> (feature_size, frames) float32: padded to chunk_length seconds when shorter."""
        import numpy as np

        x = np.asarray(samples, dtype=np.float32)
        if len(x) < self.n_samples:
            x = np.concatenate([x, np.full(self.n_samples - len(x), self.padding_value, dtype=np.float32)])
        log_spec = log_mel(x, self.n_fft, self.hop_length, self.mel_filters())[:, :-1]  # (M, F)
        log_spec = np.maximum(log_spec, log_spec.max() - DYNAMIC_RANGE)
        return (log_spec + 4.0) / 4.0

    def mel_filters(self):
        if not hasattr(self, "_filters"):
            self._filters = mel_filter_bank(1 + self.n_fft // 2, self.feature_size, MAX_FREQUENCY, self.sampling_rate)
        return self._filters

    def seconds_per_frame(self) -> float:
        return self.hop_length / self.sampling_rate

    def settings(self) -> dict:
        return {"feature_extractor_type": type(self).__name__, "feature_size": self.feature_size,
                "sampling_rate": self.sampling_rate, "n_fft": self.n_fft, "hop_length": self.hop_length,
                "chunk_length": self.chunk_length, "padding_value": self.padding_value}

    def steps(self) -> list[str]:
        return ["decode (soundfile)", "downmix to mono (mean of the channels)",
                f"resample to {self.sampling_rate} Hz (soxr)",
                f"pad with {self.padding_value:g} to {self.chunk_length} s (longer clips kept whole)",
                f"STFT: n_fft {self.n_fft}, hop {self.hop_length}, periodic Hann window, centred (reflect)",
                f"{self.feature_size} slaney mel bins (0-8 kHz), log10, floor at max - 8, (x + 4) / 4"]


# --- the math, as transformers' audio_utils ------------------------------------------------------

def hertz_to_mel(freq):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    import numpy as np

    freq = np.asarray(freq, dtype=np.float64)
    mels = 3.0 * freq / 200.0
    log = freq >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(freq, 1e-300) / 1000.0) * (27.0 / np.log(6.4)), mels)


def mel_to_hertz(mels):
    import numpy as np

    mels = np.asarray(mels, dtype=np.float64)
    freq = 200.0 * mels / 3.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels - 15.0)), freq)


def mel_filter_bank(bins: int, n_mels: int, max_frequency: float, rate: int):
    """(bins, n_mels) float64 triangular filters between mel-spaced centres, slaney-normalised (constant energy)."""
    import numpy as np

    filter_freqs = mel_to_hertz(np.linspace(hertz_to_mel(0.0), hertz_to_mel(max_frequency), n_mels + 2))  # (M + 2,)
    fft_freqs = np.linspace(0, rate // 2, bins)  # (bins,)
    diff = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]  # (bins, M + 2)
    down, up = -slopes[:, :-2] / diff[:-1], slopes[:, 2:] / diff[1:]
    filters = np.maximum(np.zeros(1), np.minimum(down, up))  # (bins, M)
    return filters * (2.0 / (filter_freqs[2: n_mels + 2] - filter_freqs[:n_mels]))[None, :]


def log_mel(x, n_fft: int, hop: int, filters):
    """(S,) -> (M, 1 + S // hop) float32 log10 mel power, a block of frames at a time."""
    import numpy as np

    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, float64
    padded = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect").astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # (F, n_fft) view
    out = np.empty((filters.shape[1], len(frames)), dtype=np.float32)  # (M, F)
    for start in range(0, len(frames), FRAMES_PER_BLOCK):
        spec = np.fft.rfft(frames[start:start + FRAMES_PER_BLOCK] * window, axis=-1).astype(np.complex64)  # (f, bins)
        power = np.abs(spec, dtype=np.float64) ** 2
        mel = np.maximum(MEL_FLOOR, filters.T @ power.T)  # (M, f)
        out[:, start:start + len(spec)] = np.log10(mel)
    return out


# --- the processor: features + tokenizer ---------------------------------------------------------

class WhisperProcessor:
    """transformers' WhisperProcessor: the feature extractor for audio, the tokenizer for the decoder's tokens."""

    def __init__(self, feature_extractor: WhisperFeatureExtractor, tokenizer):
        self.feature_extractor, self.tokenizer = feature_extractor, tokenizer
        self.input = feature_extractor.input
        self.sampling_rate = feature_extractor.sampling_rate

    def load(self, path: str):
        return self.feature_extractor.load(path)

    def __call__(self, raws: list) -> dict:
        return self.feature_extractor(raws)

    def settings(self) -> dict:
        return {**self.feature_extractor.settings(), "processor_class": type(self).__name__,
                "tokenizer": self.tokenizer.source if hasattr(self.tokenizer, "source") else "tokenizer"}

    def steps(self) -> list[str]:
        return [*self.feature_extractor.steps(), "decoder tokens: the checkpoint's tokenizer (special tokens kept)"]
