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
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._heads import LMHead, TaskModel
from autocli.models._layers import Embeddings, activation, attention, merge_heads, padding_mask, split_heads

PREFIX = "albert"


@dataclass
class Args:
    vocab_size: int
    embedding_size: int
    hidden_size: int
    num_hidden_layers: int
    num_hidden_groups: int
    inner_group_num: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    num_labels: int
    tie_word_embeddings: bool

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        pet = r.get("position_embedding_type", "absolute")
        if pet not in (None, "absolute"):
            raise Unsupported(f"position_embedding_type {pet!r} is not supported for albert (only 'absolute')",
                              "relative_key / relative_key_query checkpoints are rare; run them with transformers")
        a = cls(
            vocab_size=r.get("vocab_size", 30000),
            embedding_size=r.get("embedding_size", 128),
            hidden_size=r.get("hidden_size", 4096),
            num_hidden_layers=r.get("num_hidden_layers", 12),
            num_hidden_groups=r.get("num_hidden_groups", 1),
            inner_group_num=r.get("inner_group_num", 1),
            num_attention_heads=r.get("num_attention_heads", 64),
            intermediate_size=r.get("intermediate_size", 16384),
            hidden_act=r.get("hidden_act", "gelu_new"),
            max_position_embeddings=r.get("max_position_embeddings", 512),
            type_vocab_size=r.get("type_vocab_size", 2),
            layer_norm_eps=r.get("layer_norm_eps", 1e-12),
            num_labels=cfg.num_labels,
            tie_word_embeddings=r.get("tie_word_embeddings", True),
        )
        for name, top in (("num_hidden_groups", a.num_hidden_layers), ("inner_group_num", 4096)):
            value = getattr(a, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise Unsupported(f"albert {name} = {value!r} must be an integer in 1..{top}", "the config is inconsistent")
        if a.hidden_size % a.num_attention_heads:
            raise InvalidCheckpoint(f"hidden_size {a.hidden_size} is not a multiple of num_attention_heads {a.num_attention_heads}", "the config is inconsistent")
        return a


# --- backbone ------------------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.num_heads = a.num_attention_heads
        self.query = nn.Linear(a.hidden_size, a.hidden_size)
        self.key = nn.Linear(a.hidden_size, a.hidden_size)
        self.value = nn.Linear(a.hidden_size, a.hidden_size)
        self.dense = nn.Linear(a.hidden_size, a.hidden_size)
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, x, mask):
        q = split_heads(self.query(x), self.num_heads)  # (B, nh, T, hd)
        k = split_heads(self.key(x), self.num_heads)
        v = split_heads(self.value(x), self.num_heads)
        return self.LayerNorm(x + self.dense(merge_heads(attention(q, k, v, mask))))  # (B, T, H)


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


class AlbertModel(nn.Module):
    def __init__(self, a: Args, pooler: bool):
        super().__init__()
        self.embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.embedding_size, a.layer_norm_eps)
        self.encoder = Transformer(a)
        if pooler:
            self.pooler = nn.Linear(a.hidden_size, a.hidden_size)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        return self.encoder(x, padding_mask(attention_mask, x.dtype))  # (B, T, H)


# --- heads ---------------------------------------------------------------------------------------

def _pooled(m, h):
    return torch.tanh(m.albert.pooler(h[:, 0]))  # (B, H)


# task -> (needs the pooler, head modules, output)
HEADS = {
    "base": (False, lambda a: {}, lambda m, h: h),
    "sequence-classification": (True, lambda a: {"classifier": nn.Linear(a.hidden_size, a.num_labels)}, lambda m, h: m.classifier(_pooled(m, h))),
    "token-classification": (False, lambda a: {"classifier": nn.Linear(a.hidden_size, a.num_labels)}, lambda m, h: m.classifier(h)),
    "question-answering": (False, lambda a: {"qa_outputs": nn.Linear(a.hidden_size, 2)}, lambda m, h: m.qa_outputs(h)),
    "masked-lm": (False, lambda a: {"predictions": LMHead(a.hidden_size, a.embedding_size, a.vocab_size, activation(a.hidden_act), a.layer_norm_eps)},
                  lambda m, h: m.predictions(h)),
    "multiple-choice": (True, lambda a: {"classifier": nn.Linear(a.hidden_size, 1)}, lambda m, h: m.classifier(_pooled(m, h))),
}

def build(a: Args, task: str) -> TaskModel:
    pooled, heads, run = HEADS[task]
    return TaskModel(PREFIX, AlbertModel(a, pooler=pooled), heads(a), run)


def sanitize(state: dict, a: Args) -> dict:
    from autocli.models._weights import fold_alias

    fold_alias(state, "predictions.bias", "predictions.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state


def uses_token_type_ids(a: Args) -> bool:
    return a.type_vocab_size > 1


def max_length(a: Args) -> int:
    return a.max_position_embeddings
