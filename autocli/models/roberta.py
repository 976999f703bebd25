"""RoBERTa (model_type "roberta"; "xlm-roberta" and "camembert" are the same network).

BERT's encoder with two differences that change the numbers: position ids count only real tokens and
start after padding_idx (fairseq's make_positions; the registry's position_offset), and the heads:
sentence classification is dense -> tanh -> out_proj on <s> (no pooler), masked LM is `lm_head` with
erf-GELU. Multiple choice uses the pooler, as transformers' RobertaForMultipleChoice does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from autocli.config import Config
from autocli.errors import Unsupported
from autocli.models._args import EncoderArgs
from autocli.models._encoder import POOLED, SHARED_HEADS, Embeddings, EncoderModel, encoder, pooled
from autocli.models._heads import ClassificationHead, LMHead, Pooler
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel, first_token, linear_head, one

PREFIX = "roberta"


@dataclass
class Args(EncoderArgs):
    pad_token_id: int = 1
    tie_word_embeddings: bool = True
    vocab_size: int = 50265

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        if not 0 <= self.pad_token_id < self.max_position_embeddings - 1:
            raise Unsupported(f"pad_token_id {self.pad_token_id!r} cannot be RoBERTa's position offset", "set pad_token_id in config.json")


def backbone(a: Args, pooler: bool) -> EncoderModel:
    embeddings = Embeddings(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.hidden_size, a.layer_norm_eps,
                            padding_idx=a.pad_token_id)
    return EncoderModel(embeddings, encoder(a, activation(a.hidden_act)), Pooler(a.hidden_size) if pooler else None)


HEADS = {
    **SHARED_HEADS,
    "sequence-classification": Head(lambda a: {"classifier": ClassificationHead(a.hidden_size, a.num_labels, torch.tanh)},
                                    first_token("classifier")),
    "masked-lm": Head(lambda a: {"lm_head": LMHead(a.hidden_size, a.hidden_size, a.vocab_size, F.gelu, a.layer_norm_eps, norm="layer_norm")},
                      lambda m, h, x: m.lm_head(h)),
    "multiple-choice": linear_head("classifier", "hidden_size", one, pooled),
}


def build(a: Args, task: str) -> TaskModel:
    # sequence classification reads <s> through its own dense layer, not the pooler
    return TaskModel.of("encoder", PREFIX, backbone(a, pooler=task in POOLED and task != "sequence-classification"), HEADS[task], a)


def sanitize(state: dict, a: Args) -> dict:
    from autocli.models._weights import fold_alias

    fold_alias(state, "lm_head.bias", "lm_head.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state
