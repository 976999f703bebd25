"""wav2vec2 (model_type "wav2vec2") and HuBERT ("hubert", the same encoder under `hubert.`): raw audio -> frames.

input_values (B, S) -> convolutional feature encoder (conv_layers, GroupNorm on the first layer or LayerNorm on
every layer) -> feature projection -> positional convolution (weight-normed; HuBERT may batch-norm instead) ->
post-norm or (do_stable_layer_norm) pre-norm transformer layers -> optional adapter convolutions -> (B, T, H).

Heads as transformers' XFor*: CTC (`lm_head` on every frame) and audio classification (`projector`, the mean
over the real frames, `classifier`; with use_weighted_layer_sum a softmax-weighted sum of every layer's states).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.models._args import ConfigArgs, check_heads
from autocli.models._attention import attend, merge_heads, padding_mask, split_heads
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel, hidden_states, linear_head, per_token, vocab


@dataclass
class Args(ConfigArgs):
    model_type: str = "wav2vec2"  # also the backbone's prefix (hubert.)
    # the convolutional feature encoder
    feat_extract_norm: str = "group"
    conv_dim: list = field(default_factory=lambda: [512] * 7)
    conv_stride: list = field(default_factory=lambda: [5, 2, 2, 2, 2, 2, 2])
    conv_kernel: list = field(default_factory=lambda: [10, 3, 3, 3, 3, 2, 2])
    conv_bias: bool = False
    feat_extract_activation: str = "gelu"
    # the transformer: positional conv, then the layers
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    hidden_size: int = 768
    do_stable_layer_norm: bool = False
    num_hidden_layers: int = 12
    layer_norm_eps: float = 1e-5
    num_attention_heads: int = 12
    hidden_act: str = "gelu"
    intermediate_size: int = 3072
    # the heads
    vocab_size: int = 32
    use_weighted_layer_sum: bool = False
    classifier_proj_size: int = 256
    num_labels: int = 2
    # adapters: convolutions after the layers (add_adapter), MMS's per-layer ones (adapter_attn_dim)
    add_adapter: bool = False
    adapter_kernel_size: int = 3
    adapter_stride: int = 2
    num_adapter_layers: int = 3
    output_hidden_size: int | None = None
    adapter_attn_dim: int | None = None
    # HuBERT's options (wav2vec2 always norms the features and weight-norms the positional conv)
    feat_proj_layer_norm: bool = True
    conv_pos_batch_norm: bool = False  # BatchNorm before the positional conv, no weight norm

    def check(self, cfg: Config) -> None:
        if self.feat_extract_norm not in ("group", "layer"):
            raise InvalidCheckpoint(f"config.json: feat_extract_norm is {self.feat_extract_norm!r}", "use \"group\" or \"layer\"")
        convs = (self.conv_dim, self.conv_stride, self.conv_kernel)
        if not all(isinstance(c, list) and c and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in c) for c in convs) \
                or len({len(c) for c in convs}) != 1:
            raise InvalidCheckpoint("config.json: conv_dim, conv_stride and conv_kernel must be lists of positive integers of one length",
                                    "fix config.json")
        check_heads(self.hidden_size, self.num_attention_heads)
        check_heads(self.hidden_size, self.num_conv_pos_embedding_groups,
                    "hidden_size {} is not a multiple of num_conv_pos_embedding_groups {}")
        activation(self.hidden_act)
        activation(self.feat_extract_activation, "feat_extract_activation")
        if self.output_hidden_size is None:
            self.output_hidden_size = self.hidden_size

    @property
    def width(self) -> int:
        """What the heads read: the adapter's output size where there is one."""
        return self.output_hidden_size if self.add_adapter else self.hidden_size


# --- the convolutional feature encoder -----------------------------------------------------------

class ConvLayer(nn.Module):
    """conv -> norm ("group": per-channel GroupNorm; "layer": LayerNorm over channels; none) -> activation."""

    def __init__(self, a: Args, i: int, norm: str | None):
        super().__init__()
        c_in, c_out = a.conv_dim[i - 1] if i > 0 else 1, a.conv_dim[i]
        self.conv = nn.Conv1d(c_in, c_out, a.conv_kernel[i], stride=a.conv_stride[i], bias=a.conv_bias)
        self.norm = norm
        if norm == "group":
            self.layer_norm = nn.GroupNorm(c_out, c_out)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out)
        self.act = activation(a.feat_extract_activation, "feat_extract_activation")

    def forward(self, x):
        x = self.conv(x)  # (B, C, T)
        if self.norm == "group":
            x = self.layer_norm(x)
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return self.act(x)


class FeatureEncoder(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        norms = [a.feat_extract_norm if a.feat_extract_norm == "layer" or i == 0 else None for i in range(len(a.conv_dim))]
        self.conv_layers = nn.ModuleList(ConvLayer(a, i, norm) for i, norm in enumerate(norms))

    def forward(self, values):
        x = values[:, None]  # (B, 1, S)
        for layer in self.conv_layers:
            x = layer(x)
        return x.transpose(1, 2)  # (B, T, C)


class FeatureProjection(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        if a.feat_proj_layer_norm:
            self.layer_norm = nn.LayerNorm(a.conv_dim[-1], eps=a.layer_norm_eps)
        self.projection = nn.Linear(a.conv_dim[-1], a.hidden_size)

    def forward(self, x):
        return self.projection(self.layer_norm(x) if hasattr(self, "layer_norm") else x)  # (B, T, H)


class PositionalConvEmbedding(nn.Module):
    """A grouped convolution over time (its weight norm folded into `conv.weight` by sanitize); an even
    kernel gives one frame too many, dropped at the end."""

    def __init__(self, a: Args):
        super().__init__()
        k = a.num_conv_pos_embeddings
        if a.conv_pos_batch_norm:
            self.batch_norm = nn.BatchNorm1d(a.hidden_size)
        self.conv = nn.Conv1d(a.hidden_size, a.hidden_size, k, padding=k // 2, groups=a.num_conv_pos_embedding_groups)
        self.trim = 1 if k % 2 == 0 else 0
        self.act = activation(a.feat_extract_activation, "feat_extract_activation")

    def forward(self, x):
        x = x.transpose(1, 2)  # (B, H, T)
        if hasattr(self, "batch_norm"):
            x = self.batch_norm(x)
        x = self.conv(x)
        if self.trim:
            x = x[:, :, : -self.trim]
        return self.act(x).transpose(1, 2)  # (B, T, H)


# --- the transformer ------------------------------------------------------------------------------

class FeedForward(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.intermediate_dense = nn.Linear(a.hidden_size, a.intermediate_size)
        self.output_dense = nn.Linear(a.intermediate_size, a.hidden_size)
        self.act = activation(a.hidden_act)

    def forward(self, x):
        return self.output_dense(self.act(self.intermediate_dense(x)))  # (B, T, H)


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.q_proj, self.k_proj = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.v_proj, self.out_proj = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        q, k, v = (split_heads(p(x), self.num_heads) for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, nh, T, hd)
        return self.out_proj(merge_heads(attend(q, k, v, mask)))  # (B, T, H)


class AttnAdapter(nn.Module):
    """MMS's per-language adapter after each pre-norm layer: norm -> down -> ReLU -> up."""

    def __init__(self, a: Args):
        super().__init__()
        self.norm = nn.LayerNorm(a.hidden_size)
        self.linear_1 = nn.Linear(a.hidden_size, a.adapter_attn_dim)
        self.linear_2 = nn.Linear(a.adapter_attn_dim, a.hidden_size)

    def forward(self, x):
        return self.linear_2(F.relu(self.linear_1(self.norm(x))))


class EncoderLayer(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.attention = Attention(a.hidden_size, a.num_attention_heads)
        self.layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.feed_forward = FeedForward(a)
        self.final_layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.pre_norm = a.do_stable_layer_norm
        if self.pre_norm and a.adapter_attn_dim is not None:
            self.adapter_layer = AttnAdapter(a)

    def forward(self, x, mask):
        if not self.pre_norm:
            x = self.layer_norm(x + self.attention(x, mask))
            return self.final_layer_norm(x + self.feed_forward(x))  # (B, T, H)
        x = x + self.attention(self.layer_norm(x), mask)
        x = x + self.feed_forward(self.final_layer_norm(x))
        return x + self.adapter_layer(x) if hasattr(self, "adapter_layer") else x  # (B, T, H)


class Encoder(nn.Module):
    """Post-norm: the embedding sum is normed before the layers; pre-norm (stable): the layers' output after."""

    def __init__(self, a: Args):
        super().__init__()
        self.pos_conv_embed = PositionalConvEmbedding(a)
        self.layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(a) for _ in range(a.num_hidden_layers))
        self.pre_norm = a.do_stable_layer_norm

    def forward(self, x, frames, keep_all: bool = False):
        if frames is not None:
            x = x.masked_fill(~frames[:, :, None], 0.0)  # padded frames do not reach the positional conv
        mask = padding_mask(frames, x.dtype)  # (B, 1, 1, T) or None
        x = x + self.pos_conv_embed(x)
        if not self.pre_norm:
            x = self.layer_norm(x)
        states = [x]
        for layer in self.layers:
            x = layer(x, mask)
            states.append(x)
        if self.pre_norm:
            x = self.layer_norm(x)
        return torch.stack(states) if keep_all else x  # (L+1, B, T, H) | (B, T, H)


class Adapter(nn.Module):
    """add_adapter: a projection to output_hidden_size, then strided GLU convolutions that shorten the frames."""

    def __init__(self, a: Args):
        super().__init__()
        if a.output_hidden_size != a.hidden_size:
            self.proj = nn.Linear(a.hidden_size, a.output_hidden_size)
            self.proj_layer_norm = nn.LayerNorm(a.output_hidden_size)
        d = a.output_hidden_size
        self.layers = nn.ModuleList(AdapterLayer(d, a.adapter_kernel_size, a.adapter_stride) for _ in range(a.num_adapter_layers))

    def forward(self, x):
        if hasattr(self, "proj"):
            x = self.proj_layer_norm(self.proj(x))
        x = x.transpose(1, 2)  # (B, D, T)
        for layer in self.layers:
            x = F.glu(layer.conv(x), dim=1)
        return x.transpose(1, 2)  # (B, T', D)


class AdapterLayer(nn.Module):
    def __init__(self, d: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.Conv1d(d, 2 * d, kernel, stride=stride, padding=1)


class Wav2Vec2Model(nn.Module):
    """backbone(input_values (B, S), attention_mask (B, S) | None) -> (B, T, H) over T frames."""

    def __init__(self, a: Args, keep_all: bool = False):
        super().__init__()
        self.feature_extractor = FeatureEncoder(a)
        self.feature_projection = FeatureProjection(a)
        self.encoder = Encoder(a)
        if a.add_adapter:
            self.adapter = Adapter(a)
        self.a, self.keep_all = a, keep_all

    def forward(self, values, attention_mask=None):
        if values.shape[1] < self.min_samples:
            rate = "" if values.shape[1] == 0 else f" (at 16 kHz, {1000 * self.min_samples / 16000:.0f} ms)"
            raise UsageError(f"{values.shape[1]} samples is shorter than the model's first frame: {self.min_samples} samples{rate}",
                             "pass longer recordings")
        x = self.feature_projection(self.feature_extractor(values))  # (B, T, H)
        frames = None if attention_mask is None else self.frames_mask(attention_mask, adapter=False, width=x.shape[1])
        x = self.encoder(x, frames, self.keep_all)
        return self.adapter(x) if hasattr(self, "adapter") and not self.keep_all else x

    @property
    def samples_per_frame(self) -> int:
        """transformers' inputs_to_logits_ratio: the product of the conv strides (adapters not counted)."""
        return math.prod(self.a.conv_stride)

    @property
    def min_samples(self) -> int:
        """The samples one output frame reads (the conv stack's receptive field): a shorter clip has no frame."""
        n = 1
        for k, s in zip(reversed(self.a.conv_kernel), reversed(self.a.conv_stride)):
            n = (n - 1) * s + k
        return n

    def frames_mask(self, attention_mask, adapter: bool = True, width: int | None = None):
        """The mask over samples (B, S) -> over output frames (B, T): transformers' _get_feat_extract_output_lengths."""
        n = attention_mask.long().sum(-1)  # (B,) real samples (the padding is on the right)
        for k, s in zip(self.a.conv_kernel, self.a.conv_stride):
            n = torch.div(n - k, s, rounding_mode="floor") + 1
        if adapter and self.a.add_adapter:
            for _ in range(self.a.num_adapter_layers):
                n = torch.div(n - 1, self.a.adapter_stride, rounding_mode="floor") + 1
        width = max(int(n.max()), 0) if width is None else width
        return torch.arange(width, device=attention_mask.device)[None, :] < n.clamp(min=1)[:, None]  # (B, T)


# --- heads ---------------------------------------------------------------------------------------

def mean_pooled(m, h, x):
    """audio-classification: projector, the mean over the real frames, classifier -> (B, L)."""
    if h.dim() == 4:  # every layer's states: their softmax-weighted sum
        h = (h * F.softmax(m.layer_weights, dim=-1).view(-1, 1, 1, 1)).sum(0)  # (B, T, H)
    h = m.projector(h)  # (B, T, P)
    if x.mask is None:
        return m.classifier(h.mean(1))
    frames = m.backbone.frames_mask(x.mask, width=h.shape[1])[:, :, None]  # (B, T, 1)
    return m.classifier((h * frames).sum(1) / frames.sum(1))


def classification_modules(a: Args) -> dict:
    out = {"projector": nn.Linear(a.hidden_size, a.classifier_proj_size), "classifier": nn.Linear(a.classifier_proj_size, a.num_labels)}
    if a.use_weighted_layer_sum:
        out["layer_weights"] = nn.Parameter(torch.ones(a.num_hidden_layers + 1) / (a.num_hidden_layers + 1))
    return out


HEADS = {
    "base": Head(lambda a: {}, hidden_states),
    "ctc": linear_head("lm_head", "width", vocab, per_token),
    "audio-classification": Head(classification_modules, mean_pooled),
}


def build(a: Args, task: str) -> TaskModel:
    classify = task == "audio-classification"
    if classify and a.add_adapter:
        raise Unsupported(f"{a.model_type} audio classification with adapters (add_adapter) is not a transformers model either",
                          "use the checkpoint's CTC or base model")
    backbone = Wav2Vec2Model(a, keep_all=classify and a.use_weighted_layer_sum)
    return TaskModel.of("audio", a.model_type, backbone, HEADS[task], a)


def max_length(a: Args) -> None:
    return None  # no position table: any number of samples


def sanitize(state: dict, a: Args) -> dict:
    """The positional conv's weight norm (old `weight_g`/`weight_v` or `parametrizations.weight.original0/1`),
    folded into one weight as transformers computes it: g * v / ||v|| over all but the kernel dimension."""
    for key in [k for k in state if k.endswith(("pos_conv_embed.conv.weight_g", "pos_conv_embed.conv.parametrizations.weight.original0"))]:
        base = key.rsplit(".conv.", 1)[0] + ".conv."
        old = key.endswith("weight_g")
        g = state.pop(key)
        v = state.pop(base + ("weight_v" if old else "parametrizations.weight.original1"), None)
        if v is None:
            raise InvalidCheckpoint(f"{key} has no matching weight_v / original1", "the checkpoint is incomplete")
        w = v.float() * (g.float() / v.float().norm(dim=(0, 1), keepdim=True))  # (H, H/groups, K)
        state[base + "weight"] = w.to(v.dtype)
    for key in [k for k in state if k.endswith("masked_spec_embed")]:
        del state[key]  # a training-time mask embedding
    return state
