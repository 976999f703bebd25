"""ALBERT (model_type "albert"): factorised embeddings (embedding_size, projected to hidden_size by
`embedding_hidden_mapping_in`) and cross-layer sharing: num_hidden_layers passes through
num_hidden_groups groups of inner_group_num layers, layer i using group i * groups // layers.

Heads as AlbertFor*: the pooler is a bare Linear + tanh (`albert.pooler`), sequence classification and
multiple choice read it; masked LM is `predictions` (dense -> hidden_act -> LayerNorm -> decoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import Unsupported
from autocli.models._args import EncoderArgs
from autocli.models._encoder import POOLED, SHARED_HEADS, Embeddings, EncoderModel, SelfAttention, pooled
from autocli.models._heads import LMHead
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel, labels, linear_head, one

PREFIX = "albert"


@dataclass
class Args(EncoderArgs):
    embedding_size: int = 128
    hidden_act: str = "gelu_new"
    hidden_size: int = 4096
    inner_group_num: int = 1
    intermediate_size: int = 16384
    num_attention_heads: int = 64
    num_hidden_groups: int = 1
    tie_word_embeddings: bool = True
    vocab_size: int = 30000

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        for name, top in (("num_hidden_groups", self.num_hidden_layers), ("inner_group_num", 4096)):
            value = getattr(self, name)
            if not 1 <= value <= top:
                raise Unsupported(f"albert {name} = {value!r} must be an integer in 1..{top}", "the config is inconsistent")


# --- backbone ------------------------------------------------------------------------------------

class Attention(SelfAttention):
    """BERT's self-attention with its output dense and LayerNorm under the same prefix."""

    def __init__(self, a: Args):
        super().__init__(a.hidden_size, a.num_attention_heads)
        self.dense = nn.Linear(a.hidden_size, a.hidden_size)
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, x, mask):
        return self.LayerNorm(x + self.dense(super().forward(x, mask)))  # (B, T, H)


class Layer(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.attention = Attention(a)
        self.ffn = nn.Linear(a.hidden_size, a.intermediate_size)
        self.ffn_output = nn.Linear(a.intermediate_size, a.hidden_size)
        self.full_layer_layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.act = activation(a.hidden_act)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.full_layer_layer_norm(self.ffn_output(self.act(self.ffn(x))) + x)


class LayerGroup(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.albert_layers = nn.ModuleList(Layer(a) for _ in range(a.inner_group_num))

    def forward(self, x, mask):
        for layer in self.albert_layers:
            x = layer(x, mask)
        return x


class Transformer(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.embedding_hidden_mapping_in = nn.Linear(a.embedding_size, a.hidden_size)
        self.albert_layer_groups = nn.ModuleList(LayerGroup(a) for _ in range(a.num_hidden_groups))
        self.num_layers = a.num_hidden_layers

    def forward(self, x, mask):
        x = self.embedding_hidden_mapping_in(x)  # (B, T, H)
        groups = len(self.albert_layer_groups)
        for i in range(self.num_layers):
            # transformers: int(i / (layers / groups)); the same integer for every valid config
            x = self.albert_layer_groups[int(i / (self.num_layers / groups))](x, mask)
        return x


class AlbertPooler(nn.Linear):
    """`albert.pooler`: a bare Linear, tanh over the first token."""

    def forward(self, h):
        return torch.tanh(super().forward(h[:, 0]))  # (B, H)


def backbone(a: Args, pooler: bool) -> EncoderModel:
    embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.embedding_size, a.layer_norm_eps)
    return EncoderModel(embeddings, Transformer(a), AlbertPooler(a.hidden_size, a.hidden_size) if pooler else None)


# --- heads ---------------------------------------------------------------------------------------

HEADS = {
    **SHARED_HEADS,
    "sequence-classification": linear_head("classifier", "hidden_size", labels, pooled),
    "masked-lm": Head(lambda a: {"predictions": LMHead(a.hidden_size, a.embedding_size, a.vocab_size, activation(a.hidden_act), a.layer_norm_eps)},
                      lambda m, h, x: m.predictions(h)),
    "multiple-choice": linear_head("classifier", "hidden_size", one, pooled),
}


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("encoder", PREFIX, backbone(a, pooler=task in POOLED), HEADS[task], a)


def sanitize(state: dict, a: Args) -> dict:
    from autocli.models._weights import fold_alias

    fold_alias(state, "predictions.bias", "predictions.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state
