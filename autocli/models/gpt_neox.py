"""GPT-NeoX (model_type "gpt_neox"; Pythia, ...): fused per-head qkv, rotary on the first
`rotary_pct` of each head, attention and MLP in parallel (use_parallel_residual) or in sequence.

`query_key_value` packs q, k and v per head: its output reshapes to (B, T, heads, 3 * head_dim).
Older checkpoints call the LM head `embed_out` (a registry rename). Heads as transformers'
GPTNeoXFor*: `score` (no bias) at the last real token, `classifier`, `qa_outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from autocli.config import Config
from autocli.models._args import ConfigArgs, check_heads, derived
from autocli.models._attention import attend, merge_heads
from autocli.models._decoder import Backbone, FeedForward, activation, linear
from autocli.models._rope import Rotary, rope_parameters
from autocli.models._task import TaskModel, decoder_heads

PREFIX = "gpt_neox"


@dataclass
class Args(ConfigArgs):
    attention_bias: bool = True
    hidden_act: str = "gelu"
    hidden_size: int = 6144
    intermediate_size: int = 24576
    layer_norm_eps: float = 1e-5
    max_position_embeddings: int = 2048
    num_attention_heads: int = 64
    num_hidden_layers: int = 44
    tie_word_embeddings: bool = False
    use_parallel_residual: bool = True
    vocab_size: int = 50432
    rope: dict = derived()  # rope_parameters(): theta, partial_rotary_factor (rotary_pct), scaling

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def check(self, cfg: Config) -> None:
        check_heads(self.hidden_size, self.num_attention_heads)
        activation(self.hidden_act)
        self.rope = rope_parameters(cfg.raw, {"partial_rotary_factor": 0.25})


class Attention(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.layer, self.n_head = layer, a.num_attention_heads
        self.query_key_value = linear(a.hidden_size, 3 * a.hidden_size, a.attention_bias)
        self.dense = linear(a.hidden_size, a.hidden_size, a.attention_bias)

    def forward(self, x, step, rotary, cos, sin):
        B, T, _ = x.shape
        nh = self.n_head
        qkv = self.query_key_value(x).view(B, T, nh, 3, -1).permute(0, 3, 2, 1, 4)  # (B, 3, nh, T, hd)
        qk = rotary.apply(qkv[:, :2].reshape(B, 2 * nh, T, -1), cos, sin)  # (B, 2nh, T, hd): q and k in one rotation
        k, v = step.kv(self.layer, qk[:, nh:], qkv[:, 2])  # (B, nh, S, hd)
        q = qk[:, :nh]
        y = attend(q, k, v, step.mask())  # (B, nh, T, hd)
        return self.dense(merge_heads(y))


def MLP(a: Args) -> FeedForward:
    up, down = linear(a.hidden_size, a.intermediate_size), linear(a.intermediate_size, a.hidden_size)
    return FeedForward(("dense_h_to_4h", "dense_4h_to_h"), up, down, activation(a.hidden_act))


class Layer(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.attention = Attention(a, layer)
        self.mlp = MLP(a)
        self.parallel = a.use_parallel_residual

    def forward(self, x, step, rotary, cos, sin):
        attn = self.attention(self.input_layernorm(x), step, rotary, cos, sin)
        if self.parallel:  # x + attn(ln1(x)) + mlp(ln2(x))
            return x + attn + self.mlp(self.post_attention_layernorm(x))
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x))


class GPTNeoXModel(Backbone):
    def __init__(self, a: Args):
        super().__init__(a, (a.num_hidden_layers, a.num_attention_heads, a.head_dim))
        self.embed_in = nn.Embedding(a.vocab_size, a.hidden_size)
        self.layers = nn.ModuleList(Layer(a, i) for i in range(a.num_hidden_layers))
        self.final_layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.rotary = Rotary(a.rope, a.head_dim, a.max_position_embeddings)

    def forward(self, input_ids, step):
        return self.final_layer_norm(self.blocks(self.embed_in(input_ids), step, self.layers, self.rotary))  # (B, T, C)


HEADS = decoder_heads("hidden_size")


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("decoder", PREFIX, GPTNeoXModel(a), HEADS[task], a)


def max_length(a: Args) -> int | None:
    return None  # rotary positions: transformers does not refuse longer inputs either
