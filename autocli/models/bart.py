"""BART (model_type "bart"; mbart is a row): encoder-decoder with learned absolute positions.

What changes the math: positions are looked up at position + 2 (fairseq's padding offset) and count
every column, padding included; `layernorm_embedding` after the embeddings; tokens scaled by
sqrt(d_model) when `scale_embedding`; post-norm layers (mBART: pre-norm, plus a final `layer_norm`
on each stack); the LM head is tied to the embeddings and adds `final_logits_bias`.

Checkpoints keep the backbone under `model.` (or at the top level for BartModel). Heads as
transformers' BartFor*: the LM (seq2seq and fill-mask) and QA read the decoder run on the inputs
shifted right; sequence classification pools the decoder state at the last `</s>`; BartForCausalLM is
the decoder alone (no cross-attention). `base` is the encoder: per-token states of the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.models._args import check_heads, key
from autocli.models._decoder import activation
from autocli.models._seq2seq import (CachedAttention, EncoderDecoder, Seq2SeqArgs, clamp_fp16, fold_embeddings, generated,
                                     seq2seq_heads, shift_right)
from autocli.models._task import Head, TaskModel

PREFIX = "model"
POSITION_OFFSET = 2


@dataclass
class Args(Seq2SeqArgs):
    START = "eos_token_id"
    activation_function: str = "gelu"
    d_model: int = 1024
    decoder_attention_heads: int = 16
    decoder_ffn_dim: int = 4096
    decoder_layers: int = 12
    encoder_attention_heads: int = 16
    encoder_ffn_dim: int = 4096
    encoder_layers: int = 12
    eos_token_id: int | list = 2
    max_position_embeddings: int = 1024
    pad_token_id: int = 1
    scale_embedding: bool = False
    vocab_size: int = 50265
    # mbart's row: pre-norm layers, and full-forward decoder inputs that start with the row's last token (its language id)
    mbart_shift: bool = key("_pre_norm", default=False)
    pre_norm: bool = key("_pre_norm", default=False)

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        activation(self.activation_function, "activation_function")
        self.positive("encoder_attention_heads", "decoder_attention_heads")
        check_heads(self.d_model, self.encoder_attention_heads, "d_model {} is not a multiple of encoder_attention_heads {}")
        check_heads(self.d_model, self.decoder_attention_heads, "d_model {} is not a multiple of decoder_attention_heads {}")


class Attention(CachedAttention):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.n_heads = heads
        self.scale = (d // heads) ** -0.5
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)


class Layer(nn.Module):
    """Encoder layer (self-attention, MLP) or decoder layer (self-attention, cross-attention, MLP)."""

    def __init__(self, a: Args, decoder: bool):
        super().__init__()
        d = a.d_model
        heads = a.decoder_attention_heads if decoder else a.encoder_attention_heads
        self.pre_norm = a.pre_norm
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        if decoder:
            self.encoder_attn = Attention(d, heads)
            self.encoder_attn_layer_norm = nn.LayerNorm(d)
        ffn = a.decoder_ffn_dim if decoder else a.encoder_ffn_dim
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = activation(a.activation_function, "activation_function")

    def _sub(self, x, norm, fn):
        if self.pre_norm:
            return x + fn(norm(x))
        return norm(x + fn(x))

    def forward(self, x, mask, cross=None, cross_mask=None, cache=None, layer: int = 0):
        x = self._sub(x, self.self_attn_layer_norm, lambda h: self.self_attn(h, mask, cache=cache, layer=layer))
        if cross is not None:
            x = self._sub(x, self.encoder_attn_layer_norm, lambda h: self.encoder_attn(h, cross_mask, kv=cross))
        x = self._sub(x, self.final_layer_norm, lambda h: self.fc2(self.act(self.fc1(h))))
        return clamp_fp16(x)


class Stack(nn.Module):
    def __init__(self, a: Args, decoder: bool):
        super().__init__()
        d = a.d_model
        self.embed_scale = math.sqrt(d) if a.scale_embedding else 1.0
        self.max_positions = a.max_position_embeddings
        self.embed_tokens = nn.Embedding(a.vocab_size, d)
        self.embed_positions = nn.Embedding(a.max_position_embeddings + POSITION_OFFSET, d)
        n = a.decoder_layers if decoder else a.encoder_layers
        self.layers = nn.ModuleList(Layer(a, decoder) for _ in range(n))
        self.layernorm_embedding = nn.LayerNorm(d)
        if a.pre_norm:
            self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_ids, mask, cross=None, cross_mask=None, cache=None):
        T = input_ids.shape[1]
        start = cache.length if cache is not None else 0
        # rows that finished keep stepping past the last position; their outputs are discarded
        positions = torch.arange(start, start + T, device=input_ids.device).clamp(max=self.max_positions - 1)
        x = self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(positions + POSITION_OFFSET)  # (B, T, H)
        x = self.layernorm_embedding(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, None if cross is None else cross[i], cross_mask, cache, i)
        if cache is not None:
            cache.advance(T)
        return self.layer_norm(x) if hasattr(self, "layer_norm") else x  # (B, T, H)


class BartModel(EncoderDecoder):
    def __init__(self, a: Args, encoder: bool = True):
        super().__init__()
        self.a = a
        if encoder:
            self.encoder = Stack(a, decoder=False)
        self.decoder = Stack(a, decoder=True)

    def cache_shape(self):
        return self.a.decoder_layers, self.a.decoder_attention_heads, self.a.d_model // self.a.decoder_attention_heads

    def cross_kv(self, enc):
        return [layer.encoder_attn.kv(enc) for layer in self.decoder.layers]

    def decoder_inputs(self, input_ids):
        a = self.a
        return mbart_shift(input_ids, a.pad_token_id) if a.mbart_shift else shift_right(input_ids, a.decoder_start_token_id, a.pad_token_id)


def mbart_shift(input_ids: torch.Tensor, pad: int) -> torch.Tensor:
    """mBART's decoder inputs: each row's last real token (the language id) first, then the inputs shifted right."""
    out = input_ids.clone()
    last = (input_ids.ne(pad).sum(dim=1) - 1).unsqueeze(-1)
    out[:, 1:] = input_ids[:, :-1]
    out[:, 0] = input_ids.gather(1, last).squeeze(-1)
    return out


# --- heads ---------------------------------------------------------------------------------------

def lm_logits(m, h):
    return m.lm_head(h) + m.final_logits_bias[0]  # (..., V)


def _lm_heads(a: Args) -> dict:
    return {"lm_head": nn.Linear(a.d_model, a.vocab_size, bias=False), "final_logits_bias": torch.zeros(1, a.vocab_size)}


def _decoder_alone(m, h, x):
    return m.lm_head(m.backbone.decode(x.ids, None, None))  # (B, T, V): no encoder, no cross-attention


HEADS = {
    **seq2seq_heads(),
    "seq2seq-lm": Head(_lm_heads, generated),
    "masked-lm": Head(_lm_heads, generated),  # transformers' fill-mask runs BartForConditionalGeneration
    "causal-lm": Head(lambda a: {"lm_head": nn.Linear(a.d_model, a.vocab_size, bias=False)}, _decoder_alone),
}
EMBEDDINGS = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")


def build(a: Args, task: str) -> TaskModel:
    lm = lm_logits if task in ("seq2seq-lm", "masked-lm") else None
    return TaskModel.of("seq2seq", PREFIX, BartModel(a, encoder=task != "causal-lm"), HEADS[task], a, lm)


def sanitize(state: dict, a: Args) -> dict:
    state = fold_embeddings(state, PREFIX, "shared.weight", EMBEDDINGS)
    if "final_logits_bias" not in state:  # optional in transformers too (zeros)
        state["final_logits_bias"] = torch.zeros(1, a.vocab_size)
    return state
