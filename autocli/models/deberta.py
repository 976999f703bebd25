"""DeBERTa v1 (model_type "deberta"): post-norm encoder with the first disentangled attention.

Differences from deberta-v2: one fused `in_proj` (no bias) with separate `q_bias`/`v_bias`, plain
(unbucketed) relative distances clipped to the sequence length, position projections of their own
(`pos_proj` for c2p, `pos_q_proj` for p2c), optional talking heads (linear mixes across heads before and
after the softmax), and a LayerNorm computed in float32. No multiple-choice head in transformers (the registry
row has none). The blocks, heads and checkpoint clean-up shared with v2 are in _deberta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.models import _deberta
from autocli.models._attention import attend, merge_heads, padding_mask, split_heads
from autocli.models._deberta import Embeddings, Layer
from autocli.models._task import TaskModel


@dataclass
class Args(_deberta.DebertaArgs):
    talking_head: bool = False
    vocab_size: int = 50265


# --- blocks --------------------------------------------------------------------------------------

class LayerNorm(nn.LayerNorm):
    """DeBERTa's LayerNorm: normalised in float32 whatever the compute dtype, then scaled in it."""

    def forward(self, x):
        y = F.layer_norm(x.float(), self.normalized_shape, None, None, self.eps).to(x.dtype)
        return self.weight * y + self.bias


class DisentangledSelfAttention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        H = a.hidden_size
        self.num_heads = a.num_attention_heads
        self.in_proj = nn.Linear(H, 3 * H, bias=False)  # per head: [q | k | v] rows, head after head
        self.q_bias = nn.Parameter(torch.zeros(H))
        self.v_bias = nn.Parameter(torch.zeros(H))
        self.c2p = "c2p" in a.pos_att_type
        self.p2c = "p2c" in a.pos_att_type
        self.relative = a.relative_attention
        self.max_relative_positions = a.max_relative_positions
        if a.talking_head:
            self.head_logits_proj = nn.Linear(self.num_heads, self.num_heads, bias=False)
            self.head_weights_proj = nn.Linear(self.num_heads, self.num_heads, bias=False)
        if self.relative:
            if self.c2p:
                self.pos_proj = nn.Linear(H, H, bias=False)
            if self.p2c:
                self.pos_q_proj = nn.Linear(H, H)
        # v1 counts every pos_att_type entry in the scale (v2 counts only c2p and p2c)
        self.scale = math.sqrt((H // self.num_heads) * (1 + len(a.pos_att_type)))

    def forward(self, x, mask, rel):
        q, k, v = split_heads(self.in_proj(x), self.num_heads).chunk(3, dim=-1)  # (B, nh, T, hd) each
        q = (q + split_heads(self.q_bias.view(1, 1, -1), self.num_heads)) / self.scale
        v = v + split_heads(self.v_bias.view(1, 1, -1), self.num_heads)
        bias = self.position_bias(q, k, rel) if self.relative and rel is not None and (self.c2p or self.p2c) else None
        if hasattr(self, "head_logits_proj"):
            return merge_heads(self.talking_heads(q, k, v, bias, mask))
        if bias is not None:  # masked_fill, not +: finfo.min plus a bias may overflow to -inf in half precision
            mask = bias if mask is None else bias.masked_fill(mask != 0, torch.finfo(bias.dtype).min)
        return merge_heads(attend(q, k, v, mask, 1.0))  # (B, T, H)

    def position_bias(self, q, k, rel):
        """c2p + p2c over distances clipped to ±min(T, max_relative_positions); q is already scaled."""
        B, nh, T, _ = q.shape
        rel_emb, c2p_idx, p2c_idx = rel
        R = rel_emb.shape[0]
        score = 0
        if self.c2p:
            pos_k = self.pos_proj(rel_emb).view(R, nh, -1).transpose(0, 1)  # (nh, R, hd)
            score = torch.gather(torch.matmul(q, pos_k.transpose(-1, -2)), -1, c2p_idx.expand(B, nh, T, T))
        if self.p2c:
            pos_q = self.pos_q_proj(rel_emb).view(R, nh, -1).transpose(0, 1) / self.scale  # (nh, R, hd)
            p2c = torch.matmul(k, pos_q.transpose(-1, -2))  # (B, nh, T, R)
            score = score + torch.gather(p2c, -1, p2c_idx.expand(B, nh, T, T)).transpose(-1, -2)
        return score  # (B, nh, T, T)

    def talking_heads(self, q, k, v, bias, mask):
        scores = torch.matmul(q, k.transpose(-1, -2))  # (B, nh, T, T)
        if bias is not None:
            scores = scores + bias
        scores = self.head_logits_proj(scores.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # mix heads
        if mask is not None:
            scores = scores.masked_fill(mask != 0, torch.finfo(scores.dtype).min)
        probs = self.head_weights_proj(scores.softmax(-1).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return torch.matmul(probs, v)  # (B, nh, T, hd)


class Encoder(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.layer = nn.ModuleList(Layer(a, DisentangledSelfAttention(a), LayerNorm) for _ in range(a.num_hidden_layers))
        if a.relative_attention:
            self.rel_embeddings = nn.Embedding(2 * a.max_relative_positions, a.hidden_size)

    def relative_inputs(self, T: int, device):
        """The 2·span embedding rows around distance 0 and gather indices; span = min(T, max_relative_positions)."""
        if not self.a.relative_attention:
            return None
        mrp = self.a.max_relative_positions
        span = min(T, mrp)
        ids = torch.arange(T, device=device)
        rel = ids[:, None] - ids[None, :]  # (T, T)
        rows = self.rel_embeddings.weight[mrp - span: mrp + span]  # (2·span, H)
        return rows, torch.clamp(rel + span, 0, 2 * span - 1), torch.clamp(-rel + span, 0, 2 * span - 1)

    def forward(self, x, attention_mask):
        mask = padding_mask(attention_mask, x.dtype)  # (B, 1, 1, T) additive, or None
        rel = self.relative_inputs(x.shape[1], x.device)
        for layer in self.layer:
            x = layer(x, mask, rel)
        return x  # (B, T, H)


HEADS = _deberta.HEADS


def build(a: Args, task: str) -> TaskModel:
    return _deberta.build(a, task, Embeddings(a, LayerNorm), Encoder(a))


sanitize = _deberta.sanitize
