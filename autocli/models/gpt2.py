"""GPT-2 (model_type "gpt2"): pre-norm decoder, learned absolute positions, fused qkv, Conv1D weights.

Conv1D stores weights [in, out] (see _decoder.Conv1D for how each dtype uses them). The LM head is
tied to `wte` unless the config says otherwise. Heads as transformers' GPT2For*: sequence
classification scores the last real token (`score`, no bias), token classification `classifier`,
QA `qa_outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from autocli.config import Config
from autocli.errors import Unsupported
from autocli.models._attention import attend, merge_heads
from autocli.models._decoder import Backbone, Conv1D, GPTArgs
from autocli.models._task import TaskModel, decoder_heads

PREFIX = "transformer"


@dataclass
class Args(GPTArgs):
    add_cross_attention: bool = False
    scale_attn_by_inverse_layer_idx: bool = False
    scale_attn_weights: bool = True

    def check(self, cfg: Config) -> None:
        if self.add_cross_attention:
            raise Unsupported("GPT-2 with cross-attention (add_cross_attention) is not supported", "autocli runs GPT-2 as a decoder-only model")
        super().check(cfg)


class Attention(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.n_head, self.layer = a.n_head, layer
        self.c_attn = Conv1D(a.n_embd, 3 * a.n_embd)
        self.c_proj = Conv1D(a.n_embd, a.n_embd)
        self.scale = a.head_dim ** -0.5 if a.scale_attn_weights else 1.0
        if a.scale_attn_by_inverse_layer_idx:
            self.scale /= float(layer + 1)

    def forward(self, x, step):
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, -1).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, T, hd)
        k, v = step.kv(self.layer, k, v)  # (B, nh, S, hd)
        y = attend(q[:, :, -step.length:], k, v, step.mask(), self.scale)  # (B, nh, L, hd): the step's queries
        return self.c_proj(merge_heads(y))


class Block(nn.Module):
    def __init__(self, a: Args, layer: int):
        super().__init__()
        self.ln_1 = a.norm()
        self.attn = Attention(a, layer)
        self.ln_2 = a.norm()
        self.mlp = a.mlp(("c_fc", "c_proj"), Conv1D)

    def forward(self, x, step):
        x = x[:, -step.length:] + self.attn(self.ln_1(x), step)  # (B, L, C): the query rows
        return x + self.mlp(self.ln_2(x))


class GPT2Model(Backbone):
    tails = True

    def __init__(self, a: Args):
        super().__init__(a, (a.n_layer, a.n_head, a.head_dim))
        self.wte = nn.Embedding(a.vocab_size, a.n_embd)
        self.wpe = nn.Embedding(a.n_positions, a.n_embd)
        self.h = nn.ModuleList(Block(a, i) for i in range(a.n_layer))
        self.ln_f = a.norm()

    def forward(self, input_ids, step):
        # Rows of a batch that already finished keep stepping past their limit; their outputs are discarded.
        positions = step.positions.clamp(max=self.a.n_positions - 1)
        x = self.wte(input_ids) + self.wpe(positions)  # (B, T, C)
        return self.ln_f(self.blocks(x, step, self.h))  # (B, T, C)


HEADS = decoder_heads("n_embd")


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("decoder", PREFIX, GPT2Model(a), HEADS[task], a)


def max_length(a: Args) -> int:
    return a.n_positions
