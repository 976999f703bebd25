"""What every decoder family shares besides attention (autocli.models._attention.attend, re-exported here):
activations and norms in their fastest exact form, and projections whose weight layout suits the kernel
that runs them.

A backbone is called as backbone(input_ids (B, T), step) -> hidden (B, T, H), where the Step
(autocli.models._cache) carries position ids, masks and the cache (None outside generation).
Decoding is batch-1 matrix-vector products plus many tiny ops, so before the first decode the
projections are re-laid for the matrix-vector kernel autocli.kernels picks and q/k/v (and gate/up)
are fused into one product each; both keep the checkpoint's names and add no memory (except a packed
head tied to the embedding: the embedding keeps the dense weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli import kernels
from autocli.config import Config
from autocli.models import _layers
from autocli.models._args import ConfigArgs, check_heads
from autocli.models._attention import attend, soft_cap  # noqa: F401  (attend: where decoder families look for it)


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
    """A projection whose weight is stored [out, in] or [in, out], run by the kernel that suits the layout.

    kernel (autocli.kernels): LINEAR (F.linear over [out, in], the checkpoint layout of nn.Linear), MATMUL
    (x @ W over [in, out]: MKL streams float32 faster so at one row, while bfloat16 x @ W collapses ~20x),
    ONEDNN (oneDNN's inner product over [out, in]) or PACKED (oneDNN over its opaque packed copy of
    [out, in]). relayout() switches once, before decoding; PACKED weights are packed by pack() after fusion,
    and a part that fusion took into one packed weight keeps only a meta placeholder and `fused_into`.
    dense() gives the values back in every layout, so state_dict() and a later relayout see plain tensors.
    """

    kernel = kernels.LINEAR
    fused_into = None  # (packed fused weight [sum out, in], first row of this part) under PACKED

    @property
    def in_out(self) -> bool:
        return self.kernel == kernels.MATMUL

    def dense(self) -> torch.Tensor:
        """The weight as a plain tensor: [in, out] under MATMUL, else [out, in]."""
        if self.fused_into is not None:
            packed, start = self.fused_into
            return kernels.unpack(packed).narrow(0, start, self.weight.shape[0])
        return kernels.unpack(self.weight) if self.weight.is_mkldnn else self.weight.detach()

    def relayout(self, kernel: str) -> None:
        if kernel == self.kernel:
            return
        w, moved = self.dense(), self.weight.is_mkldnn or self.fused_into is not None
        if (kernel == kernels.MATMUL) != self.in_out:
            w, moved = w.t().contiguous(), True
        if moved:
            self.weight = nn.Parameter(w, requires_grad=False)
        self.kernel, self.fused_into = kernel, None

    def pack(self) -> None:
        """A PACKED projection that no fusion took: its own packed copy (the dense one is freed unless
        another module holds it: a head tied to the embedding)."""
        if self.kernel == kernels.PACKED and self.fused_into is None and not self.weight.is_mkldnn:
            self.weight = nn.Parameter(kernels.pack(self.weight.detach()), requires_grad=False)

    def forward(self, x):
        return project(x, self.weight, self.bias, self.kernel)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.kernel == kernels.PACKED:
            destination[prefix + "weight"] = self.dense()


class Linear(_Layout, nn.Linear):
    """nn.Linear (checkpoint layout [out, in]) that generation may re-lay [in, out]."""


class Conv1D(_Layout, nn.Module):
    """GPT-2's projection: the checkpoint stores it [in, out]."""

    kernel = kernels.MATMUL

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


def project(x, weight, bias, kernel: str):
    """x (..., in) -> (..., out) with weight [out, in] (LINEAR, ONEDNN), [in, out] (MATMUL) or packed (PACKED)."""
    if kernel == kernels.LINEAR:
        return F.linear(x, weight, bias)
    if kernel == kernels.ONEDNN or kernel == kernels.PACKED:
        return kernels.onednn_linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])
    y = flat @ weight if bias is None else torch.addmm(bias, flat, weight)
    return y.view(*x.shape[:-1], y.shape[-1])  # (..., out)


def fuse(*parts: _Layout, done: tuple | None = None) -> tuple | None:
    """Projections of one input as one matrix (q/k/v, gate/up): one kernel call instead of several per
    decoding step. Each part's weight becomes a view into the fused one, so no memory is added; under
    PACKED the fused weight is packed and the parts keep placeholders (_Layout.dense() reads them back).
    Returns (weight, bias, kernel) for project(), or None when the parts cannot be fused; `done`, an earlier
    fusion, is kept while the parts' kernel is the same."""
    kernel, in_out = parts[0].kernel, parts[0].in_out
    if done is not None and done[2] == kernel:
        return done
    with_bias = parts[0].bias is not None
    if any(p.kernel != kernel or (p.bias is not None) != with_bias for p in parts):
        return None
    dim = 1 if in_out else 0  # the output dimension
    weight = torch.cat([p.dense() for p in parts], dim=dim)
    bias = torch.cat([p.bias.detach() for p in parts]) if with_bias else None
    packed = kernels.pack(weight) if kernel == kernels.PACKED else None
    start = 0
    for p in parts:
        n = p.weight.shape[dim]
        if packed is None:
            p.weight = nn.Parameter(weight.narrow(dim, start, n), requires_grad=False)
        else:  # the rows live in the packed weight only
            p.weight = nn.Parameter(torch.empty_like(p.weight, device="meta"), requires_grad=False)
            p.fused_into = (packed, start)
        if with_bias:
            p.bias = nn.Parameter(bias.narrow(0, start, n), requires_grad=False)
        start += n
    return (weight if packed is None else packed), bias, kernel


class FeedForward(nn.Module):
    """up -> act -> down (the GPT-style MLP) under the names a family's checkpoints use: names = (up, down)."""

    def __init__(self, names: tuple[str, str], up: nn.Module, down: nn.Module, act):
        super().__init__()
        self.names = names
        setattr(self, names[0], up)
        setattr(self, names[1], down)
        self.act = act

    def forward(self, x):
        up, down = self.names
        return getattr(self, down)(self.act(getattr(self, up)(x)))


# --- GPT-2's settings -----------------------------------------------------------------------------

@dataclass
class GPTArgs(ConfigArgs):
    """What GPT-2 and GPT-J name alike (GPT-2's defaults): their settings, checks, norms and MLP."""

    activation_function: str = "gelu_new"
    layer_norm_epsilon: float = 1e-5
    n_embd: int = 768
    n_head: int = 12
    n_inner: int | None = None  # None: 4 * n_embd
    n_layer: int = 12
    n_positions: int = 1024
    tie_word_embeddings: bool = True
    vocab_size: int = 50257

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def check(self, cfg: Config) -> None:
        check_heads(self.n_embd, self.n_head, "n_embd {} is not a multiple of n_head {}")
        activation(self.activation_function, "activation_function")
        self.n_inner = self.n_inner or 4 * self.n_embd

    def norm(self) -> nn.LayerNorm:
        return nn.LayerNorm(self.n_embd, eps=self.layer_norm_epsilon)

    def mlp(self, names: tuple[str, str], proj) -> FeedForward:
        """up -> activation_function -> down, under the checkpoint's names, made of the family's projections."""
        return FeedForward(names, proj(self.n_embd, self.n_inner), proj(self.n_inner, self.n_embd), activation(self.activation_function))


# --- backbones ----------------------------------------------------------------------------------

class Backbone(nn.Module):
    """What every decoder backbone has besides its modules (named as its checkpoints name them): its Args
    (`a`), the shape of its generation cache (layers, key/value heads, head_dim), and the pass of the hidden
    states through its layers.

    A family whose blocks take their queries and residual rows as the last step.length rows of their input
    sets `tails`: its last layer then runs queries, MLP and norms only at step.outputs_from and after (a
    strided loss scores only a window's last tokens), and the backbone returns those rows alone."""

    tails = False

    def __init__(self, a, cache_shape: tuple[int, int, int]):
        super().__init__()
        self.a, self.kv_shape = a, cache_shape

    def cache_shape(self) -> tuple[int, int, int]:
        return self.kv_shape

    def blocks(self, x, step, layers, rotary=None):
        """x (B, T, H) through each layer; with rotary, each gets the cos/sin of the step's positions.
        -> (B, T, H), or (B, T - step.outputs_from, H) where the family has `tails`."""
        angles = () if rotary is None else (rotary, *rotary.cos_sin(step.positions, x.dtype))  # cos/sin (B, 1, T, rot)
        last = step.tail() if self.tails and step.outputs_from else step
        for i, layer in enumerate(layers):
            x = layer(x, last if i == len(layers) - 1 else step, *angles)
        return x


# --- laying out a loaded model ------------------------------------------------------------------

def lay_out_for_decoding(model: nn.Module, kernel: str) -> None:
    """Each projection run by `kernel` in its layout; q/k/v and gate/up fused (then packed: one packing each)."""
    layouts = [sub for sub in model.modules() if isinstance(sub, _Layout)]
    for sub in layouts:
        sub.relayout(kernel)
    for sub in model.modules():
        if hasattr(sub, "fuse_for_decoding"):
            sub.fuse_for_decoding()
    for sub in layouts:
        sub.pack()


def relayout_loaded(model: nn.Module) -> None:
    """After loading: GPT-2's [in, out] weights in bf16/fp16 would hit the collapsing x @ W kernel."""
    for sub in model.modules():
        if isinstance(sub, Conv1D) and sub.weight.dtype != torch.float32:
            sub.relayout(kernels.LINEAR)
