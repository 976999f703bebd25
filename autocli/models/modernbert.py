"""ModernBERT (model_type "modernbert"): pre-norm encoder with rotary positions and GeGLU, no biases.

Layers alternate between global attention and local attention over a sliding window of
`local_attention` tokens (|i - j| <= local_attention / 2), every `global_attn_every_n_layers`-th layer
global (or as `layer_types` lists them), each kind with its own rope theta. The first layer has no
attention norm; a final norm closes the backbone. Run padded with masks: transformers' unpadded path is
an optimisation with the same results. Heads as transformers' ModernBertFor*: a prediction head
(dense -> act -> norm) then `classifier` (classification pools the first token or the mean, per
`classifier_pooling`) or the `decoder` tied to the token embeddings (masked LM).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.models._args import ConfigArgs, check_heads, derived
from autocli.models._attention import attend, merge_heads
from autocli.models._encoder import SHARED_HEADS
from autocli.models._layers import activation
from autocli.models._rope import Rotary
from autocli.models._task import Head, TaskModel

PREFIX = "model"
LAYER_TYPES = ("full_attention", "sliding_attention")
DEFAULT_THETA = {"full_attention": 160_000.0, "sliding_attention": 10_000.0}


@dataclass
class Args(ConfigArgs):
    attention_bias: bool = False
    classifier_activation: str = "gelu"
    classifier_bias: bool = False
    classifier_pooling: str = "cls"
    decoder_bias: bool = True
    global_attn_every_n_layers: int = 3  # older configs: every n-th layer global, the others sliding
    head_dim: int | None = None  # must be hidden_size / num_attention_heads
    hidden_activation: str = "gelu"
    hidden_size: int = 768
    intermediate_size: int = 1152
    layer_types: tuple | None = None  # one of LAYER_TYPES per layer (transformers 5)
    local_attention: int = 128
    max_position_embeddings: int = 8192
    mlp_bias: bool = False
    norm_bias: bool = False
    norm_eps: float = 1e-5
    num_attention_heads: int = 12
    num_hidden_layers: int = 22
    vocab_size: int = 50368
    rope_theta: dict = derived()  # layer type -> theta

    def check(self, cfg: Config) -> None:
        self.positive("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                      "max_position_embeddings", "norm_eps", "global_attn_every_n_layers", "local_attention")
        check_heads(self.hidden_size, self.num_attention_heads)
        if self.head_dim not in (None, self.hidden_size // self.num_attention_heads):
            raise Unsupported(f"head_dim {self.head_dim} differs from hidden_size / num_attention_heads", "transformers' ModernBERT ties them too")
        if self.classifier_pooling not in ("cls", "mean"):
            raise Unsupported(f"classifier_pooling {self.classifier_pooling!r} is not supported", "ModernBERT pools with 'cls' or 'mean'")
        layers, types = self.num_hidden_layers, self.layer_types
        if types is None:
            types = ["sliding_attention" if i % self.global_attn_every_n_layers else "full_attention" for i in range(layers)]
        if not isinstance(types, list) or len(types) != layers or any(t not in LAYER_TYPES for t in types):
            raise InvalidCheckpoint(f"config.json: layer_types is {types!r}", f"one of {LAYER_TYPES} per layer ({layers})")
        self.layer_types = tuple(types)
        self.rope_theta = rope_thetas(cfg.raw)


def rope_thetas(r: dict) -> dict:
    """Theta per layer type from `rope_parameters` (transformers 5) or global/local_rope_theta (older configs)."""
    if r.get("rope_scaling"):
        raise Unsupported("rope_scaling is not supported for modernbert", "autocli runs ModernBERT's default rotary embeddings")
    params = r.get("rope_parameters") or {}
    if not isinstance(params, dict):
        raise InvalidCheckpoint(f"config.json: rope_parameters is {params!r}", "fix rope_parameters in config.json")
    old = {"full_attention": r.get("global_rope_theta"), "sliding_attention": r.get("local_rope_theta")}
    out = {}
    for kind in LAYER_TYPES:
        p = params.get(kind) or {}
        if not isinstance(p, dict):
            raise InvalidCheckpoint(f"config.json: rope_parameters[{kind!r}] is {p!r}", "fix rope_parameters in config.json")
        if p.get("rope_type", "default") != "default":
            raise Unsupported(f"rope type {p['rope_type']!r} is not supported for modernbert", "autocli runs ModernBERT's default rotary embeddings")
        theta = p.get("rope_theta", old[kind] if old[kind] is not None else DEFAULT_THETA[kind])
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or theta <= 0:
            raise InvalidCheckpoint(f"config.json: rope theta for {kind} is {theta!r}", "it must be a positive number")
        out[kind] = float(theta)
    return out


# --- blocks --------------------------------------------------------------------------------------

def _norm(a: Args) -> nn.LayerNorm:
    return nn.LayerNorm(a.hidden_size, eps=a.norm_eps, bias=a.norm_bias)


class Embeddings(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.tok_embeddings = nn.Embedding(a.vocab_size, a.hidden_size)
        self.norm = _norm(a)

    def forward(self, input_ids):
        return self.norm(self.tok_embeddings(input_ids))  # (B, T, H)


class Attention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.num_heads = a.num_attention_heads
        self.Wqkv = nn.Linear(a.hidden_size, 3 * a.hidden_size, bias=a.attention_bias)
        self.Wo = nn.Linear(a.hidden_size, a.hidden_size, bias=a.attention_bias)

    def forward(self, x, mask, rotary, cos, sin):
        B, T, _ = x.shape
        q, k, v = self.Wqkv(x).view(B, T, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, T, hd)
        q, k = rotary.apply(q, cos, sin), rotary.apply(k, cos, sin)
        return self.Wo(merge_heads(attend(q, k, v, mask)))  # (B, T, H)


class MLP(nn.Module):
    """GeGLU: Wi -> (input, gate) -> act(input) * gate -> Wo."""

    def __init__(self, a: Args):
        super().__init__()
        self.Wi = nn.Linear(a.hidden_size, 2 * a.intermediate_size, bias=a.mlp_bias)
        self.Wo = nn.Linear(a.intermediate_size, a.hidden_size, bias=a.mlp_bias)
        self.act = activation(a.hidden_activation, "hidden_activation")

    def forward(self, x):
        inp, gate = self.Wi(x).chunk(2, dim=-1)  # (B, T, I) each
        return self.Wo(self.act(inp) * gate)


class Layer(nn.Module):
    def __init__(self, a: Args, i: int):
        super().__init__()
        self.attn_norm = _norm(a) if i > 0 else nn.Identity()  # the embeddings' norm serves layer 0
        self.attn = Attention(a)
        self.mlp_norm = _norm(a)
        self.mlp = MLP(a)
        self.kind = a.layer_types[i]

    def forward(self, x, masks, rotary, cos_sin):
        x = x + self.attn(self.attn_norm(x), masks[self.kind], rotary[self.kind], *cos_sin[self.kind])
        return x + self.mlp(self.mlp_norm(x))  # (B, T, H)


class ModernBertModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.embeddings = Embeddings(a)
        self.layers = nn.ModuleList(Layer(a, i) for i in range(a.num_hidden_layers))
        self.final_norm = _norm(a)
        head_dim = a.hidden_size // a.num_attention_heads
        with torch.device("cpu"):  # real frequencies even while the module is built on `meta`
            self.rotary = {kind: Rotary({"rope_type": "default", "rope_theta": theta}, head_dim, a.max_position_embeddings)
                           for kind, theta in a.rope_theta.items()}

    def masks(self, attention_mask, T: int, dtype):
        """Additive masks per layer type (finfo.min, not -inf: a padding row far from any token stays finite)."""
        keep = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
        full = None if bool(keep.all()) else keep
        window = self.a.local_attention // 2
        local = full
        if T - 1 > window:  # shorter rows fit the window whole
            pos = torch.arange(T, device=attention_mask.device)
            near = (pos[:, None] - pos[None, :]).abs() <= window  # (T, T)
            local = near if full is None else keep & near
        zero, low = torch.zeros((), dtype=dtype, device=attention_mask.device), torch.finfo(dtype).min
        return {kind: None if m is None else torch.where(m, zero, low)
                for kind, m in (("full_attention", full), ("sliding_attention", local))}

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        B, T = input_ids.shape
        x = self.embeddings(input_ids)
        masks = self.masks(attention_mask, T, x.dtype)
        positions = torch.arange(T, device=input_ids.device)[None]  # (1, T)
        cos_sin = {kind: r.cos_sin(positions, x.dtype) for kind, r in self.rotary.items()}
        for layer in self.layers:
            x = layer(x, masks, self.rotary, cos_sin)
        return self.final_norm(x)  # (B, T, H)


# --- heads ---------------------------------------------------------------------------------------

class PredictionHead(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.dense = nn.Linear(a.hidden_size, a.hidden_size, bias=a.classifier_bias)
        self.act = activation(a.classifier_activation, "classifier_activation")
        self.norm = _norm(a)

    def forward(self, h):
        return self.norm(self.act(self.dense(h)))


def pool(h, mask, how: str, first: str):
    """(B, T, H) -> (B, H): the mean over real tokens, or the first token (sequence classification takes
    position 0, multiple choice the first unpadded one, as transformers does)."""
    if how == "mean":
        m = mask[..., None].to(h.dtype)  # (B, T, 1)
        return (h * m).sum(1) / m.sum(1)
    if first == "real":
        return h[torch.arange(h.shape[0], device=h.device), mask.argmax(-1)]
    return h[:, 0]


def _classifier(a: Args, n: int) -> dict:
    return {"head": PredictionHead(a), "classifier": nn.Linear(a.hidden_size, n)}


def _mlm(a: Args) -> dict:
    return {"head": PredictionHead(a), "decoder": nn.Linear(a.hidden_size, a.vocab_size, bias=a.decoder_bias)}


def _pooled(first: str):
    return lambda m, h, x: m.classifier(m.head(pool(h, x.mask, m.pooling, first)))


def _per_token(m, h, x):
    return m.classifier(m.head(h))


HEADS = {
    "base": SHARED_HEADS["base"],
    "sequence-classification": Head(lambda a: _classifier(a, a.num_labels), _pooled("zero")),
    "token-classification": Head(lambda a: _classifier(a, a.num_labels), _per_token),
    "question-answering": Head(lambda a: _classifier(a, 2), _per_token),
    "masked-lm": Head(_mlm, lambda m, h, x: m.decoder(m.head(h))),
    "multiple-choice": Head(lambda a: _classifier(a, 1), _pooled("real")),
}


def build(a: Args, task: str) -> TaskModel:
    model = TaskModel.of("encoder", PREFIX, ModernBertModel(a), HEADS[task], a)
    model.pooling = a.classifier_pooling
    return model
