"""ELECTRA (model_type "electra"): BERT's encoder on embeddings of `embedding_size`, projected to
hidden_size by `embeddings_project` when the two differ; no pooler.

Heads as transformers' ElectraFor*: the discriminator (`discriminator_predictions`, replaced-token
detection, one logit per token), the generator's masked LM (`generator_predictions` + `generator_lm_head`),
sentence classification dense -> GELU -> out_proj on the first token, and multiple choice through
`sequence_summary` configured by the `summary_*` settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from autocli.errors import Unsupported
from autocli.models._args import EncoderArgs, key
from autocli.models._encoder import SHARED_HEADS, Embeddings, EncoderModel, encoder
from autocli.models._heads import ClassificationHead
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel, first_token

PREFIX = "electra"
SUMMARY_TYPES = ("last", "first", "mean", "cls_index")


@dataclass
class Args(EncoderArgs):
    embedding_size: int = 128
    hidden_size: int = 256
    intermediate_size: int = 1024
    num_attention_heads: int = 4
    summary_activation: str | None = key(default="gelu", null=True)  # null: no activation
    summary_proj_to_labels: bool = False
    summary_type: str = "first"
    summary_use_proj: bool = True


def backbone(a: Args) -> EncoderModel:
    embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.embedding_size, a.layer_norm_eps)
    project = nn.Linear(a.embedding_size, a.hidden_size) if a.embedding_size != a.hidden_size else None
    return EncoderModel(embeddings, encoder(a, activation(a.hidden_act)), project=project)


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


def _generator(a: Args) -> dict:
    return {"generator_predictions": GeneratorPredictions(a), "generator_lm_head": nn.Linear(a.embedding_size, a.vocab_size)}


HEADS = {
    **SHARED_HEADS,
    "sequence-classification": Head(lambda a: {"classifier": ClassificationHead(a.hidden_size, a.num_labels, F.gelu)},
                                    first_token("classifier")),
    "masked-lm": Head(_generator, lambda m, h, x: m.generator_lm_head(m.generator_predictions(h))),
    "multiple-choice": Head(lambda a: {"sequence_summary": SequenceSummary(a), "classifier": nn.Linear(a.hidden_size, 1)},
                            lambda m, h, x: m.classifier(m.sequence_summary(h))),
    "replaced-token-detection": Head(lambda a: {"discriminator_predictions": DiscriminatorPredictions(a)},
                                     lambda m, h, x: m.discriminator_predictions(h)),
}


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("encoder", PREFIX, backbone(a), HEADS[task], a)
