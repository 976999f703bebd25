"""The task model: a backbone and one task's head, for encoders, decoders and encoder-decoders alike.

The backbone sits under its checkpoint prefix (`self.bert`, `self.model`) and the head modules at the top
level, exactly where transformers' `XForY` classes keep them, so checkpoint names load without a mapping.
A family's heads table maps each task to a Head: the modules to build from Args, and
run(model, hidden, inputs) -> the task output, where hidden is what the backbone gives for the inputs:
  encoder   backbone(input_ids, attention_mask, token_type_ids) -> (B, T, H)
  decoder   backbone(input_ids, Step) -> (B, T, H), the Step (autocli.models._cache) carrying positions and masks
  seq2seq   backbone.encode(input_ids, attention_mask) -> (B, S, H), or None for a decoder built alone
  vision    backbone(pixel_values (B, C, H, W)) -> (B, T, H)
  audio     backbone(input_values (B, S), attention_mask (B, S) or None) -> (B, T, H) over T feature frames
Generation calls new_cache/prefill/decode (decoders) or encode/new_cache/step (encoder-decoders).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from autocli import kernels
from autocli.models._attention import padding_mask
from autocli.models._cache import KVCache, Seq2SeqCache, Step
from autocli.models._decoder import lay_out_for_decoding, linear, relayout_loaded


@dataclass
class Inputs:
    ids: torch.Tensor  # (B, T) token ids; vision: pixel values (B, C, H, W); audio: input values (B, S)
    mask: torch.Tensor | None  # (B, T) 1 for real tokens (or samples); None where every position is real
    types: torch.Tensor | None = None  # (B, T) token type ids


class Head(NamedTuple):
    modules: Callable  # Args -> {attribute name: module, or tensor (a buffer such as BART's final_logits_bias)}
    run: Callable  # (model, hidden, Inputs) -> task output


class TaskModel(nn.Module):
    kernels = "auto"  # the matrix-vector kernels generation runs (autocli.kernels.CHOICES)

    def __init__(self, kind: str, prefix: str, backbone: nn.Module, heads: dict, run: Callable, lm: Callable | None = None):
        super().__init__()
        self.kind, self.prefix = kind, prefix
        setattr(self, prefix, backbone)
        for name, value in heads.items():
            if isinstance(value, torch.Tensor):
                self.register_buffer(name, value)
            else:
                setattr(self, name, value)
        self.run = run
        self.lm = lm  # (model, hidden (N, H)) -> next-token logits (N, V), for tasks that generate
        self.register_load_state_dict_post_hook(lambda module, incompatible: relayout_loaded(module))

    @classmethod
    def of(cls, kind: str, prefix: str, backbone: nn.Module, head: Head, args, lm: Callable | None = None) -> "TaskModel":
        return cls(kind, prefix, backbone, head.modules(args), head.run, lm)

    @property
    def backbone(self) -> nn.Module:
        return getattr(self, self.prefix)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        x = Inputs(input_ids, attention_mask, token_type_ids)
        return self.run(self, self.hidden(x), x)

    def hidden(self, x: Inputs, outputs_from: int = 0):
        """The backbone's hidden states; a decoder's from position `outputs_from` on (B, T - outputs_from, H)."""
        if self.kind == "vision":
            return self.backbone(x.ids)  # (B, T, H)
        if self.kind == "audio":
            return self.backbone(x.ids, x.mask)  # (B, T, H)
        if self.kind == "decoder":
            h = self.backbone(x.ids, Step.uncached(x.mask, outputs_from))  # (B, T or T - outputs_from, H)
            return h[:, h.shape[1] - (x.ids.shape[1] - outputs_from):]  # (B, T - outputs_from, H)
        if self.kind == "seq2seq":
            return self.backbone.encode(x.ids, x.mask) if hasattr(self.backbone, "encoder") else None  # (B, S, H)
        return self.backbone(x.ids, x.mask, x.types)  # (B, T, H)

    # --- generation ---

    @property
    def is_seq2seq(self) -> bool:
        """Generates with encoder + decoder; BART's decoder-only causal LM does not."""
        return self.kind == "seq2seq" and self.lm is not None

    def new_cache(self, *args):
        """Decoder: new_cache(batch, capacity) -> KVCache.
        Encoder-decoder: new_cache(enc (B, S, H), attention_mask, expand, capacity) -> Seq2SeqCache of B*expand rows."""
        return self._seq2seq_cache(*args) if self.kind == "seq2seq" else self._kv_cache(*args)

    def _kv_cache(self, batch: int, capacity: int) -> KVCache:
        layers, kv_heads, head_dim = self.backbone.cache_shape()
        p = next(self.parameters())
        self.lay_out(p)
        return KVCache(layers, batch, kv_heads, head_dim, capacity, p.dtype, p.device)

    def lay_out(self, p) -> None:
        """Each projection in the layout of the kernel autocli.kernels picks for `self.kernels` (auto, eager,
        onednn) and p's dtype and device. Done when generation or a strided loss first needs it."""
        lay_out_for_decoding(self, kernels.pick(self.kernels, p.dtype, p.device))

    def prefill(self, input_ids, attention_mask, cache: KVCache) -> torch.Tensor:
        """Run the (left-padded) prompt into the cache; logits (B, V) for the token after it."""
        h = self.backbone(input_ids, cache.step(attention_mask))  # (B, T, H)
        return self.logits(h[:, -1])  # (B, V)

    def decode(self, tokens, cache: KVCache) -> torch.Tensor:
        """One new token per row (B,) -> logits (B, V) for the next one."""
        ids = tokens.view(-1, 1)  # (B, 1)
        h = self.backbone(ids, cache.step(None))  # (B, 1, H)
        return self.logits(h[:, -1])  # (B, V)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm(self, h) if self.lm is not None else self.lm_head(h)

    def encode(self, input_ids, attention_mask) -> torch.Tensor:
        return self.backbone.encode(input_ids, attention_mask)  # (B, S, H)

    def _seq2seq_cache(self, enc, attention_mask, expand: int, capacity: int) -> Seq2SeqCache:
        cross = self.backbone.cross_kv(enc)
        mask = padding_mask(attention_mask, enc.dtype)
        if expand > 1:
            cross = [(k.repeat_interleave(expand, 0), v.repeat_interleave(expand, 0)) for k, v in cross]
            mask = None if mask is None else mask.repeat_interleave(expand, 0)
        layers, heads, head_dim = self.backbone.cache_shape()
        return Seq2SeqCache(layers, enc.shape[0] * expand, heads, head_dim, capacity, enc.dtype, enc.device, cross, mask)

    def step(self, tokens: torch.Tensor, cache: Seq2SeqCache) -> torch.Tensor:
        """tokens (N,) -> next-token logits (N, V)."""
        h = self.backbone.decode(tokens.view(-1, 1), cache.cross, cache.cross_mask, cache)  # (N, 1, H)
        return self.logits(h[:, -1])

    def decoded(self, enc: torch.Tensor, x: Inputs) -> torch.Tensor:
        """The decoder over the family's default decoder inputs (the inputs shifted right) -> (B, T, H)."""
        dec = self.backbone.decoder_inputs(x.ids)
        return self.backbone.decode(dec, self.backbone.cross_kv(enc), padding_mask(x.mask, enc.dtype), None)

    def full_decode(self, input_ids, attention_mask, decoder_input_ids) -> torch.Tensor:
        """Encoder once, then the decoder over all of decoder_input_ids at once -> (B, T, H)."""
        enc = self.encode(input_ids, attention_mask)  # (B, S, H)
        return self.backbone.decode(decoder_input_ids, self.backbone.cross_kv(enc), padding_mask(attention_mask, enc.dtype), None)


# --- what a head reads off the hidden states -----------------------------------------------------

def hidden_states(m, h, x):
    return h  # (B, T, H)


def per_token(name: str) -> Callable:
    """The head module `name` on every position -> (B, T, L)."""
    def run(m, h, x):
        return getattr(m, name)(h)
    return run


def first_token(name: str) -> Callable:
    """The head module `name` on the first token (<s>, [CLS]) -> (B, L)."""
    def run(m, h, x):
        return getattr(m, name)(h[:, 0])
    return run


def last_real_token(name: str) -> Callable:
    """The head module `name` at each row's last real token (decoder classifiers) -> (B, L)."""
    def run(m, h, x):
        return getattr(m, name)(last_real(h, x.mask))
    return run


def last_real(h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """h (B, T, ...) at each row's last real token, whichever side the padding is on."""
    T = attention_mask.shape[1]
    idx = (torch.arange(T, device=h.device) * attention_mask.to(h.device).long()).argmax(-1)  # (B,)
    return h[torch.arange(h.shape[0], device=h.device), idx]


def linear_head(name: str, width: str, n_out: Callable, run: Callable = per_token, linear=nn.Linear, bias=True) -> Head:
    """One linear layer `name` from Args.<width> to n_out(Args) outputs, read by run(name)."""
    return Head(lambda a: {name: linear(getattr(a, width), n_out(a), bias=bias(a) if callable(bias) else bias)}, run(name))


def labels(a) -> int:
    return a.num_labels


def two(a) -> int:
    return 2  # QA: start and end logits


def one(a) -> int:
    return 1  # multiple choice: one score per choice


def vocab(a) -> int:
    return a.vocab_size


def decoder_heads(width: str, lm_bias: bool = False, token: str = "classifier", token_bias=True) -> dict:
    """The heads transformers' decoder families share (GPT-2, GPT-J, GPT-NeoX, LLaMA...): the LM head, `score`
    (no bias) at the last real token, a per-token classifier and QA; `width` names Args' hidden size."""
    return {
        "base": Head(lambda a: {}, hidden_states),
        "causal-lm": linear_head("lm_head", width, vocab, per_token, linear, bias=lm_bias),
        "sequence-classification": linear_head("score", width, labels, last_real_token, linear, bias=False),
        "token-classification": linear_head(token, width, labels, per_token, linear, bias=token_bias),
        "question-answering": linear_head("qa_outputs", width, two, per_token, linear),
    }
