"""CLIP (model_type "clip"): an image tower and a text tower whose pooled outputs, projected, share one space.

  vision  pixel_values (B, C, H, W) -> patches (a conv without bias) after `class_embedding` -> + positions ->
          `pre_layrnorm` (the checkpoint's spelling) -> pre-norm layers -> the class token through
          `post_layernorm` -> `visual_projection`
  text    input_ids (B, T) -> token + position embeddings -> causal pre-norm layers -> `final_layer_norm` -> the
          state at each row's end-of-text token -> `text_projection`
The layers of both towers are one block (`self_attn` q/k/v/out_proj, `layer_norm1`, `mlp` fc1/fc2, `layer_norm2`).
The towers are the backbone; the projections and `logit_scale` are the head, at the top level where CLIPModel
keeps them. Zero-shot scores are `logit_scale.exp()` times the cosine of the two embeddings (the task computes
them from the embeddings, so a run encodes its labels once). CLIPForImageClassification is the vision tower
alone with `classifier` on the mean of the patch states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, UsageError
from autocli.models._args import ConfigArgs, check_heads, derived
from autocli.models._attention import add, attend, causal_mask, merge_heads, padding_mask, split_heads
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel

# config.json's eos_token_id before transformers fixed it: such checkpoints pool at the highest id of each row
LEGACY_EOS = 2


@dataclass
class TowerArgs(ConfigArgs):
    """What both towers' configs (text_config, vision_config) name alike."""

    hidden_act: str = "quick_gelu"
    hidden_size: int = 512
    intermediate_size: int = 2048
    layer_norm_eps: float = 1e-5
    num_attention_heads: int = 8
    num_hidden_layers: int = 12

    def check(self, cfg: Config) -> None:
        self.positive("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers")
        check_heads(self.hidden_size, self.num_attention_heads)
        activation(self.hidden_act)


@dataclass
class TextArgs(TowerArgs):
    eos_token_id: int = 49407
    max_position_embeddings: int = 77
    vocab_size: int = 49408

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        self.positive("max_position_embeddings", "vocab_size")


@dataclass
class VisionArgs(TowerArgs):
    hidden_size: int = 768
    image_size: int = 224
    intermediate_size: int = 3072
    num_attention_heads: int = 12
    num_channels: int = 3
    patch_size: int = 32

    def check(self, cfg: Config) -> None:
        super().check(cfg)
        self.positive("image_size", "num_channels", "patch_size")
        if self.image_size % self.patch_size:
            raise InvalidCheckpoint(f"config.json: vision_config.image_size {self.image_size} is not a multiple of patch_size {self.patch_size}",
                                    "the config is inconsistent")


@dataclass
class Args(ConfigArgs):
    logit_scale_init_value: float = 2.6592
    projection_dim: int = 512
    text_config: dict | None = None
    vision_config: dict | None = None
    text: TextArgs = derived(None)
    vision: VisionArgs = derived(None)
    # the text tower's limits, where the loader reads them (token ids checked against them before a forward)
    max_position_embeddings: int = derived(77)
    vocab_size: int = derived(49408)

    def check(self, cfg: Config) -> None:
        self.positive("projection_dim")
        self.text = TextArgs.from_config(_tower(cfg, "text_config", self.text_config))
        self.vision = VisionArgs.from_config(_tower(cfg, "vision_config", self.vision_config))
        self.max_position_embeddings, self.vocab_size = self.text.max_position_embeddings, self.text.vocab_size


def _tower(cfg: Config, key: str, value) -> Config:
    if value is not None and not isinstance(value, dict):
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", f"{key} must be an object of settings")
    sub = Config(dict(value or {}), f"{cfg.source} ({key})")
    sub.check_dimensions()
    return sub


# --- the block both towers use -------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, a: TowerArgs):
        super().__init__()
        d, self.heads = a.hidden_size, a.num_attention_heads
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        q, k, v = (split_heads(p(x), self.heads) for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, nh, T, hd)
        return self.out_proj(merge_heads(attend(q, k, v, mask)))  # (B, T, D)


class MLP(nn.Module):
    def __init__(self, a: TowerArgs):
        super().__init__()
        self.act = activation(a.hidden_act)
        self.fc1 = nn.Linear(a.hidden_size, a.intermediate_size)
        self.fc2 = nn.Linear(a.intermediate_size, a.hidden_size)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Layer(nn.Module):
    def __init__(self, a: TowerArgs):
        super().__init__()
        self.self_attn = Attention(a)
        self.layer_norm1 = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.mlp = MLP(a)
        self.layer_norm2 = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))  # (B, T, D)


class Encoder(nn.Module):
    def __init__(self, a: TowerArgs):
        super().__init__()
        self.layers = nn.ModuleList(Layer(a) for _ in range(a.num_hidden_layers))

    def forward(self, x, mask=None):
        for layer in self.layers:
            x = layer(x, mask)
        return x


# --- the towers ----------------------------------------------------------------------------------

class VisionEmbeddings(nn.Module):
    def __init__(self, a: VisionArgs):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.empty(a.hidden_size))
        self.patch_embedding = nn.Conv2d(a.num_channels, a.hidden_size, kernel_size=a.patch_size, stride=a.patch_size, bias=False)
        self.position_embedding = nn.Embedding((a.image_size // a.patch_size) ** 2 + 1, a.hidden_size)
        self.image_size = a.image_size

    def forward(self, pixel_values):
        B, C, H, W = pixel_values.shape
        if (H, W) != (self.image_size, self.image_size) or C != self.patch_embedding.in_channels:
            raise UsageError(f"the image is {C}x{H}x{W} after preprocessing; this model reads "
                             f"{self.patch_embedding.in_channels}x{self.image_size}x{self.image_size}",
                             "preprocessor_config.json's crop_size must match config.json's vision_config.image_size")
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # (B, N, D)
        x = torch.cat([self.class_embedding.expand(B, 1, -1), x], dim=1)  # (B, 1 + N, D)
        return x + self.position_embedding.weight  # (B, 1 + N, D)


class VisionTransformer(nn.Module):
    def __init__(self, a: VisionArgs):
        super().__init__()
        self.embeddings = VisionEmbeddings(a)
        self.pre_layrnorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.encoder = Encoder(a)
        self.post_layernorm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)

    def forward(self, pixel_values):
        return self.encoder(self.pre_layrnorm(self.embeddings(pixel_values)))  # (B, 1 + N, D)

    def pooled(self, pixel_values):
        return self.post_layernorm(self.forward(pixel_values)[:, 0])  # (B, D) the class token


class TextEmbeddings(nn.Module):
    def __init__(self, a: TextArgs):
        super().__init__()
        self.token_embedding = nn.Embedding(a.vocab_size, a.hidden_size)
        self.position_embedding = nn.Embedding(a.max_position_embeddings, a.hidden_size)

    def forward(self, input_ids):
        return self.token_embedding(input_ids) + self.position_embedding.weight[: input_ids.shape[1]]  # (B, T, D)


class TextTransformer(nn.Module):
    def __init__(self, a: TextArgs):
        super().__init__()
        self.embeddings = TextEmbeddings(a)
        self.encoder = Encoder(a)
        self.final_layer_norm = nn.LayerNorm(a.hidden_size, eps=a.layer_norm_eps)
        self.eos_token_id = a.eos_token_id

    def pooled(self, input_ids, attention_mask=None):
        x = self.embeddings(input_ids)  # (B, T, D)
        T = x.shape[1]
        mask = add(causal_mask(T, T, x.dtype, x.device), padding_mask(attention_mask, x.dtype))  # (B, 1, T, T)
        x = self.final_layer_norm(self.encoder(x, mask))
        if self.eos_token_id == LEGACY_EOS:
            end = input_ids.argmax(-1)  # (B,) the highest id, which is end-of-text in CLIP's vocabulary
        else:
            end = (input_ids == self.eos_token_id).int().argmax(-1)  # (B,) the first end-of-text token
        return x[torch.arange(x.shape[0], device=x.device), end]  # (B, D)


class Towers(nn.Module):
    """Both towers: backbone(pixel_values) -> the pooled image states (B, Dv); backbone(input_ids, attention_mask)
    -> the pooled text states (B, Dt). The projections into the shared space are the head, at the top level."""

    def __init__(self, a: Args):
        super().__init__()
        self.text_model = TextTransformer(a.text)
        self.vision_model = VisionTransformer(a.vision)

    def forward(self, inputs, attention_mask=None, token_type_ids=None):
        if inputs.is_floating_point():
            return self.vision_model.pooled(inputs)  # (B, Dv)
        return self.text_model.pooled(inputs, attention_mask)  # (B, Dt)


class VisionOnly(nn.Module):
    """CLIPForImageClassification's backbone: the vision tower, its patch states out."""

    def __init__(self, a: Args):
        super().__init__()
        self.vision_model = VisionTransformer(a.vision)

    def forward(self, pixel_values):
        return self.vision_model(pixel_values)  # (B, 1 + N, D)


# --- heads ---------------------------------------------------------------------------------------

def _projections(a: Args) -> dict:
    return {"visual_projection": nn.Linear(a.vision.hidden_size, a.projection_dim, bias=False),
            "text_projection": nn.Linear(a.text.hidden_size, a.projection_dim, bias=False),
            "logit_scale": torch.empty(())}  # a tensor: the task model keeps it as a buffer


def _projected(m, h, x):
    """The embeddings in the shared space, unnormalised (transformers' get_image_features / get_text_features)."""
    return (m.visual_projection if x.ids.is_floating_point() else m.text_projection)(h)  # (B, P)


def _classifier(a: Args) -> dict:
    return {"classifier": nn.Linear(a.vision.hidden_size, a.num_labels)}


def _classified(m, h, x):
    return m.classifier(h[:, 1:].mean(1))  # (B, L) the mean of the patch states, class token left out


HEADS = {
    "base": Head(_projections, _projected),
    "zero-shot-image-classification": Head(_projections, _projected),
    "image-classification": Head(_classifier, _classified),
}


def build(a: Args, task: str) -> TaskModel:
    if task == "image-classification":
        return TaskModel.of("vision", "clip", VisionOnly(a), HEADS[task], a)
    return TaskModel.of("image-text", "clip", Towers(a), HEADS[task], a)


def uses_token_type_ids(a: Args) -> bool:
    return False
