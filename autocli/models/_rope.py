"""Rotary position embeddings, as transformers' modeling_rope_utils computes them.

One normalised parameter dict per model (from `rope_parameters`, the older `rope_scaling` +
`rope_theta`, or GPT-NeoX's `rotary_pct` / `rotary_emb_base`), inverse frequencies per rope type
(default, linear, dynamic, yarn, llama3, longrope), and the rotation itself: half-split (LLaMA, NeoX) or
interleaved pairs (GPT-J), over the whole head or its first `rotary_dim` channels.
"""

from __future__ import annotations

import math

import torch

from autocli.errors import InvalidCheckpoint, Unsupported

DEFAULT_THETA = 10_000.0
# rope types whose parameters name the context length the model was pretrained with
NEEDS_ORIGINAL_MAX = ("llama3", "yarn", "longrope")


def rope_parameters(raw: dict, defaults: dict | None = None, aliases: dict | None = None) -> dict:
    """The config's rotary settings as one flat dict with rope_type, rope_theta, partial_rotary_factor, ...

    Priority as transformers: `rope_scaling` (legacy), else `rope_parameters`; keys inside the dict win over
    top-level `rope_theta` / `partial_rotary_factor`, which win over the family's defaults. `aliases` renames
    a family's legacy rope type names (Phi-3's "su" is "longrope").
    """
    defaults = defaults or {}
    source = raw.get("rope_scaling") or raw.get("rope_parameters") or {}
    if not isinstance(source, dict):
        raise InvalidCheckpoint(f"config.json: rope settings are {source!r}, not an object", "fix rope_parameters in config.json")
    params = {k: v for k, v in source.items() if v is not None}  # a null setting is an absent one
    if any(isinstance(v, dict) for v in params.values()):
        raise Unsupported("per-layer-type rope_parameters are not supported", "autocli runs one rope setting for all layers")
    params.setdefault("rope_type", params.get("type", "default"))
    params.pop("type", None)
    if not isinstance(params["rope_type"], str):
        raise InvalidCheckpoint(f"config.json: rope type is {params['rope_type']!r}, not a name", "fix rope_parameters in config.json")
    params["rope_type"] = (aliases or {}).get(params["rope_type"], params["rope_type"])
    theta = raw.get("rope_theta", raw.get("rotary_emb_base", defaults.get("rope_theta", DEFAULT_THETA)))
    params.setdefault("rope_theta", theta)
    partial = raw.get("partial_rotary_factor", raw.get("rotary_pct", defaults.get("partial_rotary_factor")))
    if partial is not None:
        params.setdefault("partial_rotary_factor", partial)
    if params["rope_type"] in NEEDS_ORIGINAL_MAX:
        if raw.get("original_max_position_embeddings") is not None:
            params["original_max_position_embeddings"] = raw["original_max_position_embeddings"]
        params.setdefault("original_max_position_embeddings", raw.get("max_position_embeddings"))
    required = ("rope_theta", "original_max_position_embeddings") if params["rope_type"] in NEEDS_ORIGINAL_MAX else ("rope_theta",)
    for key in ("rope_theta", "partial_rotary_factor", "factor", "attention_factor", "original_max_position_embeddings"):
        value = params.get(key)
        if (value is not None or key in required) and not _number(value):
            raise InvalidCheckpoint(f"config.json: rope {key} is {value!r}", "it must be a positive number")
    return params


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < float("inf")


def rotary_dim(params: dict, head_dim: int) -> int:
    return int(head_dim * params.get("partial_rotary_factor", 1.0))


# --- inverse frequencies by rope type: (params, dim, max_positions, seq_len) -> (inv_freq, attention_scaling)

def _base_inv_freq(base: float, dim: int) -> torch.Tensor:
    # on the CPU explicitly: models are built under torch.device("meta"), and this is not a weight
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64, device="cpu").float() / dim))  # (dim/2,)


def _default(p, dim, max_pos, seq_len):
    return _base_inv_freq(p["rope_theta"], dim), 1.0


def _linear(p, dim, max_pos, seq_len):
    return _base_inv_freq(p["rope_theta"], dim) / _factor(p), 1.0


def _dynamic(p, dim, max_pos, seq_len):
    # NTK-aware: the base grows once the sequence runs past the trained length (per forward call)
    factor = _factor(p)
    if seq_len is None or seq_len <= max_pos:
        return _base_inv_freq(p["rope_theta"], dim), 1.0
    seq = torch.tensor(seq_len, device="cpu")  # float32 tensor arithmetic, as transformers does at run time
    base = p["rope_theta"] * ((factor * seq / max_pos) - (factor - 1)) ** (dim / (dim - 2))
    return _base_inv_freq(base, dim), 1.0


def _yarn(p, dim, max_pos, seq_len):
    base = p["rope_theta"]
    original = p["original_max_position_embeddings"]
    factor = p.get("factor")
    if factor is None:
        factor = max_pos / original

    def mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention_factor = p.get("attention_factor")
    if attention_factor is None:
        if p.get("mscale") and p.get("mscale_all_dim"):
            attention_factor = float(mscale(factor, p["mscale"]) / mscale(factor, p["mscale_all_dim"]))
        else:
            attention_factor = mscale(factor)
    beta_fast = p.get("beta_fast") or 32
    beta_slow = p.get("beta_slow") or 1

    def correction_dim(rotations):
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if p.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32, device="cpu") - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2, device="cpu").float() / dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - ramp  # 1: keep the trained frequency, 0: interpolate
    return interpolation * (1 - keep) + extrapolation * keep, attention_factor


def _llama3(p, dim, max_pos, seq_len):
    inv_freq = _base_inv_freq(p["rope_theta"], dim)
    factor, low, high = _factor(p), p["low_freq_factor"], p["high_freq_factor"]
    old_len = p["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_len / low, old_len / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled), 1.0


def _longrope(p, dim, max_pos, seq_len):
    # Phi-3: per-frequency divisors, the long set once the sequence passes the pretrained length
    original = p["original_max_position_embeddings"]
    factor = p.get("factor")
    if factor is None:
        factor = max_pos / original
    attention_factor = p.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    ext = p["long_factor"] if seq_len and seq_len > original else p["short_factor"]
    if not isinstance(ext, list) or len(ext) != dim // 2 or not all(_number(x) for x in ext):
        raise InvalidCheckpoint(f"rope {'long' if ext is p['long_factor'] else 'short'}_factor must be {dim // 2} numbers",
                                "fix rope_parameters in config.json")
    shape = torch.arange(0, dim, 2, dtype=torch.int64, device="cpu").float() / dim  # (dim/2,)
    return 1.0 / (torch.tensor(ext, dtype=torch.float32, device="cpu") * p["rope_theta"] ** shape), attention_factor


def _factor(p) -> float:
    factor = p.get("factor")
    if factor is None:
        raise InvalidCheckpoint(f"rope type {p['rope_type']!r} needs a 'factor'", "add factor to rope_parameters in config.json")
    return float(factor)


INIT = {"default": _default, "linear": _linear, "dynamic": _dynamic, "yarn": _yarn, "llama3": _llama3, "longrope": _longrope}
REQUIRED = {"llama3": ("factor", "low_freq_factor", "high_freq_factor"), "yarn": (), "linear": ("factor",), "dynamic": ("factor",),
            "longrope": ("short_factor", "long_factor")}


class Rotary:
    """cos/sin for positions and their application to q/k (B, nh, T, hd)."""

    def __init__(self, params: dict, head_dim: int, max_positions: int, interleaved: bool = False, dim: int | None = None):
        kind = params["rope_type"]
        if kind not in INIT:
            raise Unsupported(f"rope type {kind!r} is not supported", f"supported rope types: {', '.join(INIT)}")
        for key in REQUIRED.get(kind, ()):
            if params.get(key) is None:
                raise InvalidCheckpoint(f"rope type {kind!r} needs '{key}'", "add it to rope_parameters in config.json")
        self.params, self.kind = params, kind
        self.dim = dim if dim is not None else rotary_dim(params, head_dim)
        if self.dim < 2 or self.dim > head_dim:
            raise InvalidCheckpoint(f"rotary dimension {self.dim} does not fit head_dim {head_dim}", "check partial_rotary_factor / rotary_dim")
        self.max_positions = max_positions
        self.interleaved = interleaved
        self.inv_freq, self.scaling = INIT[kind](params, self.dim, max_positions, None)
        # LongRoPE: past this many positions the long factors apply (see `switch_point`)
        self.switch_point = params["original_max_position_embeddings"] if kind == "longrope" else None
        if self.switch_point is not None:
            self.long_inv_freq, _ = _longrope(params, self.dim, max_positions, self.switch_point + 1)

    def cos_sin(self, positions: torch.Tensor, dtype: torch.dtype):
        """positions (B, T) -> cos, sin (B, 1, T, rot) in dtype, computed in float32 as transformers does.

        sin carries the rotation's signs (see apply), so applying it takes fewer operations per layer.
        """
        inv_freq = self.inv_freq
        if self.kind == "dynamic":
            seq_len = int(positions.max()) + 1
            if seq_len > self.max_positions:
                inv_freq, _ = _dynamic(self.params, self.dim, self.max_positions, seq_len)
        elif self.switch_point is not None and int(positions.max()) + 1 > self.switch_point:
            inv_freq = self.long_inv_freq  # one choice for the whole batch, by its longest row, as transformers
        freqs = positions[..., None].float() * inv_freq.to(positions.device)  # (B, T, rot/2)
        if self.interleaved:
            emb = freqs.repeat_interleave(2, dim=-1)  # (B, T, rot): pairs (2i, 2i+1) share a frequency
        else:
            emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, rot): halves share a frequency
        cos = (emb.cos() * self.scaling).to(dtype)[:, None]  # (B, 1, T, rot)
        sin = (emb.sin() * self.scaling * self._signs(emb.device)).to(dtype)[:, None]
        return cos, sin

    def _signs(self, device) -> torch.Tensor:
        # rotate_half(x) = (-x2, x1) = swap(x) * (-1.., +1..); GPT-J's pairs: (-x1, x0, ...) = swap(x) * (-1, +1, ...)
        half = torch.ones(self.dim // 2, device=device)
        if self.interleaved:
            return torch.stack((-half, half), dim=-1).flatten()  # (rot,)
        return torch.cat((-half, half))  # (rot,)

    def apply(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x (B, nh, T, hd): rotate the first `dim` channels, pass the rest through.

        x * cos + rotate(x) * sin, as transformers writes it, with rotate(x) * sin = swap(x) * signed sin.
        """
        if self.dim == x.shape[-1]:
            return x * cos + self._swap(x) * sin
        rot, rest = x[..., : self.dim], x[..., self.dim :]
        return torch.cat((rot * cos + self._swap(rot) * sin, rest), dim=-1)

    def _swap(self, x: torch.Tensor) -> torch.Tensor:
        if self.interleaved:
            return x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (x1, x0, x3, x2, ...)
        return x.roll(self.dim // 2, dims=-1)  # (x2, x1): the halves swapped
