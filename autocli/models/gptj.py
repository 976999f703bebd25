"""GPT-J (model_type "gptj"): attention and MLP in parallel off one LayerNorm, rotary on the first
`rotary_dim` channels of each head in interleaved pairs (x0,x1), (x2,x3), ..., an LM head with a bias.

Heads as transformers' GPTJFor*: `score` (no bias) at the last real token and `qa_outputs`; GPT-J has
no token-classification head there, so none here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import Unsupported
from autocli.models._args import key
from autocli.models._attention import attend, merge_heads
from autocli.models._decoder import Backbone, GPTArgs, fuse, linear, project
from autocli.models._rope import Rotary
from autocli.models._task import TaskModel, decoder_heads

PREFIX = "transformer"
ROPE_THETA = 10000.0  # fixed in GPT-J's sinusoidal table


@dataclass
class Args(GPTArgs):
    n_embd: int = 4096
    n_head: int = 16
    n_layer: int = 28
    n_positions: int = 2048
    rotary_dim: int | None = key(default=64, null=True)  # null: the whole head
    tie_word_embeddings: bool = False
    vocab_size: int = 50400

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        rotary_dim = self.rotary_dim = self.head_dim if self.rotary_dim is None else self.rotary_dim
        if rotary_dim < 2 or rotary_dim > self.head_dim or rotary_dim % 2:
            raise Unsupported(f"rotary_dim {rotary_dim!r} does not fit head size {self.head_dim}", "rotary_dim must be even and at most n_embd / n_head")


class Attention(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.layer, self.n_head = layer, a.n_head
        self.q_proj = linear(a.n_embd, a.n_embd, bias=False)
        self.k_proj = linear(a.n_embd, a.n_embd, bias=False)
        self.v_proj = linear(a.n_embd, a.n_embd, bias=False)
        self.out_proj = linear(a.n_embd, a.n_embd, bias=False)
        self.qkv = None  # (weight, bias, in_out) of q|k|v once fused for decoding

    def fuse_for_decoding(self):
        self.qkv = fuse(self.q_proj, self.k_proj, self.v_proj, done=self.qkv)

    def forward(self, x, step, rotary, cos, sin):
        B, T, _ = x.shape
        nh = self.n_head
        if self.qkv is not None:
            out = project(x, *self.qkv).view(B, T, 3 * nh, -1).transpose(1, 2)  # (B, 3nh, T, hd)
        else:
            out = torch.cat([p(x).view(B, T, nh, -1) for p in (self.q_proj, self.k_proj, self.v_proj)], 2).transpose(1, 2)
        qk = rotary.apply(out[:, : 2 * nh], cos, sin)  # (B, 2nh, T, hd): q and k in one rotation
        k, v = step.kv(self.layer, qk[:, nh:], out[:, 2 * nh:])  # (B, nh, S, hd)
        q = qk[:, :nh]
        y = attend(q, k, v, step.mask())  # (B, nh, T, hd)
        return self.out_proj(merge_heads(y))


class Block(nn.Module):
    """Attention and MLP in parallel, both reading one LayerNorm of the input."""

    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.ln_1 = a.norm()
        self.attn = Attention(a, layer)
        self.mlp = a.mlp(("fc_in", "fc_out"), linear)

    def forward(self, x, step, rotary, cos, sin):
        h = self.ln_1(x)
        return x + self.attn(h, step, rotary, cos, sin) + self.mlp(h)


class GPTJModel(Backbone):
    def __init__(self, a: Args):
        super().__init__(a, (a.n_layer, a.n_head, a.head_dim))
        self.wte = nn.Embedding(a.vocab_size, a.n_embd)
        self.h = nn.ModuleList(Block(a, i) for i in range(a.n_layer))
        self.ln_f = a.norm()
        rope = {"rope_type": "default", "rope_theta": ROPE_THETA}
        self.rotary = Rotary(rope, a.head_dim, a.n_positions, interleaved=True, dim=a.rotary_dim)

    def forward(self, input_ids, step):
        return self.ln_f(self.blocks(self.wte(input_ids), step, self.h, self.rotary))  # (B, T, C)


HEADS = decoder_heads("n_embd", lm_bias=True)


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("decoder", PREFIX, GPTJModel(a), HEADS[task], a)


def max_length(a: Args) -> int:
    return a.n_positions  # GPT-J's sinusoid table ends there
