"""LayoutLM (model_type "layoutlm"): BERT whose embeddings also add each token's box on the page.

Every token carries a box (x0, y0, x1, y1) on a 0-1000 grid; the embeddings add x_position_embeddings of x0
and x1, y_position_embeddings of y0 and y1, and the box's height and width embeddings to BERT's word +
position + token type sum. The encoder, pooler and heads are BERT's, under `layoutlm.` and `cls.` /
`classifier` / `qa_outputs` as transformers' LayoutLMFor* keep them.

The document families' task model (DocumentModel, shared with layoutlmv3) takes
forward(input_ids, attention_mask, token_type_ids=None, bbox=None, pixel_values=None); a missing bbox is
all zeros, as in transformers, so the text tasks' plumbing runs these models too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.models import bert
from autocli.models._attention import padding_mask
from autocli.models._encoder import POOLED, SHARED_HEADS, Embeddings, EncoderModel, encoder
from autocli.models._heads import Pooler
from autocli.models._layers import activation
from autocli.models._task import Inputs, TaskModel

PREFIX = "layoutlm"


@dataclass
class Args(bert.Args):
    max_2d_position_embeddings: int = 1024
    pad_token_id: int = 0


class DocumentModel(TaskModel):
    """A TaskModel whose backbone also reads token boxes (and, for v3, page pixels)."""

    def forward(self, input_ids, attention_mask, token_type_ids=None, bbox=None, pixel_values=None):
        x = Inputs(input_ids, attention_mask, token_type_ids)
        x.bbox, x.pixel_values = bbox, pixel_values
        return self.run(self, self.hidden(x), x)

    def hidden(self, x: Inputs):
        bbox = getattr(x, "bbox", None)
        if bbox is None:
            bbox = torch.zeros(x.ids.shape + (4,), dtype=torch.long, device=x.ids.device)  # (B, T, 4)
        return self.backbone(x.ids, x.mask, x.types, bbox, getattr(x, "pixel_values", None))  # (B, T', H)


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


HEADS = {
    **SHARED_HEADS,
    "sequence-classification": bert.HEADS["sequence-classification"],
    "masked-lm": bert.HEADS["masked-lm"],
}


def build(a: Args, task: str) -> DocumentModel:
    return DocumentModel.of("encoder", PREFIX, backbone(a, pooler=task in POOLED), HEADS[task], a)


sanitize = bert.sanitize
