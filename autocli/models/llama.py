"""LLaMA (model_type "llama") and the variants that share its math as registry rows: Mistral
(sliding window on every layer), Qwen2 (q/k/v bias, per-layer sliding window), Qwen3 (RMSNorm
over each head of q and k), Gemma (RMSNorm weights offset from 1, embeddings scaled by sqrt(hidden),
GeGLU), Gemma 2 (Gemma plus norms after attention and MLP, soft-capped attention scores and logits,
alternating sliding windows) and Phi-3 (fused qkv/gate-up weights, partial rotary, LongRoPE).

Pre-norm RMSNorm decoder, rotary positions (every rope type in _rope), grouped-query attention,
gated MLP. A variant row's overrides are the transformers config class's defaults plus the
architecture facts its modeling file hard-codes (`_qkv_bias`, `_sliding`, `_qk_norm`, ...), which
config.json never carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._attention import attend, merge_heads
from autocli.models._decoder import CappedLinear, RMSNorm, RMSNormPlusOne, activation, fuse, linear, project
from autocli.models._rope import Rotary, rope_parameters
from autocli.models._task import Head, TaskModel, decoder_heads, per_token

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
    norm_plus_one: bool  # Gemma: RMSNorm weights stored as an offset from 1
    embed_scale: bool  # Gemma: embeddings times sqrt(hidden_size), rounded to the model's dtype
    sandwich_norms: bool  # Gemma 2: norms after attention and MLP as well as before
    query_scale: float | None  # Gemma 2: query_pre_attn_scalar ** -0.5 instead of head_dim ** -0.5
    attn_softcap: float | None  # Gemma 2: attention scores soft-capped
    final_softcap: float | None  # Gemma 2: LM logits soft-capped
    rope_replay: bool  # Phi-3: generation reruns the sequence when LongRoPE switches to its long factors
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
        rope = rope_parameters(r, aliases=r.get("_rope_aliases"))
        if rope.get("partial_rotary_factor", 1.0) != 1.0 and not r.get("_partial_rotary"):
            raise Unsupported(f"{cfg.model_type} with partial_rotary_factor {rope['partial_rotary_factor']} is not supported", "the rotary embedding covers the whole head in this family")
        if r.get("use_bidirectional_attention"):
            raise Unsupported(f"{cfg.model_type} with use_bidirectional_attention is not supported", "autocli runs these models causally")
        act_key = r.get("_act_key", "hidden_act")
        act = r.get(act_key, "silu")
        act = r.get("_act_aliases", {}).get(act, act) if isinstance(act, str) else act
        activation(act, act_key)
        bias = bool(r.get("attention_bias", False))
        qpas = _positive(r, "query_pre_attn_scalar")
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
            norm_plus_one=bool(r.get("_norm_plus_one", False)),
            embed_scale=bool(r.get("_embed_scale", False)),
            sandwich_norms=bool(r.get("_sandwich_norms", False)),
            query_scale=float(qpas) ** -0.5 if qpas is not None else None,
            attn_softcap=_positive(r, "attn_logit_softcapping"),
            final_softcap=_positive(r, "final_logit_softcapping"),
            rope_replay=bool(r.get("_rope_replay", False)),
            tie_word_embeddings=bool(r.get("tie_word_embeddings", False)),
            token_classification_bias=bool(r.get("token_classification_bias", True)),
            num_labels=cfg.num_labels,
        )


def _positive(r: dict, key: str) -> float | None:
    value = r.get(key)
    if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", "it must be a positive number (or null)")
    return value


def _windows(r: dict, layers: int) -> list:
    """Sliding windows per layer, as each variant's transformers config derives them."""
    kind = r.get("_sliding")
    if kind is None:
        return [None] * layers
    window = r.get("sliding_window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise InvalidCheckpoint(f"config.json: sliding_window is {window!r}", "it must be a positive whole number (or null)")
    if kind == "all":  # Mistral, Phi-3: every layer, when the config sets a window
        return [window] * layers
    # Qwen2/Qwen3: only with use_sliding_window, on the layers layer_types (or max_window_layers) marks;
    # Gemma 2: on the layers layer_types marks, else every other layer from the first
    if window is None or (kind == "layer_types" and not r.get("use_sliding_window", False)):
        return [None] * layers
    types = r.get("layer_types")
    if types is None and kind == "alternate":
        types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
    elif types is None:
        first = r.get("max_window_layers", 28)
        types = ["sliding_attention" if i >= first else "full_attention" for i in range(layers)]
    if len(types) != layers:
        raise InvalidCheckpoint(f"layer_types has {len(types)} entries for {layers} layers", "fix layer_types in config.json")
    return [window if t == "sliding_attention" else None for t in types]


def norm(a: Args, dim: int | None = None) -> nn.Module:
    return (RMSNormPlusOne if a.norm_plus_one else RMSNorm)(dim or a.hidden_size, a.rms_norm_eps)


class Attention(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.layer, self.window = layer, a.windows[layer]
        self.scale, self.softcap = a.query_scale, a.attn_softcap
        self.n_head, self.n_kv, self.head_dim = a.num_attention_heads, a.num_key_value_heads, a.head_dim
        self.q_proj = linear(a.hidden_size, a.num_attention_heads * a.head_dim, a.qkv_bias)
        self.k_proj = linear(a.hidden_size, a.num_key_value_heads * a.head_dim, a.qkv_bias)
        self.v_proj = linear(a.hidden_size, a.num_key_value_heads * a.head_dim, a.qkv_bias)
        self.o_proj = linear(a.num_attention_heads * a.head_dim, a.hidden_size, a.o_bias)
        if a.qk_norm:
            self.q_norm = norm(a, a.head_dim)
            self.k_norm = norm(a, a.head_dim)
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
        y = attend(q, k, v, step.mask(self.window), self.scale, self.softcap)  # (B, nh, T, hd)
        return self.o_proj(merge_heads(y))


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
        self.input_layernorm = norm(a)
        self.self_attn = Attention(a, layer)
        self.post_attention_layernorm = norm(a)
        self.mlp = MLP(a)
        self.sandwich = a.sandwich_norms
        if self.sandwich:  # Gemma 2: post_attention_layernorm closes the attention; these open and close the MLP
            self.pre_feedforward_layernorm = norm(a)
            self.post_feedforward_layernorm = norm(a)

    def forward(self, x, step, rotary, cos, sin):
        h = self.self_attn(self.input_layernorm(x), step, rotary, cos, sin)  # (B, T, H)
        if not self.sandwich:
            x = x + h
            return x + self.mlp(self.post_attention_layernorm(x))
        x = x + self.post_attention_layernorm(h)
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class LlamaModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)
        self.layers = nn.ModuleList(Block(a, i) for i in range(a.num_hidden_layers))
        self.norm = norm(a)
        self.rotary = Rotary(a.rope, a.head_dim, a.max_position_embeddings)
        self.replays = a.rope_replay and self.rotary.switch_point is not None

    def cache_shape(self):
        return self.a.num_hidden_layers, self.a.num_key_value_heads, self.a.head_dim

    def forward(self, input_ids, step):
        if self.replays and step.cache is not None:
            # Phi-3's generate reruns the whole sequence once LongRoPE first switches to its long factors
            # (the cached keys were rotated with the short ones); the step that crosses does the same here
            step.remember(input_ids)
            if 0 < step.start <= self.rotary.switch_point < step.start + step.length:
                T = input_ids.shape[1]
                return self.run(*step.replay(input_ids))[:, -T:]  # (B, T, H)
        return self.run(input_ids, step)

    def run(self, input_ids, step):
        x = self.embed_tokens(input_ids)  # (B, T, H)
        if self.a.embed_scale:  # sqrt(hidden) rounded to the model's dtype first, as transformers does
            x = x * torch.tensor(self.a.hidden_size ** 0.5, device=x.device).to(x.dtype)
        cos, sin = self.rotary.cos_sin(step.positions, x.dtype)  # (B, 1, T, hd)
        for block in self.layers:
            x = block(x, step, self.rotary, cos, sin)
        return self.norm(x)  # (B, T, H)


def _lm_head(a: Args) -> nn.Module:
    if a.final_softcap is not None:
        return CappedLinear(a.hidden_size, a.vocab_size, a.final_softcap)
    return linear(a.hidden_size, a.vocab_size, bias=False)


HEADS = {**decoder_heads("hidden_size", token="score", token_bias=lambda a: a.token_classification_bias),
         "causal-lm": Head(lambda a: {"lm_head": _lm_head(a)}, per_token("lm_head"))}


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("decoder", PREFIX, LlamaModel(a), HEADS[task], a)


def sanitize(state: dict, a: Args) -> dict:
    # *ForQuestionAnswering of llama, qwen2 and qwen3 keep the backbone under `transformer.` (a
    # transformers back-compat quirk); the weights are the same.
    state = {("model." + k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in state.items()}
    return _split_fused(state, a)


def _split_fused(state: dict, a: Args) -> dict:
    """Phi-3 stores q|k|v as one `qkv_proj` and gate|up as one `gate_up_proj`: split them (views, no copies) into
    the names above; decoding fuses them again. A tensor of another size stays, and the load report names it."""
    q, kv = a.num_attention_heads * a.head_dim, a.num_key_value_heads * a.head_dim
    fused = {"qkv_proj": (("q_proj", "k_proj", "v_proj"), [q, kv, kv]),
             "gate_up_proj": (("gate_proj", "up_proj"), [a.intermediate_size] * 2)}
    out = {}
    for key, value in state.items():
        base, _, param = key.rpartition(".")
        parent, _, name = base.rpartition(".")
        if name in fused and value.shape[0] == sum(fused[name][1]):
            names, sizes = fused[name]
            out.update({f"{parent}.{n}.{param}": part for n, part in zip(names, value.split(sizes))})
        else:
            out[key] = value
    return out


def max_length(a: Args) -> int | None:
    return None  # rotary positions extrapolate; transformers does not refuse longer inputs either
