"""Whisper (model_type "whisper"): log-mel features -> encoder; tokens + encoder states -> decoder -> next token.

Encoder: two 1-D convolutions (kernel 3; the second with stride 2) each followed by GELU, the stored
(sinusoidal) position table added, pre-norm layers, a final `layer_norm`. It reads exactly
2 * max_source_positions feature frames (30 s): the features come padded to that. Decoder: token embeddings
(never scaled: transformers reads scale_embedding and does not apply it) plus learned positions from the cache's length,
pre-norm layers with self- and cross-attention (BART's pre-norm layers, models/bart.py, with k_proj unbiased),
a final `layer_norm`; `proj_out` is tied to the token embeddings.

Checkpoints keep the backbone under `model.` (WhisperModel at the top level). Heads as transformers'
WhisperFor*: speech-seq2seq (`proj_out` over the decoder), audio classification (the encoder alone under
`encoder.`: `projector`, the mean over the frames, `classifier`). `base` is the encoder's output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import Unsupported, UsageError
from autocli.models import bart
from autocli.models._seq2seq import EncoderDecoder, generated, shift_right
from autocli.models._task import Head, TaskModel, hidden_states

PREFIX = "model"


@dataclass
class Args(bart.Args):
    """BART's settings (the registry row gives WhisperConfig's defaults for them) and Whisper's own."""

    START = "decoder_start_token_id"
    classifier_proj_size: int = 256
    max_source_positions: int = 1500  # encoder positions: 30 s of features, halved by the second convolution
    max_target_positions: int = 448
    num_mel_bins: int = 80
    use_weighted_layer_sum: bool = False

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        self.positive("max_source_positions", "max_target_positions", "num_mel_bins")
        if self.use_weighted_layer_sum:
            raise Unsupported(f"{cfg.source}: use_weighted_layer_sum (a learned mix of every encoder layer) is not supported",
                              "train the classifier on the last layer's states")

    @property
    def frames(self) -> int:
        """Feature frames the encoder reads: the second convolution halves them."""
        return 2 * self.max_source_positions


class Layer(bart.Layer):
    """BART's pre-norm layer; Whisper's key projections have no bias."""

    def __init__(self, a: Args, decoder: bool):
        super().__init__(a, decoder)
        for attn in (self.self_attn, getattr(self, "encoder_attn", None)):
            if attn is not None:
                attn.k_proj = nn.Linear(a.d_model, a.d_model, bias=False)


class Encoder(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        d = a.d_model
        self.frames = a.frames
        self.conv1 = nn.Conv1d(a.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(a.max_source_positions, d)
        self.layers = nn.ModuleList(Layer(a, decoder=False) for _ in range(a.encoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, features):
        if features.dim() != 3 or features.shape[1] != self.conv1.in_channels or features.shape[2] != self.frames:
            raise UsageError(f"Whisper's encoder reads (batch, {self.conv1.in_channels}, {self.frames}) log-mel features, "
                             f"got {tuple(features.shape)}", "pad or cut the features to 30 s windows (the feature extractor does)")
        x = F.gelu(self.conv1(features))  # (B, H, F)
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, F/2, H)
        x = x + self.embed_positions.weight  # (B, S, H)
        for layer in self.layers:
            x = layer(x, None)
        return self.layer_norm(x)  # (B, S, H)


class Decoder(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        d = a.d_model
        self.max_positions = a.max_target_positions
        self.embed_tokens = nn.Embedding(a.vocab_size, d)
        self.embed_positions = nn.Embedding(a.max_target_positions, d)
        self.layers = nn.ModuleList(Layer(a, decoder=True) for _ in range(a.decoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_ids, mask, cross=None, cross_mask=None, cache=None):
        T = input_ids.shape[1]
        start = cache.length if cache is not None else 0
        if start + T > self.max_positions:
            raise UsageError(f"{start + T} decoder tokens is more than Whisper's {self.max_positions} positions",
                             "lower --max-new-tokens")
        x = self.embed_tokens(input_ids) + self.embed_positions.weight[start:start + T]  # (B, T, H)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, None if cross is None else cross[i], cross_mask, cache, i)
        if cache is not None:
            cache.advance(T)
        return self.layer_norm(x)  # (B, T, H)


class WhisperModel(EncoderDecoder):
    def __init__(self, a: Args, decoder: bool = True):
        super().__init__()
        self.a = a
        self.encoder = Encoder(a)
        if decoder:
            self.decoder = Decoder(a)

    def encode(self, features, attention_mask=None):
        return self.encoder(features)  # (B, S, H): Whisper masks no frame, it reads silence as silence

    def cache_shape(self):
        return self.a.decoder_layers, self.a.decoder_attention_heads, self.a.d_model // self.a.decoder_attention_heads

    def cross_kv(self, enc):
        return [layer.encoder_attn.kv(enc) for layer in self.decoder.layers]

    def decoder_inputs(self, input_ids):
        return shift_right(input_ids, self.a.decoder_start_token_id, self.a.pad_token_id)


# --- heads ---------------------------------------------------------------------------------------

def _classified(m, h, x):
    return m.classifier(m.projector(h).mean(dim=1))  # (B, L): the mean over every frame, silence included


HEADS = {
    "base": Head(lambda a: {}, hidden_states),
    "speech-seq2seq": Head(lambda a: {"proj_out": nn.Linear(a.d_model, a.vocab_size, bias=False)}, generated),
    "audio-classification": Head(lambda a: {"projector": nn.Linear(a.d_model, a.classifier_proj_size),
                                            "classifier": nn.Linear(a.classifier_proj_size, a.num_labels)}, _classified),
}


def _logits(m, h):
    return m.proj_out(h)  # (..., V)


def build(a: Args, task: str) -> TaskModel:
    lm = _logits if task == "speech-seq2seq" else None
    # WhisperForAudioClassification keeps the encoder at the top level: the loader adds the `model.` prefix
    return TaskModel.of("seq2seq", PREFIX, WhisperModel(a, decoder=task != "audio-classification"), HEADS[task], a, lm)


def max_length(a: Args) -> int:
    return a.max_target_positions
