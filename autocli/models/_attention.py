"""Masks and attention for every family: one attend() whatever the mask's form, the cache or the head layout.

A mask is one of: None (attend to all), "causal" (SDPA's own causal path), a boolean (B, 1, T, S) where True
means "may attend", or an additive float tensor broadcastable to (B, nh, T, S) (0 or finfo.min, plus any
position bias, as transformers' eager path adds them).
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F


def exporting() -> bool:
    """Whether torch.onnx.export is tracing. torch.onnx is imported by then; asking it otherwise would import it."""
    onnx = sys.modules.get("torch.onnx")
    return onnx is not None and onnx.is_in_onnx_export()


# --- masks ---------------------------------------------------------------------------------------

def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, S) 1/0 -> additive (B, 1, 1, S); None when nothing is padded.

    finfo.min, not -inf: a row that is all padding still gives finite numbers instead of NaN, as transformers.
    """
    if attention_mask is None or (not torch.compiler.is_compiling() and bool(attention_mask.all())):
        return None  # a traced graph keeps the mask: whether rows are padded is only known when it runs
    if exporting():  # BERT's form, fused by ONNX Runtime's optimizer: the same 0 / finfo.min for a 0/1 mask
        return (1 - attention_mask.unsqueeze(1).unsqueeze(2).to(dtype)) * torch.finfo(dtype).min  # (B, 1, 1, S)
    keep = attention_mask[:, None, None, :].to(torch.bool)  # (B, 1, 1, S)
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    return torch.where(keep, zero, torch.finfo(dtype).min)


def causal_mask(T: int, S: int, dtype: torch.dtype, device) -> torch.Tensor | None:
    """(1, 1, T, S) additive mask for T queries that are the last T of S positions; None for one query."""
    if T == 1:
        return None
    q = torch.arange(S - T, S, device=device)[:, None]
    k = torch.arange(S, device=device)[None, :]
    return torch.zeros((), dtype=dtype, device=device).masked_fill(k > q, torch.finfo(dtype).min)[None, None]


def add(*masks):
    """Sum of the additive masks/biases that are not None (broadcasting), or None."""
    out = None
    for m in masks:
        if m is not None:
            out = m if out is None else out + m
    return out


# --- heads ---------------------------------------------------------------------------------------

def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, num_heads, C // num_heads).transpose(1, 2)  # (B, nh, T, hd): hd spelled out for graph optimizers


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, nh, T, hd = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hd)  # (B, T, nh*hd)


# --- attention -----------------------------------------------------------------------------------

def attend(q, k, v, mask=None, scale: float | None = None, softcap: float | None = None) -> torch.Tensor:
    """q (B, nh, T, hd), k/v (B, nkv, S, hd) with nh a multiple of nkv (grouped-query) -> (B, nh, T, hd).

    softcap (Gemma 2) bounds the scores, cap * tanh(scores / cap), before the mask: SDPA cannot, so those
    models take the explicit path.
    """
    one_cpu = q.shape[2] == 1 and q.device.type == "cpu"
    if one_cpu and (mask is not None or softcap is not None or q.dtype != torch.float32):
        return _attend_one(q, k, v, mask, q.shape[-1] ** -0.5 if scale is None else scale, softcap)
    if softcap is not None:
        return _attend_capped(q, k, v, mask, scale, softcap)
    gqa = k.shape[1] != q.shape[1]
    if exporting() and not gqa and (mask is None or (torch.is_tensor(mask) and mask.dtype == q.dtype)):
        return _attend_exported(q, k, v, mask, scale)
    if isinstance(mask, str):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=gqa)
    if mask is not None and mask.dtype != torch.bool and mask.dtype != q.dtype:
        mask = mask.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)


def _attend_exported(q, k, v, mask, scale: float | None):
    """SDPA written out as BERT's eager attention (q @ kᵀ / √hd + mask, softmax, @ v), while exporting to ONNX:
    the pattern ONNX Runtime's optimizer fuses into one Attention node (SDPA's own export scales q and k
    apart, which it does not match)."""
    scores = torch.matmul(q, k.transpose(-1, -2))  # (B, nh, T, S)
    scores = scores / math.sqrt(q.shape[-1]) if scale is None else scores * scale
    if mask is not None:
        scores = scores + mask
    return torch.matmul(scores.softmax(-1), v)  # (B, nh, T, hd)


def _attend_one(q, k, v, mask, scale: float, softcap: float | None = None):
    """One query per row (decoding) with a mask, 16-bit or soft-capped: a few small ops instead of SDPA's
    per-call setup, which costs more than the arithmetic here (float32 without a mask: SDPA's one-query path
    is faster). Query heads sharing a KV head are grouped, so K/V are never repeated."""
    B, nh, _, hd = q.shape
    nkv, S = k.shape[1], k.shape[2]
    dtype = q.dtype
    grouped = nkv != nh
    if grouped:
        q = q.reshape(B, nkv, nh // nkv, hd)  # (B, nkv, g, hd)
    if dtype != torch.float32:  # small 16-bit matmul kernels are slow on CPU; these tensors are tiny
        q, k, v = q.float(), k.float(), v.float()
    if scale != 1.0:
        q = q * scale
    scores = torch.matmul(q, k.transpose(-1, -2))  # (B, nkv, g, S)
    if softcap is not None:
        scores = soft_cap(scores, softcap)
    if isinstance(mask, torch.Tensor):
        if grouped and mask.shape[1] != 1:
            mask = mask.reshape(mask.shape[0], nkv, -1, S)
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    y = torch.matmul(scores.softmax(-1), v)  # (B, nkv, g, hd)
    if grouped:
        y = y.reshape(B, nh, 1, hd)
    return y if dtype == torch.float32 else y.to(dtype)


def _attend_capped(q, k, v, mask, scale, softcap):
    """Attention with soft-capped scores, written out as transformers' eager path computes it."""
    T, S, hd = q.shape[2], k.shape[2], q.shape[3]
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)  # (B, nh, S, hd)
    scores = soft_cap(q @ k.transpose(2, 3) * (hd ** -0.5 if scale is None else scale), softcap)  # (B, nh, T, S)
    if isinstance(mask, str):
        mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)  # (T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return scores.softmax(-1, dtype=torch.float32).to(q.dtype) @ v  # (B, nh, T, hd)


def soft_cap(x: torch.Tensor, cap: float) -> torch.Tensor:
    return torch.tanh(x / cap) * cap
