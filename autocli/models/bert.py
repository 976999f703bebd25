"""BERT (model_type "bert"): post-norm encoder, learned absolute positions, token types, pooler.

Heads as transformers' BertFor*: sequence classification and multiple choice read the pooler,
token classification and QA the last hidden state, masked LM `cls.predictions`, NSP `cls.seq_relationship`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._heads import Pooler, TaskModel
from autocli.models._layers import Embeddings, Encoder, activation, padding_mask

PREFIX = "bert"


@dataclass
class Args:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    num_labels: int
    tie_word_embeddings: bool
    initializer_range: float

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        check_encoder_config(cfg)
        return cls(
            vocab_size=r.get("vocab_size", 30522),
            hidden_size=r.get("hidden_size", 768),
            num_hidden_layers=r.get("num_hidden_layers", 12),
            num_attention_heads=r.get("num_attention_heads", 12),
            intermediate_size=r.get("intermediate_size", 3072),
            hidden_act=r.get("hidden_act", "gelu"),
            max_position_embeddings=r.get("max_position_embeddings", 512),
            type_vocab_size=r.get("type_vocab_size", 2),
            layer_norm_eps=r.get("layer_norm_eps", 1e-12),
            num_labels=cfg.num_labels,
            tie_word_embeddings=r.get("tie_word_embeddings", True),
            initializer_range=r.get("initializer_range", 0.02),
        )


def check_encoder_config(cfg: Config) -> None:
    """Settings of BERT-like configs that change the math and that autocli does not run."""
    r = cfg.raw
    pet = r.get("position_embedding_type", "absolute")
    if pet not in (None, "absolute"):
        raise Unsupported(
            f"position_embedding_type {pet!r} is not supported for {cfg.model_type} (only 'absolute')",
            "relative_key / relative_key_query checkpoints are rare; run them with transformers",
        )
    if r.get("is_decoder") or r.get("add_cross_attention"):
        raise Unsupported(f"{cfg.model_type} as a decoder (is_decoder / add_cross_attention) is not supported", "autocli runs BERT-style checkpoints as encoders")
    h, n = r.get("hidden_size", 768), r.get("num_attention_heads", 12)
    if isinstance(h, int) and isinstance(n, int) and n > 0 and h % n:
        raise InvalidCheckpoint(f"hidden_size {h} is not a multiple of num_attention_heads {n}", "the config is inconsistent")


# --- backbone ------------------------------------------------------------------------------------

class BertModel(nn.Module):
    def __init__(self, a: Args, pooler: bool):
        super().__init__()
        self.embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.hidden_size, a.layer_norm_eps)
        act = activation(a.hidden_act)
        self.encoder = Encoder(a.num_hidden_layers, a.hidden_size, a.num_attention_heads, a.intermediate_size, act, a.layer_norm_eps)
        if pooler:
            self.pooler = Pooler(a.hidden_size)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        return self.encoder(x, padding_mask(attention_mask, x.dtype))  # (B, T, H)


# --- heads ---------------------------------------------------------------------------------------

class PredictionTransform(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.hidden_size, a.hidden_size)
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.act = activation(a.hidden_act)

    def forward(self, h):
        return self.LayerNorm(self.act(self.dense(h)))


class Predictions(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.transform = PredictionTransform(a)
        self.decoder = nn.Linear(a.hidden_size, a.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(a.vocab_size))

    def forward(self, h):
        return F.linear(self.transform(h), self.decoder.weight, self.bias)  # (B, T, V)


class PreTrainingHeads(nn.Module):
    """`cls.`: either head of BertForPreTraining (only the one the task needs is built)."""

    def __init__(self, a: Args, mlm: bool, nsp: bool):
        super().__init__()
        if mlm:
            self.predictions = Predictions(a)
        if nsp:
            self.seq_relationship = nn.Linear(a.hidden_size, 2)


def _linear(a: Args, n: int):
    return nn.Linear(a.hidden_size, n)


# task -> (needs the pooler, head modules, output)
HEADS = {
    "base": (False, lambda a: {}, lambda m, h: h),
    "sequence-classification": (True, lambda a: {"classifier": _linear(a, a.num_labels)}, lambda m, h: m.classifier(m.bert.pooler(h))),
    "token-classification": (False, lambda a: {"classifier": _linear(a, a.num_labels)}, lambda m, h: m.classifier(h)),
    "question-answering": (False, lambda a: {"qa_outputs": _linear(a, 2)}, lambda m, h: m.qa_outputs(h)),
    "masked-lm": (False, lambda a: {"cls": PreTrainingHeads(a, mlm=True, nsp=False)}, lambda m, h: m.cls.predictions(h)),
    "multiple-choice": (True, lambda a: {"classifier": _linear(a, 1)}, lambda m, h: m.classifier(m.bert.pooler(h))),
    "next-sentence-prediction": (True, lambda a: {"cls": PreTrainingHeads(a, mlm=False, nsp=True)}, lambda m, h: m.cls.seq_relationship(m.bert.pooler(h))),
}

def build(a: Args, task: str) -> TaskModel:
    pooled, heads, run = HEADS[task]
    return TaskModel(PREFIX, BertModel(a, pooler=pooled), heads(a), run)


def sanitize(state: dict, a: Args) -> dict:
    # The decoder bias is saved as `cls.predictions.bias`, older files also (or only) as `decoder.bias`;
    # untied, transformers' forward uses decoder.bias.
    from autocli.models._weights import fold_alias

    fold_alias(state, "cls.predictions.bias", "cls.predictions.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state


def uses_token_type_ids(a: Args) -> bool:
    return a.type_vocab_size > 1


def max_length(a: Args) -> int:
    return a.max_position_embeddings
