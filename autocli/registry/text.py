"""Text families: encoders, decoders and encoder-decoders (model_type -> Family)."""

from __future__ import annotations

from autocli.registry.family import Family

FAMILIES: dict[str, Family] = {}


# Encoders. One classifier.* serves three tasks; trained_heads() tells them apart by architectures.
_CLS = ("classifier.",)
_ROBERTA_HEADS = {
    "base": (),
    "sequence-classification": _CLS,
    "token-classification": _CLS,
    "question-answering": ("qa_outputs.",),
    "masked-lm": ("lm_head.",),
    "multiple-choice": _CLS,
}
# BERT-likes configured as decoders (BertLMHeadModel, *ForCausalLM) are left out: their use is as the decoder
# half of an EncoderDecoderModel, which autocli does not run.
_AS_DECODER = {"causal-lm": "autocli does not run encoders configured as decoders (is_decoder=True)"}
_ROBERTA = dict(tied={"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight"}, not_run=_AS_DECODER,
                position_offset=True)
FAMILIES.update({
    "bert": Family("bert", "bert", {
        "base": (),
        "sequence-classification": _CLS,
        "token-classification": _CLS,
        "question-answering": ("qa_outputs.",),
        "masked-lm": ("cls.predictions.",),
        "multiple-choice": _CLS,
        "next-sentence-prediction": ("cls.seq_relationship.",),
    }, tied={"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}, not_run=_AS_DECODER),
    "roberta": Family("roberta", "roberta", _ROBERTA_HEADS, **_ROBERTA),
    "xlm-roberta": Family("roberta", "roberta", _ROBERTA_HEADS, **_ROBERTA),
    "camembert": Family("roberta", "roberta", _ROBERTA_HEADS, **_ROBERTA),
    "distilbert": Family("distilbert", "distilbert", {
        "base": (),
        "sequence-classification": ("pre_classifier.", "classifier."),
        "token-classification": _CLS,
        "question-answering": ("qa_outputs.",),
        "masked-lm": ("vocab_transform.", "vocab_projector."),
        "multiple-choice": ("pre_classifier.", "classifier."),
    }, tied={"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}),
    "albert": Family("albert", "albert", {
        "base": (),
        "sequence-classification": _CLS,
        "token-classification": _CLS,
        "question-answering": ("qa_outputs.",),
        "masked-lm": ("predictions.",),
        "multiple-choice": _CLS,
    }, tied={"predictions.decoder.weight": "albert.embeddings.word_embeddings.weight"}),
    "electra": Family("electra", "electra", {
        "base": (),
        "sequence-classification": _CLS,
        "token-classification": _CLS,
        "question-answering": ("qa_outputs.",),
        "masked-lm": ("generator_predictions.", "generator_lm_head."),
        "multiple-choice": _CLS,
        "replaced-token-detection": ("discriminator_predictions.",),
    }, tied={"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}, not_run=_AS_DECODER),
})

# DeBERTa's classification heads read a top-level `pooler.`; its new-style MLM keys (`lm_predictions.lm_head.`)
# are the legacy head's `cls.predictions.transform.` and bias. ModernBERT's classification, tagging and QA heads
# all share `head.` + `classifier.` (architectures tells them apart).
_DEBERTA_HEADS = {
    "base": (),
    "sequence-classification": ("pooler.", "classifier."),
    "token-classification": _CLS,
    "question-answering": ("qa_outputs.",),
    "masked-lm": ("cls.predictions.",),
    "multiple-choice": ("pooler.", "classifier."),
}
_MODERNBERT_CLS = ("head.", "classifier.")
_DEBERTA = dict(
    renames={"lm_predictions.lm_head.bias": "cls.predictions.bias", "lm_predictions.lm_head.": "cls.predictions.transform."},
    tied={"cls.predictions.decoder.weight": "deberta.embeddings.word_embeddings.weight"},
)
FAMILIES.update({
    "deberta-v2": Family("deberta_v2", "deberta", _DEBERTA_HEADS, **_DEBERTA),
    "deberta": Family("deberta", "deberta", {t: p for t, p in _DEBERTA_HEADS.items() if t != "multiple-choice"}, **_DEBERTA),
    "modernbert": Family("modernbert", "model", {
        "base": (),
        "sequence-classification": _MODERNBERT_CLS,
        "token-classification": _MODERNBERT_CLS,
        "question-answering": _MODERNBERT_CLS,
        "masked-lm": ("head.",),  # decoder.weight is tied, decoder.bias optional (decoder_bias)
        "multiple-choice": _MODERNBERT_CLS,
    }, tied={"decoder.weight": "model.embeddings.tok_embeddings.weight"}),
})

# Decoders. A causal LM's head is `lm_head.`, or the embeddings when tie_word_embeddings (Family.tied).
# Variants of llama are rows: overrides give their config class's defaults plus what their modeling file
# hard-codes (`_qkv_bias`, `_o_bias`, `_mlp_bias`, `_qk_norm`, `_sliding`), keys config.json never carries.
_LM = ("lm_head.",)
_GPT_HEADS = {"base": (), "causal-lm": _LM, "sequence-classification": ("score.",), "question-answering": ("qa_outputs.",)}
_LLAMA_HEADS = {**_GPT_HEADS, "token-classification": ("score.",)}
_UNTIED = {"tie_word_embeddings": False}
_LLAMA_TIED = {"lm_head.weight": "model.embed_tokens.weight"}
_QWEN = {**_UNTIED, "_sliding": "layer_types", "sliding_window": 4096, "max_window_layers": 28, "max_position_embeddings": 32768, "_mlp_bias": False}
_MISTRAL = {**_UNTIED, "_sliding": "all", "sliding_window": 4096, "num_key_value_heads": 8, "max_position_embeddings": 131072,
            "_qkv_bias": False, "_o_bias": False, "_mlp_bias": False}
FAMILIES.update({
    "gpt2": Family("gpt2", "transformer", {**_GPT_HEADS, "token-classification": ("classifier.",)}, {"tie_word_embeddings": True},
                   {"lm_head.weight": "transformer.wte.weight"}, kind="decoder"),
    "gptj": Family("gptj", "transformer", _GPT_HEADS, _UNTIED, {"lm_head.weight": "transformer.wte.weight"}, kind="decoder"),
    "gpt_neox": Family("gpt_neox", "gpt_neox", {**_GPT_HEADS, "token-classification": ("classifier.",)}, _UNTIED,
                       {"lm_head.weight": "gpt_neox.embed_in.weight"}, renames={"embed_out.": "lm_head."}, kind="decoder"),
    "llama": Family("llama", "model", _LLAMA_HEADS, _UNTIED, _LLAMA_TIED, kind="decoder"),
    "mistral": Family("llama", "model", _LLAMA_HEADS, _MISTRAL, _LLAMA_TIED, kind="decoder"),
    "qwen2": Family("llama", "model", _LLAMA_HEADS, {**_QWEN, "_qkv_bias": True, "_o_bias": False}, _LLAMA_TIED, kind="decoder"),
    "qwen3": Family("llama", "model", _LLAMA_HEADS, {**_QWEN, "_qk_norm": True, "head_dim": 128}, _LLAMA_TIED, kind="decoder"),
})

# Encoder-decoders. T5 keeps the backbone at the top level or under `transformer.`, BART under `model.`; the LM
# head is tied to the shared embedding. Overrides give each variant's config defaults plus what its modeling file
# hard-codes: umt5's per-layer position bias (`_per_layer_bias`), mt5's unscaled decoder output
# (`_scale_decoder_outputs`), mbart's pre-norm layers (`_pre_norm`).
_T5_HEADS = {
    "base": (),
    "seq2seq-lm": _LM,
    "sequence-classification": ("classification_head.",),
    "token-classification": _CLS,
    "question-answering": ("qa_outputs.",),
}
_T5_TIED = {"lm_head.weight": ("transformer.shared.weight", "transformer.decoder.embed_tokens.weight")}
_MT5 = {"feed_forward_proj": "gated-gelu", "decoder_start_token_id": 0, "vocab_size": 250112, "d_ff": 1024,
        "num_layers": 8, "num_heads": 6}
_BART_HEADS = {
    "base": (),
    "seq2seq-lm": _LM,
    "masked-lm": _LM,
    # BartForCausalLM is the decoder alone, with its own embedding under the decoder (transformers does not fill it
    # from `shared`): its head counts as trained only where that embedding is stored
    "causal-lm": ("lm_head.", "model.decoder.embed_tokens."),
    "sequence-classification": ("classification_head.",),
    "question-answering": ("qa_outputs.",),
}
_BART_TIED = {"lm_head.weight": ("model.shared.weight", "model.decoder.embed_tokens.weight")}
_BART_TWINS = {"masked-lm": "seq2seq-lm"}
_TIED = {"tie_word_embeddings": True}
FAMILIES.update({
    "t5": Family("t5", "transformer", _T5_HEADS, _TIED, _T5_TIED, kind="seq2seq"),
    "mt5": Family("t5", "transformer", _T5_HEADS, {**_MT5, **_TIED, "_scale_decoder_outputs": False}, _T5_TIED, kind="seq2seq"),
    "umt5": Family("t5", "transformer", _T5_HEADS, {**_MT5, **_TIED, "_per_layer_bias": True}, _T5_TIED, kind="seq2seq"),
    "bart": Family("bart", "model", _BART_HEADS, _TIED, _BART_TIED, _BART_TWINS, kind="seq2seq"),
    "mbart": Family("bart", "model", _BART_HEADS, {**_TIED, "_pre_norm": True}, _BART_TIED, _BART_TWINS, kind="seq2seq"),
})


# Gemma, Gemma 2 and Phi-3 are llama variants (their transformers classes have no QA head). Overrides: the config
# class's defaults, plus `_norm_plus_one` / `_embed_scale` (Gemma's norms and embeddings), `_sandwich_norms` (Gemma 2's
# norms after attention and MLP), `_sliding` "alternate" (Gemma 2's windows on every other layer unless layer_types
# says), `_act_key` / `_act_aliases` (where each reads its activation; Gemma's legacy "gelu" is the tanh one),
# `_partial_rotary`, `_rope_aliases` and `_rope_replay` (Phi-3's rotary and its generate's rerun past the LongRoPE
# switch).
_NO_QA = {t: p for t, p in _LLAMA_HEADS.items() if t != "question-answering"}
_GEMMA = {"tie_word_embeddings": True, "vocab_size": 256000, "max_position_embeddings": 8192, "head_dim": 256,
          "_norm_plus_one": True, "_embed_scale": True, "_mlp_bias": False}
FAMILIES.update({
    "gemma": Family("llama", "model", _NO_QA, {
        **_GEMMA, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28, "num_attention_heads": 16,
        "hidden_act": "gelu_pytorch_tanh", "_act_aliases": {"gelu": "gelu_pytorch_tanh"}}, _LLAMA_TIED, kind="decoder"),
    "gemma2": Family("llama", "model", _NO_QA, {
        **_GEMMA, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8,
        "num_key_value_heads": 4, "_act_key": "hidden_activation", "hidden_activation": "gelu_pytorch_tanh",
        "_sandwich_norms": True, "_sliding": "alternate", "sliding_window": 4096, "query_pre_attn_scalar": 256,
        "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0}, _LLAMA_TIED, kind="decoder"),
    "phi3": Family("llama", "model", _NO_QA, {
        **_UNTIED, "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
        "num_attention_heads": 32, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
        "_sliding": "all", "_qkv_bias": False, "_o_bias": False, "_mlp_bias": False, "_partial_rotary": True,
        "_rope_aliases": {"su": "longrope", "yarn": "longrope"}, "_rope_replay": True}, _LLAMA_TIED, kind="decoder"),
})
