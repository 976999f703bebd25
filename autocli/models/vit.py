"""ViT (model_type "vit") and DeiT ("deit"): patches of the image as tokens through a pre-norm encoder.

pixel_values (B, C, H, W) -> a conv with stride patch_size -> (B, N, D) patches, after the CLS token (and
DeiT's distillation token) -> + position embeddings -> pre-norm layers (`layernorm_before` / `layernorm_after`,
BERT's key names inside) -> final `layernorm`. An input of another size than config.image_size takes the
position embeddings interpolated bicubically, as transformers' `interpolate_pos_encoding`.

Heads as ViTFor* / DeiTFor*: `classifier` on the CLS token; DeiTForImageClassificationWithTeacher averages
`cls_classifier` (CLS token) and `distillation_classifier` (distillation token); masked image modeling is
SimMIM's 1x1 conv + pixel shuffle over the patch tokens (the reconstruction, without a mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.models._args import EncoderArgs, derived
from autocli.models._encoder import Intermediate, SelfAttention
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel, hidden_states

TEACHER = "ForImageClassificationWithTeacher"


@dataclass
class Args(EncoderArgs):
    """ViTConfig is BERT's settings (and defaults) for the layers, plus the image's."""

    encoder_stride: int = 16
    image_size: object = 224  # an int, or [height, width]
    model_type: str = "vit"
    num_channels: int = 3
    patch_size: object = 16
    qkv_bias: bool = True
    image_hw: tuple = derived((224, 224))
    patch_hw: tuple = derived((16, 16))
    special_tokens: int = derived(1)  # CLS, and DeiT's distillation token
    teacher: bool = derived(False)  # DeiT's two-head classifier

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        self.positive("encoder_stride", "hidden_size", "intermediate_size", "layer_norm_eps", "num_attention_heads",
                      "num_channels", "num_hidden_layers")
        self.image_hw, self.patch_hw = _pair("image_size", self.image_size), _pair("patch_size", self.patch_size)
        if any(i % p for i, p in zip(self.image_hw, self.patch_hw)):
            raise InvalidCheckpoint(f"config.json: image_size {self.image_size} is not a multiple of patch_size {self.patch_size}",
                                    "the config is inconsistent")
        self.special_tokens = 2 if self.model_type == "deit" else 1
        self.teacher = self.model_type == "deit" and any(a.endswith(TEACHER) for a in cfg.architectures)


def _pair(key: str, value) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", f"{key} must be a positive integer or [height, width]")
    return pair


# --- backbone ------------------------------------------------------------------------------------

class PatchEmbeddings(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.projection = nn.Conv2d(a.num_channels, a.hidden_size, kernel_size=a.patch_hw, stride=a.patch_hw)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)  # (B, N, D)


class Embeddings(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        n = (a.image_hw[0] // a.patch_hw[0]) * (a.image_hw[1] // a.patch_hw[1])
        self.cls_token = nn.Parameter(torch.empty(1, 1, a.hidden_size))
        if a.special_tokens == 2:
            self.distillation_token = nn.Parameter(torch.empty(1, 1, a.hidden_size))
        self.patch_embeddings = PatchEmbeddings(a)
        self.position_embeddings = nn.Parameter(torch.empty(1, n + a.special_tokens, a.hidden_size))
        self.image_hw, self.patch_hw, self.special = a.image_hw, a.patch_hw, a.special_tokens

    def forward(self, pixel_values):
        B, C, H, W = pixel_values.shape
        if C != self.patch_embeddings.projection.in_channels:
            raise UsageError(f"the image has {C} channels, the model takes {self.patch_embeddings.projection.in_channels}")
        if H < self.patch_hw[0] or W < self.patch_hw[1]:
            raise UsageError(f"a {H}x{W} input is smaller than one {self.patch_hw[0]}x{self.patch_hw[1]} patch")
        x = self.patch_embeddings(pixel_values)  # (B, N, D)
        tokens = [self.cls_token] + ([self.distillation_token] if self.special == 2 else [])
        x = torch.cat([t.expand(B, -1, -1) for t in tokens] + [x], dim=1)  # (B, S + N, D)
        return x + self.positions(x.shape[1] - self.special, H, W)

    def positions(self, n: int, height: int, width: int):
        """The position table for an input of height x width: as trained, or the patch grid resized bicubically
        (transformers' interpolate_pos_encoding, which keeps the table for a square input of as many patches)."""
        table = self.position_embeddings  # (1, S + P, D)
        trained = table.shape[1] - self.special
        if (height, width) == self.image_hw or (n == trained and height == width):
            return table
        D, rows, cols = table.shape[-1], self.image_hw[0] // self.patch_hw[0], self.image_hw[1] // self.patch_hw[1]
        grid = table[:, self.special:].reshape(1, rows, cols, D).permute(0, 3, 1, 2)  # (1, D, rows, cols)
        size = (height // self.patch_hw[0], width // self.patch_hw[1])
        grid = F.interpolate(grid, size=size, mode="bicubic", align_corners=False)  # (1, D, h, w)
        return torch.cat((table[:, :self.special], grid.permute(0, 2, 3, 1).reshape(1, -1, D)), dim=1)  # (1, S + N, D)


class Attention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.attention = SelfAttention(a.hidden_size, a.num_attention_heads)
        if not a.qkv_bias:
            for name in ("query", "key", "value"):
                setattr(self.attention, name, nn.Linear(a.hidden_size, a.hidden_size, bias=False))
        self.output = Dense(a.hidden_size, a.hidden_size)

    def forward(self, x):
        return self.output(self.attention(x, None))  # (B, T, D)


class Dense(nn.Module):
    """ViT's SelfOutput and Output: a linear layer kept under `dense`, the residual added by the layer."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.dense(x)


class Layer(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.attention = Attention(a)
        self.layernorm_after = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.intermediate = Intermediate(a.hidden_size, a.intermediate_size, activation(a.hidden_act))
        self.output = Dense(a.intermediate_size, a.hidden_size)

    def forward(self, x):
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output(self.intermediate(self.layernorm_after(x)))  # (B, T, D)


class Encoder(nn.Module):
    """Holds the layers under `encoder.layer.N`, the checkpoint's names; ViTModel runs them."""

    def __init__(self, a: Args):
        super().__init__()
        self.layer = nn.ModuleList(Layer(a) for _ in range(a.num_hidden_layers))


class ViTModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.embeddings = Embeddings(a)
        self.encoder = Encoder(a)
        self.layernorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, pixel_values):
        x = self.embeddings(pixel_values)  # (B, S + N, D)
        for layer in self.encoder.layer:
            x = layer(x)
        return self.layernorm(x)


# --- heads ---------------------------------------------------------------------------------------

def _classifiers(a: Args) -> dict:
    if a.model_type != "deit":
        return {"classifier": nn.Linear(a.hidden_size, a.num_labels)}
    out = {"cls_classifier": nn.Linear(a.hidden_size, a.num_labels)}  # DeiT's plain `classifier.`, renamed (registry)
    if a.teacher:
        out["distillation_classifier"] = nn.Linear(a.hidden_size, a.num_labels)
    return out


def _classified(m, h, x):
    if hasattr(m, "classifier"):
        return m.classifier(h[:, 0])  # (B, L)
    logits = m.cls_classifier(h[:, 0])  # (B, L)
    if hasattr(m, "distillation_classifier"):
        logits = (logits + m.distillation_classifier(h[:, 1])) / 2  # the two heads' average, as at inference
    return logits


def _decoder(a: Args) -> dict:
    conv = nn.Conv2d(a.hidden_size, a.encoder_stride ** 2 * a.num_channels, kernel_size=1)
    return {"decoder": nn.Sequential(conv, nn.PixelShuffle(a.encoder_stride))}


def _reconstructed(m, h, x):
    patches = h[:, m.backbone.embeddings.special:]  # (B, N, D)
    B, N, D = patches.shape
    side = int(N ** 0.5)
    if side * side != N:
        raise Unsupported("masked image modeling reads a square grid of patches", "pass square images")
    return m.decoder(patches.permute(0, 2, 1).reshape(B, D, side, side))  # (B, C, H, W)


HEADS = {
    "base": Head(lambda a: {}, hidden_states),
    "image-classification": Head(_classifiers, _classified),
    "masked-image-modeling": Head(_decoder, _reconstructed),
}


def build(a: Args, task: str) -> TaskModel:
    return TaskModel.of("vision", a.model_type, ViTModel(a), HEADS[task], a)


def max_length(a: Args) -> None:
    return None  # no token positions: the input is an image


def uses_token_type_ids(a: Args) -> bool:
    return False
