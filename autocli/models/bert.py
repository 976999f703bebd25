"""BERT (model_type "bert"): post-norm encoder, learned absolute positions, token types, pooler.

Heads as transformers' BertFor*: sequence classification and multiple choice read the pooler,
token classification and QA the last hidden state, masked LM `cls.predictions`, NSP `cls.seq_relationship`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from autocli.models._args import EncoderArgs
from autocli.models._encoder import POOLED, SHARED_HEADS, Embeddings, EncoderModel, encoder, pooled
from autocli.models._heads import Pooler, Predictions
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel, labels, linear_head, one

PREFIX = "bert"


@dataclass
class Args(EncoderArgs):
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True


def backbone(a: Args, pooler: bool) -> EncoderModel:
    embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.hidden_size, a.layer_norm_eps)
    return EncoderModel(embeddings, encoder(a, activation(a.hidden_act)), Pooler(a.hidden_size) if pooler else None)


# --- heads ---------------------------------------------------------------------------------------

class PreTrainingHeads(nn.Module):
    """`cls.`: either head of BertForPreTraining (only the one the task needs is built)."""

    def __init__(self, a: Args, mlm: bool, nsp: bool):
        super().__init__()
        if mlm:
            self.predictions = Predictions(a.hidden_size, a.hidden_size, a.vocab_size, activation(a.hidden_act), a.layer_norm_eps)
        if nsp:
            self.seq_relationship = nn.Linear(a.hidden_size, 2)


HEADS = {
    **SHARED_HEADS,
    "sequence-classification": linear_head("classifier", "hidden_size", labels, pooled),
    "masked-lm": Head(lambda a: {"cls": PreTrainingHeads(a, mlm=True, nsp=False)}, lambda m, h, x: m.cls.predictions(h)),
    "multiple-choice": linear_head("classifier", "hidden_size", one, pooled),
    "next-sentence-prediction": Head(lambda a: {"cls": PreTrainingHeads(a, mlm=False, nsp=True)},
                                     lambda m, h, x: m.cls.seq_relationship(m.backbone.pooler(h))),
}


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("encoder", PREFIX, backbone(a, pooler=task in POOLED), HEADS[task], a)


def sanitize(state: dict, a: Args) -> dict:
    # The decoder bias is saved as `cls.predictions.bias`, older files also (or only) as `decoder.bias`;
    # untied, transformers' forward uses decoder.bias.
    from autocli.models._weights import fold_alias

    fold_alias(state, "cls.predictions.bias", "cls.predictions.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state

