"""What the encoder-decoder families (t5, bart) share: masks, attention with an additive bias, the
generation cache (self-attention K/V preallocated, cross-attention K/V computed once per request), and
the task model that runs a backbone for one head.

A backbone provides:
  encode(input_ids (B, S), attention_mask (B, S)) -> (B, S, H)
  cross_kv(enc (B, S, H)) -> [(k, v) (B, nh, S, hd)] per decoder layer
  decode(input_ids (N, T), cross, cross_mask (N, 1, 1, S) | None, cache | None) -> (N, T, H)
  cache_shape() -> (decoder layers, heads, head_dim)
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


# --- masks ---------------------------------------------------------------------------------------

def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, S) 1/0 -> (B, 1, 1, S) additive (0 or finfo.min, as transformers' eager path); None if nothing is padded."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    keep = attention_mask[:, None, None, :].to(torch.bool)
    return torch.zeros((), dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


def causal_mask(T: int, S: int, dtype: torch.dtype, device) -> torch.Tensor | None:
    """(1, 1, T, S) additive mask for T queries that are the last T of S positions; None for one query."""
    if T == 1:
        return None
    q = torch.arange(S - T, S, device=device)[:, None]
    k = torch.arange(S, device=device)[None, :]
    return torch.zeros((), dtype=dtype, device=device).masked_fill(k > q, torch.finfo(dtype).min)[None, None]


def add(*masks):
    """Sum of the additive masks/biases that are not None (broadcasting), or None."""
    out = None
    for m in masks:
        if m is not None:
            out = m if out is None else out + m
    return out


# --- attention -----------------------------------------------------------------------------------

def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    B, T, _ = x.shape
    return x.view(B, T, heads, -1).transpose(1, 2)  # (B, nh, T, hd)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, nh, T, hd = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hd)  # (B, T, nh*hd)


def attend(q, k, v, bias, scale: float) -> torch.Tensor:
    """q (N, nh, T, hd), k/v (N, nh, S, hd), bias additive (broadcast to (N, nh, T, S)) or None."""
    if q.shape[2] == 1 and q.device.type == "cpu":
        # one query per row (decoding): two small matmuls cost less than SDPA's per-call setup
        scores = torch.matmul(q if scale == 1.0 else q * scale, k.transpose(-1, -2))  # (N, nh, 1, S)
        if bias is not None:
            scores = scores + bias
        return torch.matmul(scores.softmax(-1), v)  # (N, nh, 1, hd)
    if bias is not None:
        bias = bias.to(q.dtype)  # broadcast by SDPA
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)  # (N, nh, T, hd)


# --- decoder inputs and pooling --------------------------------------------------------------------

def shift_right(input_ids: torch.Tensor, start: int, pad: int) -> torch.Tensor:
    """Decoder inputs for a full forward: the start token, then the inputs shifted one place (transformers' default)."""
    out = input_ids.new_full(input_ids.shape, start)
    out[:, 1:] = input_ids[:, :-1]
    return out.masked_fill(out == -100, pad)


def eos_pool(h: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, eos: int) -> torch.Tensor:
    """h (B, T, H) at each row's last EOS in input_ids (BART/T5 sequence classification); a row without one
    (truncated) is read at its last real token instead, where transformers would refuse the whole batch."""
    T = input_ids.shape[1]
    at = torch.arange(T, device=h.device)
    eos_pos = ((input_ids == eos).long() * at).argmax(-1)  # (B,)
    has_eos = (input_ids == eos).any(-1)
    last_real = (attention_mask.to(h.device).long() * at).argmax(-1)
    idx = torch.where(has_eos, eos_pos, last_real)
    return h[torch.arange(h.shape[0], device=h.device), idx]  # (B, H)


# --- the generation cache ------------------------------------------------------------------------

class Seq2SeqCache:
    """Self-attention K/V preallocated for `capacity` decoder tokens, cross-attention K/V of the encoder
    output computed once (beams share their input's rows), and the encoder padding mask."""

    def __init__(self, layers: int, rows: int, heads: int, head_dim: int, capacity: int, dtype, device,
                 cross: list, cross_mask: torch.Tensor | None):
        shape = (rows, heads, capacity, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.capacity = capacity
        self.length = 0  # decoder tokens written
        self.cross = cross  # per layer (k, v) (N, nh, S, hd)
        self.cross_mask = cross_mask  # (N, 1, 1, S) additive or None
        self.extra: dict = {}  # per-family tables (T5's position bias rows)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k/v (N, nh, T, hd) after what is there; return every slot so far (views)."""
        T, start = k.shape[2], self.length
        if start + T > self.capacity:
            raise RuntimeError(f"decoder cache holds {self.capacity} tokens, {start + T} asked for")
        self.k[layer][:, :, start:start + T] = k
        self.v[layer][:, :, start:start + T] = v
        return self.k[layer][:, :, : start + T], self.v[layer][:, :, : start + T]

    def advance(self, T: int) -> None:
        self.length += T

    def reorder(self, rows: torch.Tensor) -> None:
        """Beam search kept rows `rows` (N,): only the written slots move; the cross K/V of a beam's input is the same."""
        L = self.length
        for t in self.k + self.v:
            t[:, :, :L] = t[:, :, :L].index_select(0, rows)


# --- the task model ------------------------------------------------------------------------------

class Seq2SeqTask(nn.Module):
    """A backbone under its checkpoint prefix (`self.transformer`, `self.model`) and one task's head modules
    (and buffers, BART's `final_logits_bias`) at the top level, where transformers keeps them.

    run(model, input_ids, attention_mask) -> the task output; lm(model, h (N, H)) -> logits (N, V) for generation.
    """

    def __init__(self, prefix: str, backbone: nn.Module, heads: dict, run: Callable, lm: Callable | None = None):
        super().__init__()
        self.prefix = prefix
        setattr(self, prefix, backbone)
        for name, value in heads.items():
            if isinstance(value, torch.Tensor):
                self.register_buffer(name, value)
            else:
                setattr(self, name, value)
        self.run = run
        self.lm = lm

    @property
    def backbone(self) -> nn.Module:
        return getattr(self, self.prefix)

    @property
    def is_seq2seq(self) -> bool:
        """Generates with encoder + decoder (an LM head over the decoder); BART's decoder-only causal LM does not."""
        return self.lm is not None

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.run(self, input_ids, attention_mask)

    def full_decode(self, input_ids, attention_mask, decoder_input_ids) -> torch.Tensor:
        """Encoder once, then the decoder over all of decoder_input_ids at once -> (B, T, H)."""
        enc = self.backbone.encode(input_ids, attention_mask)  # (B, S, H)
        cross = self.backbone.cross_kv(enc)
        return self.backbone.decode(decoder_input_ids, cross, additive_mask(attention_mask, enc.dtype), None)

    # --- generation: encoder once, a cache per request, one decoder token per step ---

    def encode(self, input_ids, attention_mask) -> torch.Tensor:
        return self.backbone.encode(input_ids, attention_mask)  # (B, S, H)

    def new_cache(self, enc: torch.Tensor, attention_mask: torch.Tensor, expand: int, capacity: int) -> Seq2SeqCache:
        """Cross K/V from the encoder output (B rows), each row repeated `expand` times (beams) -> cache of B*expand rows."""
        cross = self.backbone.cross_kv(enc)
        mask = additive_mask(attention_mask, enc.dtype)
        if expand > 1:
            cross = [(k.repeat_interleave(expand, 0), v.repeat_interleave(expand, 0)) for k, v in cross]
            mask = None if mask is None else mask.repeat_interleave(expand, 0)
        layers, heads, head_dim = self.backbone.cache_shape()
        return Seq2SeqCache(layers, enc.shape[0] * expand, heads, head_dim, capacity, enc.dtype, enc.device, cross, mask)

    def step(self, tokens: torch.Tensor, cache: Seq2SeqCache) -> torch.Tensor:
        """tokens (N,) -> next-token logits (N, V)."""
        h = self.backbone.decode(tokens.view(-1, 1), cache.cross, cache.cross_mask, cache)  # (N, 1, H)
        return self.lm(self, h[:, -1])


# --- loading -------------------------------------------------------------------------------------

def fold_embeddings(state: dict, prefix: str, shared: str, copies: tuple[str, ...]) -> dict:
    """Checkpoints store the token embedding once as `shared.weight` (newer) or also as each stack's
    `embed_tokens.weight` (older): every stack gets that one tensor, under its own name."""
    for pre in ("", prefix + "."):
        source = state.get(pre + shared)
        if source is None:
            source = next((state[pre + c] for c in copies if pre + c in state), None)
        if source is None:
            continue
        state.pop(pre + shared, None)
        for c in copies:
            state.setdefault(pre + c, source)
    return state
