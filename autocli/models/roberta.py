"""RoBERTa (model_type "roberta"; "xlm-roberta" and "camembert" are the same network).

BERT's encoder with two differences that change the numbers: position ids count only real tokens and
start after padding_idx (fairseq's make_positions), and the heads: sentence classification is
dense -> tanh -> out_proj on <s> (no pooler), masked LM is `lm_head` with erf-GELU. Multiple choice
uses the pooler, as transformers' RobertaForMultipleChoice does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._heads import ClassificationHead, LMHead, Pooler, TaskModel
from autocli.models._layers import Encoder, activation, padding_mask

PREFIX = "roberta"


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
    pad_token_id: int
    num_labels: int
    tie_word_embeddings: bool

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        pet = r.get("position_embedding_type", "absolute")
        if pet not in (None, "absolute"):
            raise Unsupported(f"position_embedding_type {pet!r} is not supported for {cfg.model_type} (only 'absolute')",
                              "relative_key / relative_key_query checkpoints are rare; run them with transformers")
        if r.get("is_decoder") or r.get("add_cross_attention"):
            raise Unsupported(f"{cfg.model_type} as a decoder (is_decoder / add_cross_attention) is not supported",
                              "autocli runs RoBERTa-style checkpoints as encoders")
        a = cls(
            vocab_size=r.get("vocab_size", 50265),
            hidden_size=r.get("hidden_size", 768),
            num_hidden_layers=r.get("num_hidden_layers", 12),
            num_attention_heads=r.get("num_attention_heads", 12),
            intermediate_size=r.get("intermediate_size", 3072),
            hidden_act=r.get("hidden_act", "gelu"),
            max_position_embeddings=r.get("max_position_embeddings", 512),
            type_vocab_size=r.get("type_vocab_size", 2),
            layer_norm_eps=r.get("layer_norm_eps", 1e-12),
            pad_token_id=r.get("pad_token_id", 1),
            num_labels=cfg.num_labels,
            tie_word_embeddings=r.get("tie_word_embeddings", True),
        )
        if a.hidden_size % a.num_attention_heads:
            raise InvalidCheckpoint(f"hidden_size {a.hidden_size} is not a multiple of num_attention_heads {a.num_attention_heads}", "the config is inconsistent")
        if not isinstance(a.pad_token_id, int) or not 0 <= a.pad_token_id < a.max_position_embeddings - 1:
            raise Unsupported(f"pad_token_id {a.pad_token_id!r} cannot be RoBERTa's position offset", "set pad_token_id in config.json")
        return a


# --- backbone ------------------------------------------------------------------------------------

class Embeddings(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.word_embeddings = nn.Embedding(a.vocab_size, a.hidden_size)
        self.position_embeddings = nn.Embedding(a.max_position_embeddings, a.hidden_size)
        self.token_type_embeddings = nn.Embedding(a.type_vocab_size, a.hidden_size)
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.padding_idx = a.pad_token_id

    def forward(self, input_ids, token_type_ids):
        # Real tokens get padding_idx+1, +2, ...; pad tokens keep padding_idx (fairseq's make_positions).
        real = input_ids.ne(self.padding_idx).int()  # (B, T)
        positions = torch.cumsum(real, dim=1) * real + self.padding_idx  # (B, T)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(positions.long()))  # (B, T, H)


class RobertaModel(nn.Module):
    def __init__(self, a: Args, pooler: bool):
        super().__init__()
        self.embeddings = Embeddings(a)
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

def _lm_head(a: Args) -> LMHead:
    return LMHead(a.hidden_size, a.hidden_size, a.vocab_size, F.gelu, a.layer_norm_eps, norm="layer_norm")


# task -> (needs the pooler, head modules, output)
HEADS = {
    "base": (False, lambda a: {}, lambda m, h: h),
    "sequence-classification": (False, lambda a: {"classifier": ClassificationHead(a.hidden_size, a.num_labels, torch.tanh)},
                                lambda m, h: m.classifier(h)),
    "token-classification": (False, lambda a: {"classifier": nn.Linear(a.hidden_size, a.num_labels)}, lambda m, h: m.classifier(h)),
    "question-answering": (False, lambda a: {"qa_outputs": nn.Linear(a.hidden_size, 2)}, lambda m, h: m.qa_outputs(h)),
    "masked-lm": (False, lambda a: {"lm_head": _lm_head(a)}, lambda m, h: m.lm_head(h)),
    "multiple-choice": (True, lambda a: {"classifier": nn.Linear(a.hidden_size, 1)}, lambda m, h: m.classifier(m.roberta.pooler(h))),
}

def build(a: Args, task: str) -> TaskModel:
    pooled, heads, run = HEADS[task]
    return TaskModel(PREFIX, RobertaModel(a, pooler=pooled), heads(a), run)


def sanitize(state: dict, a: Args) -> dict:
    from autocli.models._weights import fold_alias

    fold_alias(state, "lm_head.bias", "lm_head.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state


def uses_token_type_ids(a: Args) -> bool:
    return a.type_vocab_size > 1


def max_length(a: Args) -> int:
    return a.max_position_embeddings  # the loader takes off the registry's position offset
