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
from autocli.models._args import ConfigArgs, derived, key
from autocli.models._attention import attend, merge_heads
from autocli.models._decoder import Backbone, CappedLinear, RMSNorm, RMSNormPlusOne, activation, fuse, linear, project
from autocli.models._rope import Rotary, rope_parameters
from autocli.models._task import Head, TaskModel, decoder_heads, per_token

PREFIX = "model"


@dataclass
class Args(ConfigArgs):
    attention_bias: bool = False
    attn_logit_softcapping: float | None = None  # Gemma 2
    final_logit_softcapping: float | None = None  # Gemma 2
    head_dim: int | None = None  # None: hidden_size / num_attention_heads
    hidden_act: str = "silu"
    hidden_activation: str | None = None  # Gemma 2 reads its activation here (`_act_key`)
    hidden_size: int = 4096
    intermediate_size: int = 11008
    layer_types: list | None = None
    max_position_embeddings: int = 2048
    max_window_layers: int = 28
    num_attention_heads: int = 32
    num_hidden_layers: int = 32
    num_key_value_heads: int | None = None  # None: num_attention_heads
    query_pre_attn_scalar: float | None = None  # Gemma 2: queries scaled by its ** -0.5, not head_dim's
    rms_norm_eps: float = 1e-6
    sliding_window: int | None = None
    tie_word_embeddings: bool = False
    token_classification_bias: bool = True
    use_bidirectional_attention: bool = False
    use_sliding_window: bool = False
    vocab_size: int = 32000
    # what a variant's modeling file hard-codes, from its registry row's private keys
    act_aliases: dict | None = key("_act_aliases")
    act_key: str = key("_act_key", default="hidden_act")
    embed_scale: bool = key("_embed_scale", default=False)  # Gemma: embeddings times sqrt(hidden_size) in the model's dtype
    mlp_bias: bool = key("_mlp_bias", "mlp_bias", default=False)
    norm_plus_one: bool = key("_norm_plus_one", default=False)  # Gemma: RMSNorm weights stored as an offset from 1
    o_bias: bool = key("_o_bias", "attention_bias", default=False)
    partial_rotary: bool = key("_partial_rotary", default=False)
    qk_norm: bool = key("_qk_norm", default=False)  # Qwen3: RMSNorm over each head of q and k
    qkv_bias: bool = key("_qkv_bias", "attention_bias", default=False)
    rope_aliases: dict | None = key("_rope_aliases")
    rope_replay: bool = key("_rope_replay", default=False)  # Phi-3: generation reruns the sequence when LongRoPE switches
    sandwich_norms: bool = key("_sandwich_norms", default=False)  # Gemma 2: norms after attention and MLP as well
    sliding: str | None = key("_sliding")  # which layers slide: "all", "layer_types", "alternate"
    rope: dict = derived()
    windows: list = derived()  # per layer: sliding window length, or None for full attention
    query_scale: float | None = derived()

    def check(self, cfg: Config) -> None:
        self.num_key_value_heads = self.num_key_value_heads or self.num_attention_heads
        self.head_dim = self.head_dim or self.hidden_size // self.num_attention_heads
        heads, kv = self.num_attention_heads, self.num_key_value_heads
        if heads % kv:
            raise InvalidCheckpoint(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}", "the config is inconsistent")
        self.rope = rope_parameters(cfg.raw, aliases=self.rope_aliases)
        if self.rope.get("partial_rotary_factor", 1.0) != 1.0 and not self.partial_rotary:
            raise Unsupported(f"{cfg.model_type} with partial_rotary_factor {self.rope['partial_rotary_factor']} is not supported", "the rotary embedding covers the whole head in this family")
        if self.use_bidirectional_attention:
            raise Unsupported(f"{cfg.model_type} with use_bidirectional_attention is not supported", "autocli runs these models causally")
        act = self.hidden_activation if self.act_key == "hidden_activation" else self.hidden_act
        self.hidden_act = (self.act_aliases or {}).get(act, act) if isinstance(act, str) else act
        activation(self.hidden_act, self.act_key)
        self.positive("query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping", "sliding_window")
        self.query_scale = float(self.query_pre_attn_scalar) ** -0.5 if self.query_pre_attn_scalar is not None else None
        self.windows = _windows(self, self.num_hidden_layers)


def _windows(a: Args, layers: int) -> list:
    """Sliding windows per layer, as each variant's transformers config derives them."""
    if a.sliding is None:
        return [None] * layers
    if a.sliding == "all":  # Mistral, Phi-3: every layer, when the config sets a window
        return [a.sliding_window] * layers
    # Qwen2/Qwen3: only with use_sliding_window, on the layers layer_types (or max_window_layers) marks;
    # Gemma 2: on the layers layer_types marks, else every other layer from the first
    if a.sliding_window is None or (a.sliding == "layer_types" and not a.use_sliding_window):
        return [None] * layers
    types = a.layer_types
    if types is None and a.sliding == "alternate":
        types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
    elif types is None:
        types = ["sliding_attention" if i >= a.max_window_layers else "full_attention" for i in range(layers)]
    if len(types) != layers:
        raise InvalidCheckpoint(f"layer_types has {len(types)} entries for {layers} layers", "fix layer_types in config.json")
    return [a.sliding_window if t == "sliding_attention" else None for t in types]


def norm(a: Args, dim: int | None = None) -> nn.Module:
    return (RMSNormPlusOne if a.norm_plus_one else RMSNorm)(dim or a.hidden_size, a.rms_norm_eps)


class Attention(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.layer, self.window = layer, a.windows[layer]
        self.scale, self.softcap = a.query_scale, a.attn_logit_softcapping
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
        self.qkv = fuse(self.q_proj, self.k_proj, self.v_proj, done=self.qkv)

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
        q = q[:, :, -step.length:]  # (B, nh, L, hd): the step's queries
        y = attend(q, k, v, step.mask(self.window), self.scale, self.softcap)  # (B, nh, L, hd)
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
        self.gate_up = fuse(self.gate_proj, self.up_proj, done=self.gate_up)

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
        h = self.self_attn(self.input_layernorm(x), step, rotary, cos, sin)  # (B, L, H)
        x = x[:, -step.length:]  # (B, L, H): the query rows
        if not self.sandwich:
            x = x + h
            return x + self.mlp(self.post_attention_layernorm(x))
        x = x + self.post_attention_layernorm(h)
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class LlamaModel(Backbone):
    tails = True

    def __init__(self, a: Args):
        super().__init__(a, (a.num_hidden_layers, a.num_key_value_heads, a.head_dim))
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)
        self.layers = nn.ModuleList(Block(a, i) for i in range(a.num_hidden_layers))
        self.norm = norm(a)
        self.rotary = Rotary(a.rope, a.head_dim, a.max_position_embeddings)
        self.replays = a.rope_replay and self.rotary.switch_point is not None

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
        return self.norm(self.blocks(x, step, self.layers, self.rotary))  # (B, T, H)


def _lm_head(a: Args) -> nn.Module:
    if a.final_logit_softcapping is not None:
        return CappedLinear(a.hidden_size, a.vocab_size, a.final_logit_softcapping)
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
    for k, value in state.items():
        base, _, param = k.rpartition(".")
        parent, _, name = base.rpartition(".")
        if name in fused and value.shape[0] == sum(fused[name][1]):
            names, sizes = fused[name]
            out.update({f"{parent}.{n}.{param}": part for n, part in zip(names, value.split(sizes))})
        else:
            out[k] = value
    return out


def max_length(a: Args) -> int | None:
    return None  # rotary positions extrapolate; transformers does not refuse longer inputs either
