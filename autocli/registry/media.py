"""Families that read images or audio (model_type -> Family)."""

from __future__ import annotations

from autocli.registry.family import Family

FAMILIES: dict[str, Family] = {}

_CLS = ("classifier.",)

# Speech: raw audio in, frames out. HuBERT is wav2vec2's encoder under `hubert.` (its own options are config keys).
_SPEECH_HEADS = {"base": (), "audio-classification": ("projector.", "classifier."), "ctc": ("lm_head.",)}
_SPEECH = dict(kind="audio", processor="Wav2Vec2FeatureExtractor")
FAMILIES.update({
    "wav2vec2": Family("wav2vec2", "wav2vec2", _SPEECH_HEADS, **_SPEECH),
    "hubert": Family("wav2vec2", "hubert", _SPEECH_HEADS, **_SPEECH),
})

# Images. ViT and DeiT share one module; DeiT's plain `classifier.` is its teacher head's `cls_classifier.`
# (the distillation head beside it is read when architectures names DeiTForImageClassificationWithTeacher).
_MIM = ("decoder.",)
FAMILIES.update({
    "vit": Family("vit", "vit", {"base": (), "image-classification": _CLS, "masked-image-modeling": _MIM},
                  kind="vision", processor="ViTImageProcessor"),
    "deit": Family("vit", "deit", {"base": (), "image-classification": ("cls_classifier.",), "masked-image-modeling": _MIM},
                   renames={"classifier.": "cls_classifier."}, kind="vision", processor="DeiTImageProcessor"),
})

# Images and texts in one space: CLIPModel's towers and projections sit at the top level (no prefix in the
# checkpoint), and zero-shot scores need the contrastive head's projections and scale beside the towers;
# CLIPForImageClassification is the vision tower with `classifier.` on its patch states.
_CONTRASTIVE = ("logit_scale", "text_projection.", "visual_projection.")
FAMILIES.update({
    "clip": Family("clip", "clip", {"base": (), "zero-shot-image-classification": _CONTRASTIVE, "image-classification": _CLS},
                   kind="image-text", processor="CLIPImageProcessor", combined="CLIPProcessor"),
})
