"""What every decoder family shares: attention over the KV cache, projections whose weight layout
suits the kernel that runs them, and the task model that runs a backbone for one head, with the
prefill/decode steps `generate` uses.

A backbone is called as backbone(input_ids (B, T), step) -> hidden (B, T, H), where the Step
(autocli.models._cache) carries position ids, masks and the cache (None outside generation).
Decoding is batch-1 matrix-vector products plus many tiny ops, so before the first decode the
projections are re-laid for the fastest matrix-vector kernel and q/k/v (and gate/up) are fused
into one product each; both keep the checkpoint's names and add no memory.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from autocli.models import _layers
from autocli.models._cache import KVCache, Step


# --- attention -----------------------------------------------------------------------------------

def attend(q, k, v, mask, scale: float | None = None, softcap: float | None = None) -> torch.Tensor:
    """q (B, nh, T, hd), k/v (B, nkv, S, hd); mask from Step.mask: bool (B, 1, T, S), "causal" or None.

    softcap (Gemma 2) bounds the scores, cap * tanh(scores / cap), before the mask: SDPA cannot, so those
    models take the explicit path.
    """
    if q.shape[2] == 1 and q.device.type == "cpu":
        return _attend_one(q, k, v, mask, scale, softcap)
    if softcap is not None:
        return _attend_capped(q, k, v, mask, scale, softcap)
    gqa = k.shape[1] != q.shape[1]
    if isinstance(mask, str):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=gqa)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)  # (B, nh, T, hd)


def _attend_one(q, k, v, mask, scale, softcap=None):
    """One query per row (decoding): a few small ops instead of SDPA's per-call setup, which costs more than
    the arithmetic here. Query heads sharing a KV head are grouped, so K/V are never repeated."""
    B, nh, _, hd = q.shape
    nkv, S = k.shape[1], k.shape[2]
    dtype = q.dtype
    qg, k, v = q.reshape(B * nkv, nh // nkv, hd), k.reshape(B * nkv, S, hd), v.reshape(B * nkv, S, hd)
    if dtype != torch.float32:  # small 16-bit bmm kernels are slow on CPU; these tensors are tiny
        qg, k, v = qg.float(), k.float(), v.float()
    scores = torch.bmm(qg * (hd ** -0.5 if scale is None else scale), k.transpose(1, 2))  # (B*nkv, g, S)
    if softcap is not None:
        scores = soft_cap(scores, softcap)
    if mask is not None:
        scores = scores.masked_fill(~mask.view(B, 1, S).repeat_interleave(nkv, 0), float("-inf"))
    y = torch.bmm(scores.softmax(-1), v)  # (B*nkv, g, hd)
    return y.view(B, nh, 1, hd).to(dtype)


def _attend_capped(q, k, v, mask, scale, softcap):
    """Attention with soft-capped scores, written out as transformers' eager path computes it."""
    T, S, hd = q.shape[2], k.shape[2], q.shape[3]
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)  # (B, nh, S, hd)
    scores = soft_cap(q @ k.transpose(2, 3) * (hd ** -0.5 if scale is None else scale), softcap)  # (B, nh, T, S)
    if isinstance(mask, str):
        mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)  # (T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1, dtype=torch.float32).to(q.dtype) @ v  # (B, nh, T, hd)


def soft_cap(x: torch.Tensor, cap: float) -> torch.Tensor:
    return torch.tanh(x / cap) * cap


# --- activations and norms -----------------------------------------------------------------------

def activation(name: str, where: str = "hidden_act"):
    """The config's activation; the tanh-approximated GELUs (GPT-2's gelu_new, ...) as torch's fused kernel,
    the same function to 5e-7 and far fewer ops per decoding step."""
    if name in TANH_GELUS:
        return _tanh_gelu
    return _layers.activation(name, where)


TANH_GELUS = ("gelu_new", "gelu_fast", "gelu_accurate", "gelu_pytorch_tanh", "gelu_python_tanh")


def _tanh_gelu(x):
    return F.gelu(x, approximate="tanh")


class RMSNorm(_layers.RMSNorm):
    """_layers.RMSNorm, in float32 through torch's rms_norm: the same numbers, fewer operations per step."""

    def forward(self, x):
        if x.dtype == torch.float32:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        return super().forward(x)  # torch's rms_norm adds casts of its own for 16-bit inputs


class RMSNormPlusOne(nn.Module):
    """Gemma's RMSNorm: the weight is stored as an offset from 1, and the product is taken in float32
    before the cast back (LLaMA's casts first)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * (1.0 + self.weight.float())).to(x.dtype)


# --- projections ---------------------------------------------------------------------------------

class _Layout:
    """A projection whose weight is stored [out, in] (F.linear) or [in, out] (x @ W).

    On CPU, batch-1 matrix-vector products stream float32 weights faster as x @ W with W [in, out],
    while bfloat16 x @ W collapses (~20x slower) and needs [out, in]: relayout() switches once.
    """

    in_out = False

    def relayout(self, in_out: bool) -> None:
        if in_out != self.in_out:
            self.weight = nn.Parameter(self.weight.detach().t().contiguous(), requires_grad=False)
            self.in_out = in_out

    def forward(self, x):
        return project(x, self.weight, self.bias, self.in_out)


class Linear(_Layout, nn.Linear):
    """nn.Linear (checkpoint layout [out, in]) that generation may re-lay [in, out]."""


class Conv1D(_Layout, nn.Module):
    """GPT-2's projection: the checkpoint stores it [in, out]."""

    in_out = True

    def __init__(self, n_in: int, n_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.empty(n_out)) if bias else None


class CappedLinear(Linear):
    """A head whose outputs are soft-capped, cap * tanh(logits / cap) (Gemma 2's final logits)."""

    def __init__(self, n_in: int, n_out: int, cap: float, bias: bool = False):
        super().__init__(n_in, n_out, bias=bias)
        self.cap = cap

    def forward(self, x):
        return soft_cap(super().forward(x), self.cap)


def linear(n_in: int, n_out: int, bias: bool = True) -> Linear:
    return Linear(n_in, n_out, bias=bias)


def project(x, weight, bias, in_out: bool):
    """x (..., in) -> (..., out) with weight [out, in] (F.linear) or [in, out] (x @ W)."""
    if not in_out:
        return F.linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])
    y = flat @ weight if bias is None else torch.addmm(bias, flat, weight)
    return y.view(*x.shape[:-1], y.shape[-1])  # (..., out)


def fuse(*parts: _Layout) -> tuple | None:
    """Projections of one input as one matrix (q/k/v, gate/up): one kernel call instead of several per
    decoding step. Each part's weight becomes a view into the fused one, so no memory is added.
    Returns (weight, bias, in_out) for project(), or None when the parts cannot be fused."""
    in_out = parts[0].in_out
    with_bias = parts[0].bias is not None
    if any(p.in_out != in_out or (p.bias is not None) != with_bias for p in parts):
        return None
    dim = 1 if in_out else 0  # the output dimension
    weight = torch.cat([p.weight.detach() for p in parts], dim=dim)
    bias = torch.cat([p.bias.detach() for p in parts]) if with_bias else None
    start = 0
    for p in parts:
        n = p.weight.shape[dim]
        p.weight = nn.Parameter(weight.narrow(dim, start, n), requires_grad=False)
        if with_bias:
            p.bias = nn.Parameter(bias.narrow(0, start, n), requires_grad=False)
        start += n
    return weight, bias, in_out


# --- heads and the task model --------------------------------------------------------------------

def last_real(x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) at each row's last real token, whichever side the padding is on."""
    T = attention_mask.shape[1]
    idx = (torch.arange(T, device=x.device) * attention_mask.to(x.device).long()).argmax(-1)  # (B,)
    return x[torch.arange(x.shape[0], device=x.device), idx]


# What each task reads off the backbone's hidden states, given the head modules by name.
def run_base(m, h, mask):
    return h  # (B, T, H)


def run_lm(m, h, mask):
    return m.lm_head(h)  # (B, T, V)


def run_pooled(name: str) -> Callable:
    def run(m, h, mask):
        return getattr(m, name)(last_real(h, mask))  # (B, L): scored at the last real token
    return run


def run_per_token(name: str) -> Callable:
    def run(m, h, mask):
        return getattr(m, name)(h)  # (B, T, L)
    return run


class DecoderTask(nn.Module):
    """A decoder backbone under its checkpoint prefix (`self.transformer`, `self.model`) and one task's
    head modules at the top level, where transformers' *For* classes keep them."""

    def __init__(self, prefix: str, backbone: nn.Module, heads: dict[str, nn.Module], run: Callable):
        super().__init__()
        self.prefix = prefix
        setattr(self, prefix, backbone)
        for name, module in heads.items():
            setattr(self, name, module)
        self.run = run
        self.register_load_state_dict_post_hook(_relayout)

    @property
    def backbone(self) -> nn.Module:
        return getattr(self, self.prefix)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        h = self.backbone(input_ids, Step.uncached(attention_mask))  # (B, T, H)
        return self.run(self, h, attention_mask)

    # --- generation: a cache per request, prefill then one token per decode call ---

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        layers, kv_heads, head_dim = self.backbone.cache_shape()
        p = next(self.parameters())
        self.lay_out_for_decoding(p)
        return KVCache(layers, batch, kv_heads, head_dim, capacity, p.dtype, p.device)

    def lay_out_for_decoding(self, p) -> None:
        """Decoding is matrix-vector products: give each projection the layout its kernel streams fastest
        (float32 on CPU: [in, out]; otherwise [out, in]). Done once, when generation first needs it."""
        in_out = p.dtype == torch.float32 and p.device.type == "cpu"
        for sub in self.modules():
            if isinstance(sub, _Layout):
                sub.relayout(in_out)
        for sub in self.modules():
            if hasattr(sub, "fuse_for_decoding"):
                sub.fuse_for_decoding()

    def prefill(self, input_ids, attention_mask, cache: KVCache) -> torch.Tensor:
        """Run the (left-padded) prompt into the cache; logits (B, V) for the token after it."""
        h = self.backbone(input_ids, cache.step(attention_mask))  # (B, T, H)
        return self.lm_head(h[:, -1])  # (B, V)

    def decode(self, tokens, cache: KVCache) -> torch.Tensor:
        """One new token per row (B,) -> logits (B, V) for the next one."""
        ids = tokens.view(-1, 1)  # (B, 1)
        h = self.backbone(ids, cache.step(torch.ones_like(ids)))  # (B, 1, H)
        return self.lm_head(h[:, -1])  # (B, V)


# --- loading -------------------------------------------------------------------------------------

def _relayout(module, incompatible) -> None:
    # after loading: GPT-2's [in, out] weights in bf16/fp16 would hit the collapsing x @ W kernel
    for sub in module.modules():
        if isinstance(sub, Conv1D) and sub.weight.dtype != torch.float32:
            sub.relayout(False)
