"""ELECTRA (model_type "electra"): BERT's encoder on embeddings of `embedding_size`, projected to
hidden_size by `embeddings_project` when the two differ; no pooler.

Heads as transformers' ElectraFor*: the discriminator (`discriminator_predictions`, replaced-token
detection, one logit per token), the generator's masked LM (`generator_predictions` + `generator_lm_head`),
sentence classification dense -> GELU -> out_proj on the first token, and multiple choice through
`sequence_summary` configured by the `summary_*` settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._heads import ClassificationHead, TaskModel
from autocli.models._layers import Embeddings, Encoder, activation, padding_mask

PREFIX = "electra"
SUMMARY_TYPES = ("last", "first", "mean", "cls_index")


@dataclass
class Args:
    vocab_size: int
    embedding_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    num_labels: int
    summary_type: str
    summary_use_proj: bool
    summary_proj_to_labels: bool
    summary_activation: str | None

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        pet = r.get("position_embedding_type", "absolute")
        if pet not in (None, "absolute"):
            raise Unsupported(f"position_embedding_type {pet!r} is not supported for electra (only 'absolute')",
                              "relative_key / relative_key_query checkpoints are rare; run them with transformers")
        if r.get("is_decoder") or r.get("add_cross_attention"):
            raise Unsupported("electra as a decoder (is_decoder / add_cross_attention) is not supported", "autocli runs ELECTRA as an encoder")
        a = cls(
            vocab_size=r.get("vocab_size", 30522),
            embedding_size=r.get("embedding_size", 128),
            hidden_size=r.get("hidden_size", 256),
            num_hidden_layers=r.get("num_hidden_layers", 12),
            num_attention_heads=r.get("num_attention_heads", 4),
            intermediate_size=r.get("intermediate_size", 1024),
            hidden_act=r.get("hidden_act", "gelu"),
            max_position_embeddings=r.get("max_position_embeddings", 512),
            type_vocab_size=r.get("type_vocab_size", 2),
            layer_norm_eps=r.get("layer_norm_eps", 1e-12),
            num_labels=cfg.num_labels,
            summary_type=r.get("summary_type", "first"),
            summary_use_proj=bool(r.get("summary_use_proj", True)),
            summary_proj_to_labels=bool(r.get("summary_proj_to_labels", False)),
            summary_activation=r.get("summary_activation", "gelu"),
        )
        if a.hidden_size % a.num_attention_heads:
            raise InvalidCheckpoint(f"hidden_size {a.hidden_size} is not a multiple of num_attention_heads {a.num_attention_heads}", "the config is inconsistent")
        return a


# --- backbone ------------------------------------------------------------------------------------

class ElectraModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.embedding_size, a.layer_norm_eps)
        if a.embedding_size != a.hidden_size:
            self.embeddings_project = nn.Linear(a.embedding_size, a.hidden_size)
        act = activation(a.hidden_act)
        self.encoder = Encoder(a.num_hidden_layers, a.hidden_size, a.num_attention_heads, a.intermediate_size, act, a.layer_norm_eps)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        if hasattr(self, "embeddings_project"):
            x = self.embeddings_project(x)  # (B, T, H)
        return self.encoder(x, padding_mask(attention_mask, x.dtype))  # (B, T, H)


# --- heads ---------------------------------------------------------------------------------------

class DiscriminatorPredictions(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.hidden_size, a.hidden_size)
        self.dense_prediction = nn.Linear(a.hidden_size, 1)
        self.act = activation(a.hidden_act)

    def forward(self, h):
        return self.dense_prediction(self.act(self.dense(h))).squeeze(-1)  # (B, T)


class GeneratorPredictions(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.hidden_size, a.embedding_size)
        self.LayerNorm = nn.LayerNorm(a.embedding_size, eps=a.layer_norm_eps)

    def forward(self, h):
        return self.LayerNorm(F.gelu(self.dense(h)))  # (B, T, E)


class SequenceSummary(nn.Module):
    """One vector per sequence, as the `summary_*` settings say (transformers' ElectraSequenceSummary)."""

    def __init__(self, a: Args):
        super().__init__()
        if a.summary_type not in SUMMARY_TYPES:
            raise Unsupported(f"electra summary_type {a.summary_type!r} is not supported", f"supported: {', '.join(SUMMARY_TYPES)}")
        self.kind = a.summary_type
        if a.summary_use_proj:
            out = a.num_labels if a.summary_proj_to_labels and a.num_labels > 0 else a.hidden_size
            self.summary = nn.Linear(a.hidden_size, out)
        self.act = activation(a.summary_activation, "summary_activation") if a.summary_activation else (lambda x: x)

    def forward(self, h):
        if self.kind == "first":
            x = h[:, 0]
        elif self.kind == "mean":
            x = h.mean(dim=1)  # over every position, padding included, as transformers
        else:  # "last", and "cls_index" without an index: the last position
            x = h[:, -1]
        if hasattr(self, "summary"):
            x = self.summary(x)
        return self.act(x)  # (B, H)


def _generator(m, h):
    return m.generator_lm_head(m.generator_predictions(h))  # (B, T, V)


# task -> (head modules, output)
HEADS = {
    "base": (lambda a: {}, lambda m, h: h),
    "sequence-classification": (lambda a: {"classifier": ClassificationHead(a.hidden_size, a.num_labels, F.gelu)}, lambda m, h: m.classifier(h)),
    "token-classification": (lambda a: {"classifier": nn.Linear(a.hidden_size, a.num_labels)}, lambda m, h: m.classifier(h)),
    "question-answering": (lambda a: {"qa_outputs": nn.Linear(a.hidden_size, 2)}, lambda m, h: m.qa_outputs(h)),
    "masked-lm": (lambda a: {"generator_predictions": GeneratorPredictions(a), "generator_lm_head": nn.Linear(a.embedding_size, a.vocab_size)},
                  _generator),
    "multiple-choice": (lambda a: {"sequence_summary": SequenceSummary(a), "classifier": nn.Linear(a.hidden_size, 1)},
                        lambda m, h: m.classifier(m.sequence_summary(h))),
    "replaced-token-detection": (lambda a: {"discriminator_predictions": DiscriminatorPredictions(a)},
                                 lambda m, h: m.discriminator_predictions(h)),
}

def build(a: Args, task: str) -> TaskModel:
    heads, run = HEADS[task]
    return TaskModel(PREFIX, ElectraModel(a), heads(a), run)


def uses_token_type_ids(a: Args) -> bool:
    return a.type_vocab_size > 1


def max_length(a: Args) -> int:
    return a.max_position_embeddings
