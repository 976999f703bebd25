"""DeBERTa v1 (model_type "deberta"): post-norm encoder with the first disentangled attention.

Differences from deberta-v2: one fused `in_proj` (no bias) with separate `q_bias`/`v_bias`, plain
(unbucketed) relative distances clipped to the sequence length, position projections of their own
(`pos_proj` for c2p, `pos_q_proj` for p2c), optional talking heads (linear mixes across heads before and
after the softmax), and a LayerNorm computed in float32. No multiple-choice head in transformers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint
from autocli.models import deberta_v2
from autocli.models._heads import TaskModel
from autocli.models._layers import activation, merge_heads, padding_mask

PREFIX = "deberta"


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
    embedding_size: int
    position_biased_input: bool
    relative_attention: bool
    pos_att_type: tuple
    max_relative_positions: int  # resolved: max_position_embeddings when the config says < 1
    talking_head: bool
    pooler_hidden_size: int
    pooler_hidden_act: str
    legacy: bool
    tie_word_embeddings: bool
    num_labels: int

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        hidden = _int(r, "hidden_size", 768)
        heads = _int(r, "num_attention_heads", 12)
        if hidden % heads:
            raise InvalidCheckpoint(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}", "the config is inconsistent")
        max_pos = _int(r, "max_position_embeddings", 512)
        max_rel = _int(r, "max_relative_positions", -1, low=-(1 << 31))
        pos_att = r.get("pos_att_type")
        if isinstance(pos_att, str):
            pos_att = [x.strip() for x in pos_att.lower().split("|")]
        if pos_att is not None and not (isinstance(pos_att, list) and all(isinstance(x, str) for x in pos_att)):
            raise InvalidCheckpoint(f"config.json: pos_att_type is {pos_att!r}", 'use a list such as ["p2c", "c2p"]')
        return cls(
            vocab_size=_int(r, "vocab_size", 50265),
            hidden_size=hidden,
            num_hidden_layers=_int(r, "num_hidden_layers", 12),
            num_attention_heads=heads,
            intermediate_size=_int(r, "intermediate_size", 3072),
            hidden_act=r.get("hidden_act", "gelu"),
            max_position_embeddings=max_pos,
            type_vocab_size=_int(r, "type_vocab_size", 0, low=0),
            layer_norm_eps=_float(r, "layer_norm_eps", 1e-7),
            embedding_size=_int(r, "embedding_size", hidden),
            position_biased_input=bool(r.get("position_biased_input", True)),
            relative_attention=bool(r.get("relative_attention", False)),
            pos_att_type=tuple(pos_att or ()),
            max_relative_positions=max_rel if max_rel >= 1 else max_pos,
            talking_head=bool(r.get("talking_head", False)),
            pooler_hidden_size=_int(r, "pooler_hidden_size", hidden),
            pooler_hidden_act=r.get("pooler_hidden_act", "gelu"),
            legacy=bool(r.get("legacy", True)),
            tie_word_embeddings=bool(r.get("tie_word_embeddings", True)) or not r.get("legacy", True),
            num_labels=cfg.num_labels,
        )


def _float(r: dict, key: str, default: float) -> float:
    value = r.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", f"{key} must be a positive number")
    return float(value)


def _int(r: dict, key: str, default: int, low: int = 1) -> int:
    value = r.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", f"{key} must be an integer >= {low}")
    return value


# --- blocks --------------------------------------------------------------------------------------

class LayerNorm(nn.LayerNorm):
    """DeBERTa's LayerNorm: normalised in float32 whatever the compute dtype, then scaled in it."""

    def forward(self, x):
        y = F.layer_norm(x.float(), self.normalized_shape, None, None, self.eps).to(x.dtype)
        return self.weight * y + self.bias


class Embeddings(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.word_embeddings = nn.Embedding(a.vocab_size, a.embedding_size)
        if a.position_biased_input:
            self.position_embeddings = nn.Embedding(a.max_position_embeddings, a.embedding_size)
        if a.type_vocab_size > 0:
            self.token_type_embeddings = nn.Embedding(a.type_vocab_size, a.embedding_size)
        if a.embedding_size != a.hidden_size:
            self.embed_proj = nn.Linear(a.embedding_size, a.hidden_size, bias=False)
        self.LayerNorm = LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, input_ids, token_type_ids, mask):
        x = self.word_embeddings(input_ids)  # (B, T, E)
        if hasattr(self, "position_embeddings"):
            x = x + self.position_embeddings(torch.arange(input_ids.shape[1], device=input_ids.device))
        if hasattr(self, "token_type_embeddings"):
            types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            x = x + self.token_type_embeddings(types)
        if hasattr(self, "embed_proj"):
            x = self.embed_proj(x)  # (B, T, H)
        return self.LayerNorm(x) * mask[..., None].to(x.dtype)  # padding rows zeroed, as transformers


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

    def heads(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, -1).transpose(1, 2)  # (B, nh, T, d)

    def forward(self, x, mask, rel):
        q, k, v = self.heads(self.in_proj(x)).chunk(3, dim=-1)  # (B, nh, T, hd) each
        q = (q + self.heads(self.q_bias.view(1, 1, -1))) / self.scale
        v = v + self.heads(self.v_bias.view(1, 1, -1))
        bias = self.position_bias(q, k, rel) if self.relative and rel is not None and (self.c2p or self.p2c) else None
        if hasattr(self, "head_logits_proj"):
            return merge_heads(self.talking_heads(q, k, v, bias, mask))
        if bias is not None:  # masked_fill, not +: finfo.min plus a bias may overflow to -inf in half precision
            mask = bias if mask is None else bias.masked_fill(mask != 0, torch.finfo(bias.dtype).min)
        return merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0))  # (B, T, H)

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


class SelfOutput(nn.Module):
    """dense -> residual add -> LayerNorm (DeBERTa's SelfOutput and Output)."""

    def __init__(self, d_in: int, a: Args):
        super().__init__()
        self.dense = nn.Linear(d_in, a.hidden_size)
        self.LayerNorm = LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.self = DisentangledSelfAttention(a)
        self.output = SelfOutput(a.hidden_size, a)

    def forward(self, x, mask, rel):
        return self.output(self.self(x, mask, rel), x)


class Intermediate(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.hidden_size, a.intermediate_size)
        self.act = activation(a.hidden_act)

    def forward(self, x):
        return self.act(self.dense(x))  # (B, T, I)


class Layer(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.attention = Attention(a)
        self.intermediate = Intermediate(a)
        self.output = SelfOutput(a.intermediate_size, a)

    def forward(self, x, mask, rel):
        x = self.attention(x, mask, rel)
        return self.output(self.intermediate(x), x)  # (B, T, H)


class Encoder(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.layer = nn.ModuleList(Layer(a) for _ in range(a.num_hidden_layers))
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


class DebertaModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.embeddings = Embeddings(a)
        self.encoder = Encoder(a)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, attention_mask)
        return self.encoder(x, attention_mask)  # (B, T, H)


# --- heads: DeBERTa-v2's, less multiple choice (transformers has no DebertaForMultipleChoice) -------------

HEADS = {task: spec for task, spec in deberta_v2.HEADS.items() if task != "multiple-choice"}
sanitize = deberta_v2.sanitize  # the same key names: positions a model never reads, new-style MLM keys


def build(a: Args, task: str) -> TaskModel:
    heads, run = HEADS[task]
    return TaskModel(PREFIX, DebertaModel(a), heads(a), run)


def uses_token_type_ids(a: Args) -> bool:
    return a.type_vocab_size > 1


def max_length(a: Args) -> int:
    return a.max_position_embeddings
