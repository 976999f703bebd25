"""T5 (model_type "t5"; mt5 and umt5 are rows): encoder-decoder with relative position buckets.

What differs from the textbook transformer: no 1/sqrt(d) scaling of attention scores; a learned bias per
(relative-position bucket, head) added to the scores, bidirectional in the encoder and causal in the
decoder, held by block 0 and shared by every layer (umt5: every layer has its own); RMS norm without mean
or bias, before each sublayer; feed_forward_proj relu (v1.0) or gated-gelu/gated-silu (v1.1, Flan, mT5,
UL2). v1.0 ties the LM head to the embeddings and rescales the decoder output by d_model^-0.5 before it.

Checkpoints keep the backbone at the top level (`encoder.`, `decoder.`, `shared.`) or under
`transformer.` (sequence and token classification); the embedding is stored once as `shared.weight`.
Heads as transformers' T5For*: token classification reads the encoder, sequence classification the
decoder at the last EOS, QA the decoder states, with decoder inputs = the inputs shifted right.
`base` is the encoder (T5EncoderModel): per-token states of the input, what embeddings pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._args import derived, key
from autocli.models._attention import add
from autocli.models._decoder import RMSNorm, activation
from autocli.models._seq2seq import (CachedAttention, EncoderDecoder, Seq2SeqArgs, clamp_fp16, fold_embeddings, generated,
                                     seq2seq_heads, shift_right)
from autocli.models._task import Head, TaskModel

PREFIX = "transformer"


@dataclass
class Args(Seq2SeqArgs):
    d_ff: int = 2048
    d_kv: int = 64
    d_model: int = 512
    feed_forward_proj: str = "relu"  # ACT or gated-ACT
    layer_norm_epsilon: float = 1e-6
    num_decoder_layers: int | None = None  # None: num_layers
    num_heads: int = 8
    num_layers: int = 6
    relative_attention_max_distance: int = 128
    relative_attention_num_buckets: int = 32
    tie_word_embeddings: bool = True
    vocab_size: int = 32128
    per_layer_bias: bool = key("_per_layer_bias", default=False)  # umt5: every self-attention layer has its own relative bias
    # None: older configs, where v1.0 (tied) scales and v1.1 (untied) does not; mt5's row never scales
    scale_decoder_outputs: bool | None = key("_scale_decoder_outputs", "scale_decoder_outputs")
    dense_act_fn: str = derived()
    is_gated_act: bool = derived()

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        proj = self.feed_forward_proj
        parts = proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise InvalidCheckpoint(f"feed_forward_proj {proj!r} is not `ACT` or `gated-ACT`", "fix config.json")
        self.dense_act_fn = "gelu_new" if proj == "gated-gelu" else parts[-1]  # transformers maps gated-gelu to the tanh GELU
        activation(self.dense_act_fn, "feed_forward_proj")
        self.is_gated_act = parts[0] == "gated"
        if self.scale_decoder_outputs is None:
            self.scale_decoder_outputs = self.tie_word_embeddings
        self.num_decoder_layers = self.num_decoder_layers or self.num_layers
        if self.relative_attention_num_buckets < 4 or self.relative_attention_max_distance < 2:
            raise Unsupported(f"relative_attention_num_buckets {self.relative_attention_num_buckets} / max_distance "
                              f"{self.relative_attention_max_distance} are too small for T5's bucket scheme", "fix config.json")


def relative_buckets(relative: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Mesh TensorFlow's buckets: exact for small distances, logarithmic up to max_distance (transformers' order of ops)."""
    buckets = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative > 0).long() * num_buckets
        relative = relative.abs()
    else:
        relative = -torch.clamp(relative, max=0)  # later keys are never attended in the decoder
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(relative.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(relative < max_exact, relative, large)


class Attention(CachedAttention):
    PROJECTIONS = ("q", "k", "v", "o")

    def __init__(self, a: Args, has_bias: bool, bidirectional: bool):
        super().__init__()
        inner = a.num_heads * a.d_kv
        self.n_heads, self.bidirectional = a.num_heads, bidirectional
        self.scale = 1.0  # T5 folds the scale into its init
        self.buckets, self.max_distance = a.relative_attention_num_buckets, a.relative_attention_max_distance
        self.q = nn.Linear(a.d_model, inner, bias=False)
        self.k = nn.Linear(a.d_model, inner, bias=False)
        self.v = nn.Linear(a.d_model, inner, bias=False)
        self.o = nn.Linear(inner, a.d_model, bias=False)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(a.relative_attention_num_buckets, a.num_heads)

    def position_bias(self, T: int, S: int) -> torch.Tensor:
        """(1, nh, T, S): queries are the last T of S positions."""
        dev = self.relative_attention_bias.weight.device
        relative = torch.arange(S, device=dev)[None, :] - torch.arange(S - T, S, device=dev)[:, None]  # (T, S)
        b = relative_buckets(relative, self.bidirectional, self.buckets, self.max_distance)
        return self.relative_attention_bias(b).permute(2, 0, 1)[None]


class LayerSelfAttention(nn.Module):
    def __init__(self, a: Args, has_bias: bool, bidirectional: bool):
        super().__init__()
        self.SelfAttention = Attention(a, has_bias, bidirectional)
        self.layer_norm = RMSNorm(a.d_model, a.layer_norm_epsilon)

    def forward(self, x, bias, cache=None, layer: int = 0):
        return x + self.SelfAttention(self.layer_norm(x), bias, cache=cache, layer=layer)


class LayerCrossAttention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.EncDecAttention = Attention(a, False, True)
        self.layer_norm = RMSNorm(a.d_model, a.layer_norm_epsilon)

    def forward(self, x, kv, mask):
        return x + self.EncDecAttention(self.layer_norm(x), mask, kv=kv)


class DenseActDense(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.wi = nn.Linear(a.d_model, a.d_ff, bias=False)
        self.wo = nn.Linear(a.d_ff, a.d_model, bias=False)
        self.act = activation(a.dense_act_fn, "feed_forward_proj")

    def forward(self, x):
        return self.wo(self.act(self.wi(x)))


class DenseGatedActDense(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.wi_0 = nn.Linear(a.d_model, a.d_ff, bias=False)
        self.wi_1 = nn.Linear(a.d_model, a.d_ff, bias=False)
        self.wo = nn.Linear(a.d_ff, a.d_model, bias=False)
        self.act = activation(a.dense_act_fn, "feed_forward_proj")

    def forward(self, x):
        return self.wo(self.act(self.wi_0(x)) * self.wi_1(x))


class LayerFF(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.DenseReluDense = DenseGatedActDense(a) if a.is_gated_act else DenseActDense(a)
        self.layer_norm = RMSNorm(a.d_model, a.layer_norm_epsilon)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class Block(nn.Module):
    def __init__(self, a: Args, has_bias: bool, decoder: bool):
        super().__init__()
        parts = [LayerSelfAttention(a, has_bias, not decoder)]
        if decoder:
            parts.append(LayerCrossAttention(a))
        parts.append(LayerFF(a))
        self.layer = nn.ModuleList(parts)

    def forward(self, x, bias, cross=None, cross_mask=None, cache=None, layer: int = 0):
        x = clamp_fp16(self.layer[0](x, bias, cache, layer))
        if cross is not None:
            x = clamp_fp16(self.layer[1](x, cross, cross_mask))
        return clamp_fp16(self.layer[-1](x))


class Stack(nn.Module):
    def __init__(self, a: Args, decoder: bool):
        super().__init__()
        n = a.num_decoder_layers if decoder else a.num_layers
        self.decoder = decoder
        self.embed_tokens = nn.Embedding(a.vocab_size, a.d_model)
        self.block = nn.ModuleList(Block(a, i == 0 or a.per_layer_bias, decoder) for i in range(n))
        self.final_layer_norm = RMSNorm(a.d_model, a.layer_norm_epsilon)

    def forward(self, input_ids, mask, cross=None, cross_mask=None, cache=None):
        """mask: additive (B, 1, 1|T, S) for the self-attention, on top of the position bias."""
        x = self.embed_tokens(input_ids)  # (B, T, H)
        T = x.shape[1]
        S = T + (cache.length if cache is not None else 0)
        bias = None
        for i, block in enumerate(self.block):
            attn = block.layer[0].SelfAttention
            if bias is None or hasattr(attn, "relative_attention_bias"):
                bias = add(_bias(attn, T, S, cache, i), mask)  # (1|B, nh, T, S); block 0's is shared
            x = block(x, bias, None if cross is None else cross[i], cross_mask, cache, i)
        if cache is not None:
            cache.advance(T)
        return self.final_layer_norm(x)  # (B, T, H)


def _bias(attn: Attention, T: int, S: int, cache, layer: int) -> torch.Tensor:
    """Position bias rows for the queries; while decoding, one table per request is built and sliced."""
    if cache is None:
        return attn.position_bias(T, S)
    key = ("t5-bias", layer)
    if key not in cache.extra:
        cache.extra[key] = attn.position_bias(cache.capacity, cache.capacity)  # (1, nh, C, C)
    return cache.extra[key][:, :, S - T:S, :S]


class T5Model(EncoderDecoder):
    """The encoder, and for tasks that read the decoder, the decoder."""

    def __init__(self, a: Args, with_decoder: bool):
        super().__init__()
        self.a = a
        self.encoder = Stack(a, decoder=False)
        if with_decoder:
            self.decoder = Stack(a, decoder=True)

    def cache_shape(self):
        return self.a.num_decoder_layers, self.a.num_heads, self.a.d_kv

    def cross_kv(self, enc):
        return [block.layer[1].EncDecAttention.kv(enc) for block in self.decoder.block]

    def decoder_inputs(self, input_ids):
        return shift_right(input_ids, self.a.decoder_start_token_id, self.a.pad_token_id)


# --- heads ---------------------------------------------------------------------------------------

def lm_logits(m, h):
    if m.scale:  # tied v1.0 checkpoints rescale before the (embedding-shaped) head
        h = h * (m.backbone.a.d_model ** -0.5)
    return m.lm_head(h)  # (..., V)


HEADS = {**seq2seq_heads(), "seq2seq-lm": Head(lambda a: {"lm_head": nn.Linear(a.d_model, a.vocab_size, bias=False)}, generated)}
DECODER_TASKS = ("seq2seq-lm", "sequence-classification", "question-answering")
EMBEDDINGS = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")


def build(a: Args, task: str) -> TaskModel:
    lm = lm_logits if task == "seq2seq-lm" else None
    m = TaskModel.of("seq2seq", PREFIX, T5Model(a, task in DECODER_TASKS), HEADS[task], a, lm)
    m.scale = a.scale_decoder_outputs
    return m


def sanitize(state: dict, a: Args) -> dict:
    state = fold_embeddings(state, PREFIX, "shared.weight", EMBEDDINGS)
    # a cross-attention bias old checkpoints saved, which transformers ignores too
    return {k: v for k, v in state.items() if not k.endswith("EncDecAttention.relative_attention_bias.weight")}


def max_length(a: Args) -> int | None:
    return None  # relative positions: any length runs (quality beyond training lengths is another matter)
