"""LayoutLMv3 (model_type "layoutlmv3"): text tokens with their boxes, then the page's patches, through one
post-norm encoder with spatial-aware relative attention bias.

  text      RoBERTa's embeddings (positions count real tokens from pad_token_id + 1) plus the box: x0, y0, x1,
            y1 embeddings of coordinate_size and height, width of shape_size, concatenated (4c + 2s = hidden)
  image     pixel_values (B, C, H, W) -> conv patches (patch_embed.proj) -> [cls_token] + patches -> + pos_embed
            -> `norm`; appended after the text, with every patch its own box on the 0-1000 grid, and the whole
            sequence through `LayerNorm`
  bias      shared by every layer: a bucketed 1-D relative position bias (rel_pos_bias: positions 0..T-1 for the
            text, 0..P for the image) and, with has_spatial_attention_bias, 2-D ones on x0 (rel_pos_x_bias) and
            y1 (rel_pos_y_bias), T5's buckets, divided by sqrt(head_dim), added to the scores
Layers are BERT's (autocli.models._encoder). Heads as LayoutLMv3For*: sequence classification is dense -> tanh ->
out_proj on the first token; token classification reads the text tokens only, through a linear `classifier`
below 10 labels and a classification head from 10 on; QA's `qa_outputs` is a classification head over every
position (text and image), as in transformers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._args import EncoderArgs
from autocli.models._attention import add, padding_mask
from autocli.models._encoder import SHARED_HEADS, Embeddings, Encoder, EncoderLayer
from autocli.models._heads import ClassificationHead
from autocli.models._layers import activation
from autocli.models._layout import DocumentModel
from autocli.models._task import Head, first_token

PREFIX = "layoutlmv3"
PAGE = 1000  # boxes are on a 0-1000 grid


@dataclass
class Args(EncoderArgs):
    coordinate_size: int = 128
    has_relative_attention_bias: bool = True
    has_spatial_attention_bias: bool = True
    input_size: int = 224
    layer_norm_eps: float = 1e-5
    max_2d_position_embeddings: int = 1024
    max_rel_2d_pos: int = 256
    max_rel_pos: int = 128
    num_channels: int = 3
    pad_token_id: int = 1
    patch_size: int = 16
    rel_2d_pos_bins: int = 64
    rel_pos_bins: int = 32
    shape_size: int = 128
    text_embed: bool = True
    visual_embed: bool = True
    vocab_size: int = 50265

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        if not self.text_embed:
            raise Unsupported("layoutlmv3 without text embeddings (text_embed false) is not supported", "autocli runs documents with words")
        if 4 * self.coordinate_size + 2 * self.shape_size != self.hidden_size:
            raise InvalidCheckpoint(f"4 * coordinate_size + 2 * shape_size = {4 * self.coordinate_size + 2 * self.shape_size} "
                                    f"is not hidden_size {self.hidden_size}", "the config is inconsistent")
        self.positive("patch_size", "input_size", "rel_pos_bins", "rel_2d_pos_bins", "max_rel_pos", "max_rel_2d_pos")
        if self.input_size % self.patch_size:
            raise InvalidCheckpoint(f"input_size {self.input_size} is not a multiple of patch_size {self.patch_size}", "the config is inconsistent")
        if not 0 <= self.pad_token_id < self.max_position_embeddings - 1:
            raise Unsupported(f"pad_token_id {self.pad_token_id!r} cannot be the position offset", "set pad_token_id in config.json")


class TextEmbeddings(Embeddings):
    """RoBERTa's embeddings + the box embeddings, concatenated (transformers' LayoutLMv3TextEmbeddings)."""

    def __init__(self, a: Args):
        super().__init__(a.vocab_size, a.max_position_embeddings, a.type_vocab_size, a.hidden_size, a.layer_norm_eps,
                         padding_idx=a.pad_token_id)
        for axis, dim in (("x", a.coordinate_size), ("y", a.coordinate_size), ("h", a.shape_size), ("w", a.shape_size)):
            setattr(self, f"{axis}_position_embeddings", nn.Embedding(a.max_2d_position_embeddings, dim))

    def forward(self, input_ids, token_type_ids, bbox):
        real = input_ids.ne(self.padding_idx).int()  # (B, T)
        positions = (torch.cumsum(real, dim=1) * real + self.padding_idx).long()  # (B, T)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(positions)
        spatial = torch.cat([
            self.x_position_embeddings(bbox[..., 0]), self.y_position_embeddings(bbox[..., 1]),
            self.x_position_embeddings(bbox[..., 2]), self.y_position_embeddings(bbox[..., 3]),
            self.h_position_embeddings((bbox[..., 3] - bbox[..., 1]).clamp(0, 1023)),
            self.w_position_embeddings((bbox[..., 2] - bbox[..., 0]).clamp(0, 1023)),
        ], dim=-1)  # (B, T, H)
        return self.LayerNorm(x + spatial)  # (B, T, H)


def bucket(relative: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bidirectional bucket of each relative position, as transformers' relative_position_bucket."""
    half = num_buckets // 2
    out = (relative > 0).long() * half
    n = relative.abs()
    exact = half // 2
    large = exact + (torch.log(n.float() / exact) / math.log(max_distance / exact) * (half - exact)).to(torch.long)
    large = large.clamp(max=half - 1)
    return out + torch.where(n < exact, n, large)


def relative_bias(positions: torch.Tensor, weight: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """positions (B, S) -> (B, nh, S, S): weight (nh, buckets) at the bucket of positions[key] - positions[query]."""
    table = weight[:, bucket(torch.arange(-max_distance, max_distance + 1, device=positions.device), num_buckets, max_distance)]  # (nh, 2d+1)
    p = positions.int()
    idx = (p.unsqueeze(-2) - p.unsqueeze(-1)).clamp(-max_distance, max_distance) + max_distance  # (B, S, S)
    return table.index_select(1, idx.flatten().long()).view(-1, *idx.shape).transpose(0, 1)  # (B, nh, S, S)


class BiasedEncoder(Encoder):
    """`encoder`: the layers, and the relative-position bias tables every layer shares."""

    def __init__(self, a: Args):
        act = activation(a.hidden_act)
        super().__init__(EncoderLayer(a.hidden_size, a.num_attention_heads, a.intermediate_size, act, a.layer_norm_eps)
                         for _ in range(a.num_hidden_layers))
        self.a = a
        if a.has_relative_attention_bias:
            self.rel_pos_bias = nn.Linear(a.rel_pos_bins, a.num_attention_heads, bias=False)
        if a.has_spatial_attention_bias:
            self.rel_pos_x_bias = nn.Linear(a.rel_2d_pos_bins, a.num_attention_heads, bias=False)
            self.rel_pos_y_bias = nn.Linear(a.rel_2d_pos_bins, a.num_attention_heads, bias=False)

    def position_bias(self, positions, bbox):
        """(B, nh, S, S), or None: the 2-D bias is only ever used with the 1-D one."""
        a = self.a
        if not a.has_relative_attention_bias:
            return None
        bias = relative_bias(positions, self.rel_pos_bias.weight, a.rel_pos_bins, a.max_rel_pos)
        if a.has_spatial_attention_bias:
            bias = bias + relative_bias(bbox[..., 0], self.rel_pos_x_bias.weight, a.rel_2d_pos_bins, a.max_rel_2d_pos)
            bias = bias + relative_bias(bbox[..., 3], self.rel_pos_y_bias.weight, a.rel_2d_pos_bins, a.max_rel_2d_pos)
        return bias / math.sqrt(a.hidden_size // a.num_attention_heads)


class PatchEmbed(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.proj = nn.Conv2d(a.num_channels, a.hidden_size, kernel_size=a.patch_size, stride=a.patch_size)

    def forward(self, pixel_values):
        return self.proj(pixel_values).flatten(2).transpose(1, 2)  # (B, P, H)


def patch_boxes(side: int) -> torch.Tensor:
    """(1 + side*side, 4): the CLS token's box [1, 1, 999, 999], then each patch's cell of the 0-1000 grid."""
    edges = torch.div(torch.arange(0, PAGE * (side + 1), PAGE), side, rounding_mode="trunc")  # (side + 1,)
    x0, y0 = edges[:-1].repeat(side, 1), edges[:-1].repeat(side, 1).t()  # (side, side)
    x1, y1 = edges[1:].repeat(side, 1), edges[1:].repeat(side, 1).t()
    cells = torch.stack([x0, y0, x1, y1], dim=-1).view(-1, 4)
    return torch.cat([torch.tensor([[1, 1, PAGE - 1, PAGE - 1]]), cells])


class V3Model(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.embeddings = TextEmbeddings(a)
        if a.visual_embed:
            side = a.input_size // a.patch_size
            self.patch_embed = PatchEmbed(a)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, a.hidden_size))
            self.pos_embed = nn.Parameter(torch.zeros(1, side * side + 1, a.hidden_size))
            self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
            self.norm = nn.LayerNorm(a.hidden_size, eps=1e-6)
        self.encoder = BiasedEncoder(a)

    def image(self, pixel_values):
        patches = self.patch_embed(pixel_values)  # (B, P, H)
        if patches.shape[1] + 1 != self.pos_embed.shape[1]:
            raise InvalidCheckpoint(f"the page image gives {patches.shape[1]} patches, the model has position embeddings for "
                                    f"{self.pos_embed.shape[1] - 1}", f"the image processor's size must be input_size {self.a.input_size}")
        x = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1) + self.pos_embed  # (B, 1+P, H)
        return self.norm(x)

    def forward(self, input_ids, attention_mask, token_type_ids=None, bbox=None, pixel_values=None):
        B, T = input_ids.shape
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, bbox)  # (B, T, H)
        positions = torch.arange(T, device=x.device).expand(B, T)  # (B, T)
        if pixel_values is not None and self.a.visual_embed:
            v = self.image(pixel_values.to(x.dtype))  # (B, 1+P, H)
            P = v.shape[1]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(B, P)], dim=1)  # (B, S)
            cells = patch_boxes(self.a.input_size // self.a.patch_size).to(bbox.device, bbox.dtype)  # (P, 4)
            bbox = torch.cat([bbox, cells.expand(B, -1, -1)], dim=1)  # (B, S, 4)
            positions = torch.cat([positions, torch.arange(P, device=x.device).expand(B, P)], dim=1)  # (B, S)
            x = self.LayerNorm(torch.cat([x, v], dim=1))  # (B, S, H)
        bias = self.encoder.position_bias(positions, bbox)  # (B, nh, S, S) or None
        return self.encoder(x, add(padding_mask(attention_mask, x.dtype), bias))  # (B, S, H)


def text_tokens(name: str):
    """The head module `name` on the text tokens only (the image's patches follow them) -> (B, T, L)."""
    def run(m, h, x):
        return getattr(m, name)(h[:, :x.ids.shape[1]])
    return run


def token_classifier(a: Args):
    if a.num_labels < 10:
        return nn.Linear(a.hidden_size, a.num_labels)
    return ClassificationHead(a.hidden_size, a.num_labels, torch.tanh)


HEADS = {
    "base": SHARED_HEADS["base"],
    "sequence-classification": Head(lambda a: {"classifier": ClassificationHead(a.hidden_size, a.num_labels, torch.tanh)},
                                    first_token("classifier")),
    "token-classification": Head(lambda a: {"classifier": token_classifier(a)}, text_tokens("classifier")),
    "question-answering": Head(lambda a: {"qa_outputs": ClassificationHead(a.hidden_size, 2, torch.tanh)},
                               lambda m, h, x: m.qa_outputs(h)),
}


def build(a: Args, task: str) -> DocumentModel:
    return DocumentModel.of("encoder", PREFIX, V3Model(a), HEADS[task], a)
