"""DeBERTa-v2 and v3 (model_type "deberta-v2"): post-norm encoder with disentangled attention.

Each score adds to content->content (q·k) the content->position (q·r_k) and position->content (k·r_q)
terms read from shared relative-position embeddings, over log-bucketed distances (`position_buckets`),
all scaled by sqrt(head_dim * (1 + number of position terms)). v3 shares the q/k projections with the
position terms (`share_att_key`) and layer-norms the relative embeddings (`norm_rel_ebd`); v2-xlarge adds a
convolution beside the first layer. Heads as transformers' DebertaV2For*: classification and multiple
choice read a ContextPooler (`pooler.dense` over the first token), masked LM `cls.predictions` (legacy) or
`lm_predictions.lm_head` (the same math with the decoder tied; the registry renames one onto the other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._heads import TaskModel
from autocli.models._layers import activation, merge_heads, padding_mask, split_heads

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
    position_buckets: int
    share_att_key: bool
    norm_rel_ebd: tuple
    conv_kernel_size: int
    conv_groups: int
    conv_act: str
    pooler_hidden_size: int
    pooler_hidden_act: str
    legacy: bool
    tie_word_embeddings: bool
    num_labels: int

    @classmethod
    def from_config(cls, cfg: Config) -> "Args":
        r = cfg.raw
        hidden = _int(r, "hidden_size", 1536)
        heads = _int(r, "num_attention_heads", 24)
        if hidden % heads:
            raise InvalidCheckpoint(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}", "the config is inconsistent")
        head_size = _int(r, "attention_head_size", hidden // heads)
        if head_size * heads != hidden:
            raise Unsupported(f"attention_head_size {head_size} x {heads} heads != hidden_size {hidden}", "transformers cannot run this config either")
        max_pos = _int(r, "max_position_embeddings", 512)
        max_rel = _int(r, "max_relative_positions", -1, low=-(1 << 31))
        max_rel = max_rel if max_rel >= 1 else max_pos  # < 1 means "as many as the absolute positions"
        kernel = _int(r, "conv_kernel_size", 0, low=0)
        if kernel and kernel % 2 == 0:
            raise Unsupported(f"conv_kernel_size {kernel} is even; the convolution would change the sequence length", "only odd kernel sizes keep positions aligned")
        groups = _int(r, "conv_groups", 1)
        if kernel and hidden % groups:
            raise InvalidCheckpoint(f"config.json: conv_groups {groups} does not divide hidden_size {hidden}", "the config is inconsistent")
        pooler = _int(r, "pooler_hidden_size", hidden)
        buckets = _int(r, "position_buckets", -1, low=-(1 << 31))
        if buckets == 1:
            raise InvalidCheckpoint("config.json: position_buckets is 1", "use -1 (no buckets) or at least 2")
        return cls(
            vocab_size=_int(r, "vocab_size", 128100),
            hidden_size=hidden,
            num_hidden_layers=_int(r, "num_hidden_layers", 24),
            num_attention_heads=heads,
            intermediate_size=_int(r, "intermediate_size", 6144),
            hidden_act=r.get("hidden_act", "gelu"),
            max_position_embeddings=max_pos,
            type_vocab_size=_int(r, "type_vocab_size", 0, low=0),
            layer_norm_eps=_float(r, "layer_norm_eps", 1e-7),
            embedding_size=_int(r, "embedding_size", hidden),
            position_biased_input=bool(r.get("position_biased_input", True)),
            relative_attention=bool(r.get("relative_attention", False)),
            pos_att_type=pos_att_types(r.get("pos_att_type")),
            max_relative_positions=max_rel,
            position_buckets=buckets,
            share_att_key=bool(r.get("share_att_key", False)),
            norm_rel_ebd=tuple(x.strip() for x in str(r.get("norm_rel_ebd", "none")).lower().split("|")),
            conv_kernel_size=kernel,
            conv_groups=groups,
            conv_act=r.get("conv_act", "tanh"),
            pooler_hidden_size=pooler,
            pooler_hidden_act=r.get("pooler_hidden_act", "gelu"),
            legacy=bool(r.get("legacy", True)),
            # the new-style head always multiplies by the word embeddings, whatever tie_word_embeddings says
            tie_word_embeddings=bool(r.get("tie_word_embeddings", True)) or not r.get("legacy", True),
            num_labels=cfg.num_labels,
        )

    @property
    def att_span(self) -> int:
        """Half the number of relative-embedding rows the attention reads."""
        return self.position_buckets if self.position_buckets > 0 else self.max_relative_positions


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


def pos_att_types(value) -> tuple:
    """`pos_att_type` as transformers reads it: a list, or an old "p2c|c2p" string (lower-cased)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(x.strip() for x in value.lower().split("|"))
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return tuple(value)
    raise InvalidCheckpoint(f"config.json: pos_att_type is {value!r}", 'use a list such as ["p2c", "c2p"]')


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
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

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
        return merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0 / self.scale))  # (B, T, H)

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


class SelfOutput(nn.Module):
    """dense -> residual add -> LayerNorm (DeBERTa's SelfOutput and Output)."""

    def __init__(self, d_in: int, a: Args):
        super().__init__()
        self.dense = nn.Linear(d_in, a.hidden_size)
        self.LayerNorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

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
        self.layer = nn.ModuleList(Layer(a) for _ in range(a.num_hidden_layers))
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


class DebertaV2Model(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.embeddings = Embeddings(a)
        self.encoder = Encoder(a)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, attention_mask)
        return self.encoder(x, attention_mask)  # (B, T, H)


# --- heads ---------------------------------------------------------------------------------------

class ContextPooler(nn.Module):
    """act(dense(first token)); its activation is pooler_hidden_act (gelu by default, not BERT's tanh)."""

    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.pooler_hidden_size, a.pooler_hidden_size)
        self.act = activation(a.pooler_hidden_act, "pooler_hidden_act")

    def forward(self, h):
        return self.act(self.dense(h[:, 0]))  # (B, H)


class PredictionTransform(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.hidden_size, a.embedding_size)
        self.act = activation(a.hidden_act)
        self.LayerNorm = nn.LayerNorm(a.embedding_size, eps=a.layer_norm_eps)

    def forward(self, h):
        return self.LayerNorm(self.act(self.dense(h)))  # (B, T, E)


class Predictions(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.transform = PredictionTransform(a)
        self.decoder = nn.Linear(a.embedding_size, a.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(a.vocab_size))

    def forward(self, h):
        return F.linear(self.transform(h), self.decoder.weight, self.bias)  # (B, T, V)


class MLMHead(nn.Module):
    """`cls.`; the new-style `lm_predictions.lm_head` is the same math and is renamed onto it."""

    def __init__(self, a: Args):
        super().__init__()
        self.predictions = Predictions(a)


def _pooled_classifier(a: Args, n: int) -> dict:
    if a.pooler_hidden_size != a.hidden_size:
        raise Unsupported(f"pooler_hidden_size {a.pooler_hidden_size} != hidden_size {a.hidden_size}", "transformers cannot run this config either")
    return {"pooler": ContextPooler(a), "classifier": nn.Linear(a.hidden_size, n)}


def _mlm(a: Args) -> dict:
    if not a.legacy and a.embedding_size != a.hidden_size:
        raise Unsupported("the non-legacy masked-LM head needs embedding_size == hidden_size", "transformers cannot run this config either")
    return {"cls": MLMHead(a)}


# task -> (head modules, output)
HEADS = {
    "base": (lambda a: {}, lambda m, h: h),
    "sequence-classification": (lambda a: _pooled_classifier(a, a.num_labels), lambda m, h: m.classifier(m.pooler(h))),
    "token-classification": (lambda a: {"classifier": nn.Linear(a.hidden_size, a.num_labels)}, lambda m, h: m.classifier(h)),
    "question-answering": (lambda a: {"qa_outputs": nn.Linear(a.hidden_size, 2)}, lambda m, h: m.qa_outputs(h)),
    "masked-lm": (_mlm, lambda m, h: m.cls.predictions(h)),
    "multiple-choice": (lambda a: _pooled_classifier(a, 1), lambda m, h: m.classifier(m.pooler(h))),
}

# In real checkpoints but unused by transformers' model (its _keys_to_ignore_on_load_unexpected): the RTD
# head of v3 discriminators, and absolute positions a `position_biased_input: false` model never reads.
RTD_HEAD = "mask_predictions."
POSITIONS = ("deberta.embeddings.position_embeddings.", "embeddings.position_embeddings.")


def build(a: Args, task: str) -> TaskModel:
    heads, run = HEADS[task]
    return TaskModel(PREFIX, DebertaV2Model(a), heads(a), run)


def sanitize(state: dict, a: Args) -> dict:
    from autocli.models._weights import fold_alias

    unused = (RTD_HEAD,) if a.position_biased_input else (RTD_HEAD, *POSITIONS)
    for key in [k for k in state if k.startswith(unused)]:
        state.pop(key)
    # decoder.bias is an alias of cls.predictions.bias; untied, transformers' forward reads decoder.bias
    fold_alias(state, "cls.predictions.bias", "cls.predictions.decoder.bias", prefer_alias=a.legacy and not a.tie_word_embeddings)
    return state


def uses_token_type_ids(a: Args) -> bool:
    return a.type_vocab_size > 1


def max_length(a: Args) -> int:
    return a.max_position_embeddings
