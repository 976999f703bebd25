"""DeBERTa-v2 and v3 (model_type "deberta-v2"): post-norm encoder with disentangled attention.

Each score adds to content->content (q·k) the content->position (q·r_k) and position->content (k·r_q)
terms read from shared relative-position embeddings, over log-bucketed distances (`position_buckets`),
all scaled by sqrt(head_dim * (1 + number of position terms)). v3 shares the q/k projections with the
position terms (`share_att_key`) and layer-norms the relative embeddings (`norm_rel_ebd`); v2-xlarge adds a
convolution beside the first layer. Heads as transformers' DebertaV2For*: classification and multiple
choice read a ContextPooler (`pooler.dense` over the first token), masked LM `cls.predictions` (legacy) or
`lm_predictions.lm_head` (the same math with the decoder tied; the registry renames one onto the other).
The blocks, heads and checkpoint clean-up shared with DeBERTa v1 are in _deberta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models import _deberta
from autocli.models._attention import attend, merge_heads, padding_mask, split_heads
from autocli.models._deberta import Embeddings, Layer
from autocli.models._layers import activation
from autocli.models._task import TaskModel


@dataclass
class Args(_deberta.DebertaArgs):
    attention_head_size: int | None = None  # None: hidden_size / num_attention_heads
    conv_act: str = "tanh"
    conv_groups: int = 1
    conv_kernel_size: int = 0
    hidden_size: int = 1536
    intermediate_size: int = 6144
    norm_rel_ebd: str | tuple = "none"  # "layer_norm", ... joined by "|": read as a tuple
    num_attention_heads: int = 24
    num_hidden_layers: int = 24
    position_buckets: int = -1
    share_att_key: bool = False
    vocab_size: int = 128100

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        hidden, heads = self.hidden_size, self.num_attention_heads
        self.positive("attention_head_size", "conv_groups")
        self.at_least(0, "conv_kernel_size")
        if (self.attention_head_size or hidden // heads) * heads != hidden:
            raise Unsupported(f"attention_head_size {self.attention_head_size} x {heads} heads != hidden_size {hidden}", "transformers cannot run this config either")
        kernel, groups = self.conv_kernel_size, self.conv_groups
        if kernel and kernel % 2 == 0:
            raise Unsupported(f"conv_kernel_size {kernel} is even; the convolution would change the sequence length", "only odd kernel sizes keep positions aligned")
        if kernel and hidden % groups:
            raise InvalidCheckpoint(f"config.json: conv_groups {groups} does not divide hidden_size {hidden}", "the config is inconsistent")
        if self.position_buckets == 1:
            raise InvalidCheckpoint("config.json: position_buckets is 1", "use -1 (no buckets) or at least 2")
        self.norm_rel_ebd = tuple(x.strip() for x in str(self.norm_rel_ebd).lower().split("|"))

    @property
    def att_span(self) -> int:
        """Half the number of relative-embedding rows the attention reads."""
        return self.position_buckets if self.position_buckets > 0 else self.max_relative_positions


# --- relative positions --------------------------------------------------------------------------

def log_buckets(rel: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """Distances beyond bucket_size/2 share log-spaced buckets (same float ops as transformers, so the
    ceil() lands on the same side)."""
    sign = torch.sign(rel)
    mid = bucket_size // 2
    abs_pos = torch.where((rel < mid) & (rel > -mid), torch.tensor(mid - 1).type_as(rel), torch.abs(rel))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, rel.type_as(log_pos), log_pos * sign).long()


def relative_positions(T: int, a: Args, device) -> torch.Tensor:
    ids = torch.arange(T, dtype=torch.long, device=device)
    rel = ids[:, None] - ids[None, :]  # (T, T): query i minus key j
    if a.position_buckets > 0 and a.max_relative_positions > 0:
        rel = log_buckets(rel, a.position_buckets, a.max_relative_positions)
    return rel


# --- blocks --------------------------------------------------------------------------------------

class DisentangledSelfAttention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        H = a.hidden_size
        self.num_heads = a.num_attention_heads
        self.query_proj = nn.Linear(H, H)
        self.key_proj = nn.Linear(H, H)
        self.value_proj = nn.Linear(H, H)
        self.c2p = "c2p" in a.pos_att_type
        self.p2c = "p2c" in a.pos_att_type
        self.relative = a.relative_attention
        self.share_att_key = a.share_att_key
        if self.relative and not self.share_att_key:
            if self.c2p:
                self.pos_key_proj = nn.Linear(H, H)
            if self.p2c:
                self.pos_query_proj = nn.Linear(H, H)
        # transformers counts the position terms in the scale even when relative_attention is off
        self.scale = math.sqrt((H // self.num_heads) * (1 + self.c2p + self.p2c))

    def forward(self, x, mask, rel):
        q = split_heads(self.query_proj(x), self.num_heads)  # (B, nh, T, hd)
        k = split_heads(self.key_proj(x), self.num_heads)
        v = split_heads(self.value_proj(x), self.num_heads)
        if self.relative and (self.c2p or self.p2c):
            bias = self.position_bias(q, k, *rel)  # (B, nh, T, T)
            # masked_fill, not +: finfo.min plus a bias may overflow to -inf in half precision
            mask = bias if mask is None else bias.masked_fill(mask != 0, torch.finfo(bias.dtype).min)
        return merge_heads(attend(q, k, v, mask, 1.0 / self.scale))  # (B, T, H)

    def position_bias(self, q, k, rel_emb, c2p_idx, p2c_idx):
        """(c2p + p2c) / scale. rel_emb (R, H) holds only the embedding rows the indices (T, T) reach."""
        B, nh, T, _ = q.shape
        R = rel_emb.shape[0]
        score = 0
        if self.c2p:
            proj = self.key_proj if self.share_att_key else self.pos_key_proj
            pos_k = proj(rel_emb).view(R, nh, -1).transpose(0, 1)  # (nh, R, hd)
            c2p = torch.matmul(q, pos_k.transpose(-1, -2))  # (B, nh, T, R)
            score = torch.gather(c2p, -1, c2p_idx.expand(B, nh, T, T))  # [i, j] = q_i · r_k(δ(i, j))
        if self.p2c:
            proj = self.query_proj if self.share_att_key else self.pos_query_proj
            pos_q = proj(rel_emb).view(R, nh, -1).transpose(0, 1)  # (nh, R, hd)
            p2c = torch.matmul(k, pos_q.transpose(-1, -2))  # (B, nh, T, R): key j against each distance
            score = score + torch.gather(p2c, -1, p2c_idx.expand(B, nh, T, T)).transpose(-1, -2)
        return score / self.scale


class ConvLayer(nn.Module):
    """v2-xlarge's convolution over the embeddings, added to the first layer's output."""

    def __init__(self, a: Args):
        super().__init__()
        k = a.conv_kernel_size
        self.conv = nn.Conv1d(a.hidden_size, a.hidden_size, k, padding=(k - 1) // 2, groups=a.conv_groups)
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.act = activation(a.conv_act, "conv_act")

    def forward(self, embedded, layer_out, keep):
        out = self.conv(embedded.transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        out = self.act(out * keep)  # padding columns zeroed before the activation, as transformers
        return self.LayerNorm(layer_out + out) * keep


class Encoder(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.layer = nn.ModuleList(Layer(a, DisentangledSelfAttention(a)) for _ in range(a.num_hidden_layers))
        if a.relative_attention:
            self.rel_embeddings = nn.Embedding(2 * a.att_span, a.hidden_size)
        if "layer_norm" in a.norm_rel_ebd:
            self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        if a.conv_kernel_size > 0:
            self.conv = ConvLayer(a)

    def relative_inputs(self, T: int, device):
        """Embedding rows and gather indices shared by every layer, cut to the distances a T-token row uses
        (the c2p/p2c products then cost O(T²) instead of O(T · 2·span))."""
        a = self.a
        if not a.relative_attention:
            return None
        span = a.att_span
        rel = relative_positions(T, a, device)  # (T, T)
        c2p = torch.clamp(rel + span, 0, 2 * span - 1)
        p2c = torch.clamp(-rel + span, 0, 2 * span - 1)
        lo = int(torch.minimum(c2p.min(), p2c.min()))
        hi = int(torch.maximum(c2p.max(), p2c.max())) + 1
        rows = self.rel_embeddings.weight[lo:hi]  # (R, H)
        if hasattr(self, "LayerNorm"):
            rows = self.LayerNorm(rows)
        return rows, c2p - lo, p2c - lo

    def forward(self, x, attention_mask):
        keep = attention_mask[..., None].to(x.dtype)  # (B, T, 1)
        mask = padding_mask(attention_mask, x.dtype)  # (B, 1, 1, T) additive, or None
        rel = self.relative_inputs(x.shape[1], x.device)
        embedded = x
        for i, layer in enumerate(self.layer):
            x = layer(x, mask, rel)
            if i == 0 and hasattr(self, "conv"):
                x = self.conv(embedded, x, keep)
        return x  # (B, T, H)


HEADS = _deberta.HEADS


def build(a: Args, task: str) -> TaskModel:
    return _deberta.build(a, task, Embeddings(a), Encoder(a))


sanitize = _deberta.sanitize
