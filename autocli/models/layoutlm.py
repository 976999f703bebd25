"""LayoutLM (model_type "layoutlm"): BERT whose embeddings also add each token's box on the page.

Every token carries a box (x0, y0, x1, y1) on a 0-1000 grid; the embeddings add x_position_embeddings of x0
and x1, y_position_embeddings of y0 and y1, and the box's height and width embeddings to BERT's word +
position + token type sum. The encoder, pooler and heads are BERT's, under `layoutlm.` and `cls.` /
`classifier` / `qa_outputs` as transformers' LayoutLMFor* keep them.

The task model is _layout.DocumentModel: forward(input_ids, attention_mask, token_type_ids, bbox, pixel_values).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.models._args import EncoderArgs
from autocli.models._attention import padding_mask
from autocli.models._encoder import POOLED, SHARED_HEADS, Embeddings, EncoderModel, encoder, pooled
from autocli.models._heads import Pooler, Predictions
from autocli.models._layers import activation
from autocli.models._layout import DocumentModel
from autocli.models._task import Head, labels, linear_head

PREFIX = "layoutlm"


@dataclass
class Args(EncoderArgs):
    max_2d_position_embeddings: int = 1024
    pad_token_id: int = 0
    tie_word_embeddings: bool = True


class LayoutEmbeddings(Embeddings):
    """BERT's embeddings plus the 2-D ones: left/right share x_, top/bottom share y_, then height and width."""

    def __init__(self, a: Args):
        super().__init__(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.hidden_size, a.layer_norm_eps)
        for axis in "xyhw":
            setattr(self, f"{axis}_position_embeddings", nn.Embedding(a.max_2d_position_embeddings, a.hidden_size))

    def forward(self, input_ids, token_type_ids, bbox):
        T = input_ids.shape[1]
        x = self.word_embeddings(input_ids) + self.position_embeddings(torch.arange(T, device=input_ids.device))  # (B, T, H)
        x = x + self.x_position_embeddings(bbox[..., 0]) + self.y_position_embeddings(bbox[..., 1])
        x = x + self.x_position_embeddings(bbox[..., 2]) + self.y_position_embeddings(bbox[..., 3])
        x = x + self.h_position_embeddings(bbox[..., 3] - bbox[..., 1]) + self.w_position_embeddings(bbox[..., 2] - bbox[..., 0])
        return self.LayerNorm(x + self.token_type_embeddings(token_type_ids))  # (B, T, H)


class LayoutModel(EncoderModel):
    def forward(self, input_ids, attention_mask, token_type_ids=None, bbox=None, pixel_values=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, bbox)  # (B, T, H)
        return self.encoder(x, padding_mask(attention_mask, x.dtype))  # (B, T, H)


def backbone(a: Args, pooler: bool) -> LayoutModel:
    return LayoutModel(LayoutEmbeddings(a), encoder(a, activation(a.hidden_act)), Pooler(a.hidden_size) if pooler else None)


class MLMHead(nn.Module):
    """`cls.`: transformers' LayoutLMOnlyMLMHead, BERT's prediction head."""

    def __init__(self, a: Args):
        super().__init__()
        self.predictions = Predictions(a.hidden_size, a.hidden_size, a.vocab_size, activation(a.hidden_act), a.layer_norm_eps)


HEADS = {
    **SHARED_HEADS,
    "sequence-classification": linear_head("classifier", "hidden_size", labels, pooled),
    "masked-lm": Head(lambda a: {"cls": MLMHead(a)}, lambda m, h, x: m.cls.predictions(h)),
}


def build(a: Args, task: str) -> DocumentModel:
    return DocumentModel.of("encoder", PREFIX, backbone(a, pooler=task in POOLED), HEADS[task], a)


def sanitize(state: dict, a: Args) -> dict:
    # the decoder bias is saved as `cls.predictions.bias` and `cls.predictions.decoder.bias`; untied, the latter counts
    from autocli.models._weights import fold_alias

    fold_alias(state, "cls.predictions.bias", "cls.predictions.decoder.bias", prefer_alias=not a.tie_word_embeddings)
    return state
