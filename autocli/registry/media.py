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

# Speech to text: log-mel features -> encoder -> decoder; the processor pairs the feature extractor with the tokenizer.
# Whisper's module builds on BART's layers (pre-norm); overrides are WhisperConfig's defaults for BART's settings.
_WHISPER_DEFAULTS = dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6, decoder_attention_heads=6,
                         encoder_ffn_dim=1536, decoder_ffn_dim=1536, vocab_size=51865, decoder_start_token_id=50257,
                         pad_token_id=50256, eos_token_id=50256, _pre_norm=True)
FAMILIES.update({
    "whisper": Family("whisper", "model", {"base": (), "speech-seq2seq": ("proj_out.",),
                                           "audio-classification": ("projector.", "classifier.")},
                      _WHISPER_DEFAULTS, tied={"proj_out.weight": "model.decoder.embed_tokens.weight"},
                      not_run={"causal-lm": "WhisperForCausalLM is the decoder alone, an assistant model for speculative "
                                            "decoding; autocli runs the whole encoder-decoder (speech-seq2seq)"}, kind="audio",
                      processor="WhisperFeatureExtractor", combined="WhisperProcessor"),
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

# Documents: words + their boxes on the page (+ the page image for v2 / v3). LayoutLM v1 is BERT with 2-D
# position embeddings and reads no pixels; v2's visual backbone is Detectron2's, which autocli does not build.
_QA = ("qa_outputs.",)
_V2_WHY = "its visual backbone is Detectron2's ResNet, which transformers itself builds only with detectron2 installed"
FAMILIES.update({
    "layoutlm": Family("layoutlm", "layoutlm", {
        "base": (), "masked-lm": ("cls.predictions.",), "sequence-classification": _CLS,
        "token-classification": _CLS, "question-answering": _QA,
    }, tied={"cls.predictions.decoder.weight": "layoutlm.embeddings.word_embeddings.weight"}, kind="document",
        combined="LayoutLMProcessor"),
    "layoutlmv2": Family("layoutlmv2", "layoutlmv2", {
        "base": (), "sequence-classification": _CLS, "token-classification": _CLS, "question-answering": _QA,
    }, not_run={t: _V2_WHY for t in ("base", "sequence-classification", "token-classification", "question-answering")},
        kind="document", processor="LayoutLMv2ImageProcessor", combined="LayoutLMv2Processor"),
    "layoutlmv3": Family("layoutlmv3", "layoutlmv3", {
        "base": (), "sequence-classification": _CLS, "token-classification": _CLS, "question-answering": _QA,
    }, kind="document", position_offset=True, processor="LayoutLMv3ImageProcessor", combined="LayoutLMv3Processor"),
})

# Images and texts in one space: CLIPModel's towers and projections sit at the top level (no prefix in the
# checkpoint), and zero-shot scores need the contrastive head's projections and scale beside the towers;
# CLIPForImageClassification is the vision tower with `classifier.` on its patch states.
_CONTRASTIVE = ("logit_scale", "text_projection.", "visual_projection.")
FAMILIES.update({
    "clip": Family("clip", "clip", {"base": (), "zero-shot-image-classification": _CONTRASTIVE, "image-classification": _CLS},
                   kind="image-text", processor="CLIPImageProcessor", combined="CLIPProcessor"),
})
