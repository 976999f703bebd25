"""LLaMA (model_type "llama") and the variants that share its math as registry rows: Mistral
(sliding window on every layer), Qwen2 (q/k/v bias, per-layer sliding window), Qwen3 (RMSNorm
over each head of q and k).

Pre-norm RMSNorm decoder, rotary positions (every rope type in _rope), grouped-query attention,
SwiGLU MLP. A variant row's overrides are the transformers config class's defaults plus the
architecture facts its modeling file hard-codes (`_qkv_bias`, `_sliding`, `_qk_norm`, ...), which
config.json never carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._decoder import (DecoderTask, RMSNorm, activation, attend, drop_stale, fuse, linear, project, run_base,
                                     run_lm, run_per_token, run_pooled, tie_head)
from autocli.models._rope import Rotary, rope_parameters

PREFIX = "model"


@dataclass
class Args:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    hidden_act: str
    rms_norm_eps: float
    max_position_embeddings: int
    rope: dict
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    qk_norm: bool
    windows: list  # per layer: sliding window length, or None for full attention
    tie_word_embeddings: bool
    token_classification_bias: bool
    num_labels: int

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        hidden, heads = r.get("hidden_size", 4096), r.get("num_attention_heads", 32)
        kv = r.get("num_key_value_heads") or heads
        head_dim = r.get("head_dim") or hidden // heads
        if heads % kv:
            raise InvalidCheckpoint(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}", "the config is inconsistent")
        layers = r.get("num_hidden_layers", 32)
        rope = rope_parameters(r)
        if rope.get("partial_rotary_factor", 1.0) != 1.0:
            raise Unsupported(f"{cfg.model_type} with partial_rotary_factor {rope['partial_rotary_factor']} is not supported", "the rotary embedding covers the whole head in this family")
        act = r.get("hidden_act", "silu")
        activation(act)
        bias = bool(r.get("attention_bias", False))
        return cls(
            vocab_size=r.get("vocab_size", 32000),
            hidden_size=hidden,
            intermediate_size=r.get("intermediate_size", 11008),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=head_dim,
            hidden_act=act,
            rms_norm_eps=r.get("rms_norm_eps", 1e-6),
            max_position_embeddings=r.get("max_position_embeddings", 2048),
            rope=rope,
            qkv_bias=bool(r.get("_qkv_bias", bias)),
            o_bias=bool(r.get("_o_bias", bias)),
            mlp_bias=bool(r.get("_mlp_bias", r.get("mlp_bias", False))),
            qk_norm=bool(r.get("_qk_norm", False)),
            windows=_windows(r, layers),
            tie_word_embeddings=bool(r.get("tie_word_embeddings", False)),
            token_classification_bias=bool(r.get("token_classification_bias", True)),
            num_labels=cfg.num_labels,
        )


def _windows(r: dict, layers: int) -> list:
    """Sliding windows per layer, as each variant's transformers config derives them."""
    kind = r.get("_sliding")
    if kind is None:
        return [None] * layers
    window = r.get("sliding_window")
    if kind == "all":  # Mistral: every layer, when the config sets a window
        return [window] * layers
    # Qwen2/Qwen3: only with use_sliding_window, on the layers layer_types (or max_window_layers) marks
    if not r.get("use_sliding_window", False) or window is None:
        return [None] * layers
    types = r.get("layer_types")
    if types is None:
        first = r.get("max_window_layers", 28)
        types = ["sliding_attention" if i >= first else "full_attention" for i in range(layers)]
    if len(types) != layers:
        raise InvalidCheckpoint(f"layer_types has {len(types)} entries for {layers} layers", "fix layer_types in config.json")
    return [window if t == "sliding_attention" else None for t in types]


class Attention(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.layer, self.window = layer, a.windows[layer]
        self.n_head, self.n_kv, self.head_dim = a.num_attention_heads, a.num_key_value_heads, a.head_dim
        self.q_proj = linear(a.hidden_size, a.num_attention_heads * a.head_dim, a.qkv_bias)
        self.k_proj = linear(a.hidden_size, a.num_key_value_heads * a.head_dim, a.qkv_bias)
        self.v_proj = linear(a.hidden_size, a.num_key_value_heads * a.head_dim, a.qkv_bias)
        self.o_proj = linear(a.num_attention_heads * a.head_dim, a.hidden_size, a.o_bias)
        if a.qk_norm:
            self.q_norm = RMSNorm(a.head_dim, a.rms_norm_eps)
            self.k_norm = RMSNorm(a.head_dim, a.rms_norm_eps)
        self.qk_norm = a.qk_norm
        self.qkv = None  # (weight, bias, in_out) of q|k|v once fused for decoding

    def fuse_for_decoding(self):
        self.qkv = self.qkv or fuse(self.q_proj, self.k_proj, self.v_proj)

    def forward(self, x, step, rotary, cos, sin):
        B, T, _ = x.shape
        nh, nkv = self.n_head, self.n_kv
        if self.qkv is not None:
            out = project(x, *self.qkv).view(B, T, nh + 2 * nkv, self.head_dim)  # (B, T, nh+2nkv, hd)
            q, k, v = out[:, :, :nh], out[:, :, nh:nh + nkv], out[:, :, nh + nkv:]
        else:
            q = self.q_proj(x).view(B, T, nh, self.head_dim)
            k = self.k_proj(x).view(B, T, nkv, self.head_dim)
            v = self.v_proj(x).view(B, T, nkv, self.head_dim)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.qkv is not None and not self.qk_norm:  # q and k side by side: one rotation
            qk = rotary.apply(out[:, :, : nh + nkv].transpose(1, 2), cos, sin)  # (B, nh+nkv, T, hd)
            q, k = qk[:, :nh], qk[:, nh:]
        else:
            q = rotary.apply(q.transpose(1, 2), cos, sin)  # (B, nh, T, hd)
            k = rotary.apply(k.transpose(1, 2), cos, sin)  # (B, nkv, T, hd)
        k, v = step.kv(self.layer, k, v.transpose(1, 2))  # (B, nkv, S, hd)
        y = attend(q, k, v, step.mask(self.window))  # (B, nh, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.gate_proj = linear(a.hidden_size, a.intermediate_size, a.mlp_bias)
        self.up_proj = linear(a.hidden_size, a.intermediate_size, a.mlp_bias)
        self.down_proj = linear(a.intermediate_size, a.hidden_size, a.mlp_bias)
        self.act = activation(a.hidden_act)
        self.gate_up = None  # (weight, bias, in_out) of gate|up once fused for decoding

    def fuse_for_decoding(self):
        self.gate_up = self.gate_up or fuse(self.gate_proj, self.up_proj)

    def forward(self, x):
        if self.gate_up is not None:
            gate, up = project(x, *self.gate_up).chunk(2, dim=-1)  # (B, T, I) each
        else:
            gate, up = self.gate_proj(x), self.up_proj(x)
        return self.down_proj(self.act(gate) * up)


class Block(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.input_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.self_attn = Attention(a, layer)
        self.post_attention_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.mlp = MLP(a)

    def forward(self, x, step, rotary, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), step, rotary, cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)
        self.layers = nn.ModuleList(Block(a, i) for i in range(a.num_hidden_layers))
        self.norm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.rotary = Rotary(a.rope, a.head_dim, a.max_position_embeddings)

    def cache_shape(self):
        return self.a.num_hidden_layers, self.a.num_key_value_heads, self.a.head_dim

    def forward(self, input_ids, step):
        x = self.embed_tokens(input_ids)  # (B, T, H)
        cos, sin = self.rotary.cos_sin(step.positions, x.dtype)  # (B, 1, T, hd)
        for block in self.layers:
            x = block(x, step, self.rotary, cos, sin)
        return self.norm(x)  # (B, T, H)


# task -> (head modules, output)
HEADS = {
    "base": (lambda a: {}, run_base),
    "causal-lm": (lambda a: {"lm_head": linear(a.hidden_size, a.vocab_size, bias=False)}, run_lm),
    "sequence-classification": (lambda a: {"score": linear(a.hidden_size, a.num_labels, bias=False)}, run_pooled("score")),
    "token-classification": (lambda a: {"score": linear(a.hidden_size, a.num_labels, a.token_classification_bias)}, run_per_token("score")),
    "question-answering": (lambda a: {"qa_outputs": linear(a.hidden_size, 2)}, run_per_token("qa_outputs")),
}

TIES = {"lm_head.weight": "model.embed_tokens.weight"}


def build(a: Args, task: str) -> DecoderTask:
    heads, run = HEADS[task]
    return DecoderTask(PREFIX, LlamaModel(a), heads(a), run)


def sanitize(state: dict, a: Args) -> dict:
    # *ForQuestionAnswering of llama, qwen2 and qwen3 keep the backbone under `transformer.` (a
    # transformers back-compat quirk); the weights are the same.
    state = {("model." + k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in drop_stale(state).items()}
    return tie_head(state, "lm_head.weight", "model.embed_tokens.weight", a.tie_word_embeddings)


def uses_token_type_ids(a: Args) -> bool:
    return False


def max_length(a: Args) -> int | None:
    return None  # rotary positions extrapolate; transformers does not refuse longer inputs either
