"""Shared math for every family: activations by config name and norms (attention: autocli.models._attention).

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
