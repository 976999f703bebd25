"""Shared math for every family: activations by config name, norms, masks, attention.

Each function here is written to give the same numbers as the transformers module it stands in for
(activations exactly as transformers' ACT2FN), so families compose them without re-deriving the math.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from autocli.errors import Unsupported


# --- activations: config name -> function, as transformers' ACT2FN --------------------------------

def _gelu_tanh_python(x):
    return x * 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _gelu_python(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _gelu_fast(x):
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def _gelu_accurate(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def _laplace(x, mu=0.707107, sigma=0.282095):
    x = (x - mu).div(sigma * math.sqrt(2.0))
    return 0.5 * (1.0 + torch.erf(x))


def _relu2(x):
    return torch.square(F.relu(x))


ACTIVATIONS = {
    "gelu": F.gelu,  # erf form
    "gelu_10": lambda x: torch.clip(F.gelu(x), -10, 10),
    "gelu_fast": _gelu_fast,
    "gelu_new": _gelu_new,
    "gelu_python": _gelu_python,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_python_tanh": _gelu_tanh_python,
    "gelu_accurate": _gelu_accurate,
    "hardswish": F.hardswish,
    "laplace": _laplace,
    "leaky_relu": F.leaky_relu,
    "linear": lambda x: x,
    "mish": F.mish,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": F.relu,
    "relu2": _relu2,
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "sqrtsoftplus": lambda x: F.softplus(x).sqrt(),
    "swish": F.silu,
    "tanh": torch.tanh,
}


def activation(name, where: str = "hidden_act"):
    """The activation a config names; an unknown (or parametrised) one is refused, never replaced."""
    fn = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if fn is None:
        raise Unsupported(
            f"{where} {name!r} is not supported",
            f"supported activations: {', '.join(sorted(ACTIVATIONS))}",
        )
    return fn


# --- norms ---------------------------------------------------------------------------------------

LayerNorm = nn.LayerNorm  # same module, same key names (weight, bias)


class RMSNorm(nn.Module):
    """x / rms(x) * weight, computed in float32 and cast back (LLaMA-style)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


# --- masks and attention -------------------------------------------------------------------------

def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, T) 1/0 mask -> additive (B, 1, 1, T) mask for SDPA; None when nothing is padded.

    Additive with finfo.min (not -inf, not boolean) so a row that is all padding still gives finite
    numbers instead of NaN, as transformers does.
    """
    if attention_mask is None or bool(attention_mask.all()):
        return None
    keep = attention_mask[:, None, None, :].to(torch.bool)  # (B, 1, 1, T)
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    return torch.where(keep, zero, torch.finfo(dtype).min)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    B, T, _ = x.shape
    return x.view(B, T, num_heads, -1).transpose(1, 2)  # (B, nh, T, hd)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, nh, T, hd = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hd)  # (B, T, nh*hd)


def attention(q, k, v, mask=None, *, scale: float | None = None, is_causal: bool = False) -> torch.Tensor:
    """q (B, nh, T, hd), k/v (B, nkv, S, hd); mask additive or boolean, broadcastable to (B, nh, T, S).

    Grouped-query attention: k/v heads are repeated to match q's, as transformers does.
    """
    if k.shape[1] != q.shape[1]:
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal and mask is None, scale=scale)


# --- the post-norm encoder with BERT's key names (bert, roberta, electra and their variants) ----

class Embeddings(nn.Module):
    """BERT's absolute embeddings: word + token type + position (0..T-1), then LayerNorm (also ALBERT's and
    ELECTRA's, whose `dim` is embedding_size)."""

    def __init__(self, vocab: int, positions: int, types: int, dim: int, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(positions, dim)
        self.token_type_embeddings = nn.Embedding(types, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, input_ids, token_type_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(positions))  # (B, T, dim)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        q = split_heads(self.query(x), self.num_heads)  # (B, nh, T, hd)
        k = split_heads(self.key(x), self.num_heads)
        v = split_heads(self.value(x), self.num_heads)
        return merge_heads(attention(q, k, v, mask))  # (B, T, H)


class AddNorm(nn.Module):
    """dense -> residual add -> LayerNorm (BERT's SelfOutput and Output)."""

    def __init__(self, d_in: int, hidden: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(d_in, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class AttentionBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float):
        super().__init__()
        self.self = SelfAttention(hidden, heads)
        self.output = AddNorm(hidden, hidden, eps)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, inner: int, act):
        super().__init__()
        self.dense = nn.Linear(hidden, inner)
        self.act = act

    def forward(self, x):
        return self.act(self.dense(x))  # (B, T, I)


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int, act, eps: float):
        super().__init__()
        self.attention = AttentionBlock(hidden, heads, eps)
        self.intermediate = Intermediate(hidden, inner, act)
        self.output = AddNorm(inner, hidden, eps)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)  # (B, T, H)


class Encoder(nn.Module):
    def __init__(self, layers: int, hidden: int, heads: int, inner: int, act, eps: float):
        super().__init__()
        self.layer = nn.ModuleList(EncoderLayer(hidden, heads, inner, act, eps) for _ in range(layers))

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x
