"""What DeBERTa v1 (deberta.py) and v2/v3 (deberta_v2.py) share: the settings both configs have, the
embeddings, the post-norm layer around a family's disentangled self-attention, the backbone, the heads and
the checkpoint keys a model never reads. Each family keeps its attention and its encoder (relative inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._args import EncoderArgs
from autocli.models._encoder import SHARED_HEADS, AddNorm, Intermediate
from autocli.models._heads import Predictions
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel

PREFIX = "deberta"


@dataclass
class DebertaArgs(EncoderArgs):
    """The settings both versions read; each version redeclares the sizes with its own defaults."""

    embedding_size: int | None = None  # None: hidden_size
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-7
    legacy: bool = True
    max_relative_positions: int = -1  # < 1: as many as the absolute positions
    pooler_hidden_act: str = "gelu"
    pooler_hidden_size: int | None = None  # None: hidden_size
    pos_att_type: tuple | None = None  # a list, or an old "p2c|c2p" string
    position_biased_input: bool = True
    relative_attention: bool = False
    tie_word_embeddings: bool = True
    type_vocab_size: int = 0

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        self.positive("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                      "max_position_embeddings", "layer_norm_eps", "embedding_size", "pooler_hidden_size")
        self.at_least(0, "type_vocab_size")
        self.embedding_size = self.embedding_size or self.hidden_size
        self.pooler_hidden_size = self.pooler_hidden_size or self.hidden_size
        self.pos_att_type = pos_att_types(self.pos_att_type)
        if self.max_relative_positions < 1:
            self.max_relative_positions = self.max_position_embeddings
        # the new-style head always multiplies by the word embeddings, whatever tie_word_embeddings says
        self.tie_word_embeddings = self.tie_word_embeddings or not self.legacy


def pos_att_types(value) -> tuple:
    """`pos_att_type` as transformers reads it: a list, or an old "p2c|c2p" string (lower-cased)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(x.strip() for x in value.lower().split("|"))
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return tuple(value)
    raise InvalidCheckpoint(f"config.json: pos_att_type is {value!r}", 'use a list such as ["p2c", "c2p"]')


# --- blocks --------------------------------------------------------------------------------------

class Embeddings(nn.Module):
    def __init__(self, a: DebertaArgs, norm=nn.LayerNorm):
        super().__init__()
        self.word_embeddings = nn.Embedding(a.vocab_size, a.embedding_size)
        if a.position_biased_input:
            self.position_embeddings = nn.Embedding(a.max_position_embeddings, a.embedding_size)
        if a.type_vocab_size > 0:
            self.token_type_embeddings = nn.Embedding(a.type_vocab_size, a.embedding_size)
        if a.embedding_size != a.hidden_size:
            self.embed_proj = nn.Linear(a.embedding_size, a.hidden_size, bias=False)
        self.LayerNorm = norm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, input_ids, token_type_ids, mask):
        x = self.word_embeddings(input_ids)  # (B, T, E)
        if hasattr(self, "position_embeddings"):
            x = x + self.position_embeddings(torch.arange(input_ids.shape[1], device=input_ids.device))
        if hasattr(self, "token_type_embeddings"):
            types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            x = x + self.token_type_embeddings(types)
        if hasattr(self, "embed_proj"):
            x = self.embed_proj(x)  # (B, T, H)
        return self.LayerNorm(x) * mask[..., None].to(x.dtype)  # padding rows zeroed, as transformers


class Attention(nn.Module):
    def __init__(self, a: DebertaArgs, self_attention: nn.Module, norm):
        super().__init__()
        self.self = self_attention
        self.output = AddNorm(a.hidden_size, a.hidden_size, a.layer_norm_eps, norm)

    def forward(self, x, mask, rel):
        return self.output(self.self(x, mask, rel), x)


class Layer(nn.Module):
    """self-attention (the family's, given (x, additive mask, relative inputs)) -> add & norm -> MLP -> add & norm."""

    def __init__(self, a: DebertaArgs, self_attention: nn.Module, norm=nn.LayerNorm):
        super().__init__()
        self.attention = Attention(a, self_attention, norm)
        self.intermediate = Intermediate(a.hidden_size, a.intermediate_size, activation(a.hidden_act))
        self.output = AddNorm(a.intermediate_size, a.hidden_size, a.layer_norm_eps, norm)

    def forward(self, x, mask, rel):
        x = self.attention(x, mask, rel)
        return self.output(self.intermediate(x), x)  # (B, T, H)


class DebertaModel(nn.Module):
    def __init__(self, embeddings: nn.Module, encoder: nn.Module):
        super().__init__()
        self.embeddings = embeddings
        self.encoder = encoder

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, attention_mask)
        return self.encoder(x, attention_mask)  # (B, T, H)


# --- heads ---------------------------------------------------------------------------------------

class ContextPooler(nn.Module):
    """act(dense(first token)); its activation is pooler_hidden_act (gelu by default, not BERT's tanh)."""

    def __init__(self, a: DebertaArgs):
        super().__init__()
        self.dense = nn.Linear(a.pooler_hidden_size, a.pooler_hidden_size)
        self.act = activation(a.pooler_hidden_act, "pooler_hidden_act")

    def forward(self, h):
        return self.act(self.dense(h[:, 0]))  # (B, H)


class MLMHead(nn.Module):
    """`cls.`; the new-style `lm_predictions.lm_head` is the same math, renamed onto it (registry)."""

    def __init__(self, a: DebertaArgs):
        super().__init__()
        self.predictions = Predictions(a.hidden_size, a.embedding_size, a.vocab_size, activation(a.hidden_act), a.layer_norm_eps)


def _pooled_classifier(a: DebertaArgs, n: int) -> dict:
    if a.pooler_hidden_size != a.hidden_size:
        raise Unsupported(f"pooler_hidden_size {a.pooler_hidden_size} != hidden_size {a.hidden_size}", "transformers cannot run this config either")
    return {"pooler": ContextPooler(a), "classifier": nn.Linear(a.hidden_size, n)}


def _mlm(a: DebertaArgs) -> dict:
    if not a.legacy and a.embedding_size != a.hidden_size:
        raise Unsupported("the non-legacy masked-LM head needs embedding_size == hidden_size", "transformers cannot run this config either")
    return {"cls": MLMHead(a)}


def _pooled(m, h, x):
    return m.classifier(m.pooler(h))  # (B, L)


HEADS = {
    **SHARED_HEADS,
    "sequence-classification": Head(lambda a: _pooled_classifier(a, a.num_labels), _pooled),
    "masked-lm": Head(_mlm, lambda m, h, x: m.cls.predictions(h)),
    "multiple-choice": Head(lambda a: _pooled_classifier(a, 1), _pooled),
}


def build(a: DebertaArgs, task: str, embeddings: nn.Module, encoder: nn.Module) -> TaskModel:
    return TaskModel.of("encoder", PREFIX, DebertaModel(embeddings, encoder), HEADS[task], a)


# In real checkpoints but unused by transformers' model (its _keys_to_ignore_on_load_unexpected): the RTD
# head of v3 discriminators, and absolute positions a `position_biased_input: false` model never reads.
RTD_HEAD = "mask_predictions."
POSITIONS = ("deberta.embeddings.position_embeddings.", "embeddings.position_embeddings.")


def sanitize(state: dict, a: DebertaArgs) -> dict:
    from autocli.models._weights import fold_alias

    unused = (RTD_HEAD,) if a.position_biased_input else (RTD_HEAD, *POSITIONS)
    for key in [k for k in state if k.startswith(unused)]:
        state.pop(key)
    # decoder.bias is an alias of cls.predictions.bias; untied, transformers' forward reads decoder.bias
    fold_alias(state, "cls.predictions.bias", "cls.predictions.decoder.bias", prefer_alias=a.legacy and not a.tie_word_embeddings)
    return state
