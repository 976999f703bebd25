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
