"""String tables: what autocli runs and how a checkpoint's names map onto it. Data, no torch.

Adding a family is one file in autocli/models/ plus one row in FAMILIES; a variant of a
family (xlm-roberta of roberta, mistral of llama) is a row pointing at the same module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The tasks a checkpoint can be asked for (compat's columns, the commands' needs).
TASKS = (
    "base",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "masked-lm",
    "causal-lm",
    "seq2seq-lm",
    "multiple-choice",
    "next-sentence-prediction",
    "replaced-token-detection",
    "image-classification",
    "masked-image-modeling",
    "audio-classification",
    "ctc",
)
TASK_ALIASES = {
    "feature-extraction": "base",
    "embed": "base",
    "text-classification": "sequence-classification",
    "classify": "sequence-classification",
    "ner": "token-classification",
    "tag": "token-classification",
    "qa": "question-answering",
    "fill-mask": "masked-lm",
    "text-generation": "causal-lm",
    "generate": "causal-lm",
    "text2text-generation": "seq2seq-lm",
    "choose": "multiple-choice",
    "nsp": "next-sentence-prediction",
    "rtd": "replaced-token-detection",
    "sentiment-analysis": "sequence-classification",
    "summarization": "seq2seq-lm",
    "translation": "seq2seq-lm",
    "automatic-speech-recognition": "ctc",
    "asr": "ctc",
    "transcribe": "ctc",
}
# task -> transformers' Auto class (compat names it; `--task AutoModelForTokenClassification` works too).
AUTO_CLASSES = {
    "base": "AutoModel",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "causal-lm": "AutoModelForCausalLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
    "multiple-choice": "AutoModelForMultipleChoice",
    "next-sentence-prediction": "AutoModelForNextSentencePrediction",
    "replaced-token-detection": "AutoModelForPreTraining",
    "image-classification": "AutoModelForImageClassification",
    "masked-image-modeling": "AutoModelForMaskedImageModeling",
    "audio-classification": "AutoModelForAudioClassification",
    "ctc": "AutoModelForCTC",
}
# AutoModelForPreTraining is ELECTRA's discriminator but BERT's MLM + NSP pair: not a name for one task.
TASK_ALIASES.update({cls.lower(): task for task, cls in AUTO_CLASSES.items() if task != "replaced-token-detection"})

# `architectures` class-name suffix -> task; the first suffix that matches wins.
ARCH_SUFFIXES = (
    ("ForImageClassificationWithTeacher", "image-classification"),
    ("ForImageClassification", "image-classification"),
    ("ForMaskedImageModeling", "masked-image-modeling"),
    ("ForAudioClassification", "audio-classification"),
    ("ForCTC", "ctc"),
    ("ForSequenceClassification", "sequence-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "masked-lm"),
    ("ForCausalLM", "causal-lm"),
    ("LMHeadModel", "causal-lm"),
    ("ForConditionalGeneration", "seq2seq-lm"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForNextSentencePrediction", "next-sentence-prediction"),
    ("ForPreTraining", "pretraining"),
    ("EncoderModel", "base"),
    ("Model", "base"),
)

# The same class-name suffix means another task for another modality (Wav2Vec2ForSequenceClassification
# classifies audio clips).
KIND_TASKS = {"audio": {"sequence-classification": "audio-classification"}}
# What a family's inputs are: text families take token ids, the others decoded files.
KIND_INPUTS = {"vision": "image", "audio": "audio"}

# Head key prefixes seen across families, for checkpoints of any model_type (inspect).
GENERIC_HEAD_KEYS = (
    ("qa_outputs.", "question-answering"),
    ("cls.predictions.", "masked-lm"),
    ("cls.seq_relationship.", "next-sentence-prediction"),
    ("lm_head.", "lm-head"),
    ("generator_lm_head.", "masked-lm"),
    ("vocab_projector.", "masked-lm"),
    ("predictions.", "masked-lm"),
    ("discriminator_predictions.", "replaced-token-detection"),
    ("classifier.", "classifier"),
    ("score.", "sequence-classification"),
    ("pooler.", "pooler"),
)


@dataclass(frozen=True)
class Family:
    """Everything about a model_type's key names; compat, inspect and the loader all read these rows."""

    module: str  # autocli.models.<module>
    prefix: str  # backbone prefix inside head checkpoints ("bert" -> "bert.embeddings...")
    # task -> key prefixes (at the checkpoint's top level) that hold that head's trained weights;
    # "base" needs none. A task missing here is a head this architecture does not have.
    heads: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # config defaults a variant row sets
    # weight -> the embedding weight it *is* when config.tie_word_embeddings (overrides give the family's default),
    # full names as our modules spell them. The embedding may be a tuple of names, the first present one used
    # (BART keeps it as `model.shared`, or only under the decoder). A tied weight that is the whole of a head's
    # prefix (a causal LM's `lm_head.weight`) makes that head trained whenever the embeddings are there.
    tied: dict = field(default_factory=dict)
    # task -> task whose trained weights it runs (BART's fill-mask is its seq2seq LM, as in transformers)
    twins: dict = field(default_factory=dict)
    # checkpoint key prefix -> the prefix our modules use: older or alternative head names. The loader renames
    # them before anything else, so compat recognises a head exactly when the loader would.
    renames: dict = field(default_factory=dict)
    # task -> why autocli does not run a head transformers has (compat says so instead of "no such head").
    not_run: dict = field(default_factory=dict)
    kind: str = "encoder"  # encoder | decoder | seq2seq (text) | vision | audio
    # position ids start at pad_token_id + 1 (fairseq's make_positions): P positions hold P - pad - 1 tokens
    position_offset: bool = False
    # the image processor or feature extractor transformers builds when preprocessor_config.json names none
    processor: str = ""


# model_type -> Family.
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

def canonical_task(name: str) -> str | None:
    name = name.strip().lower().replace("_", "-")
    if name in TASKS:
        return name
    return TASK_ALIASES.get(name)


def family(model_type: str) -> Family | None:
    return FAMILIES.get(model_type)


def supported_families() -> list[str]:
    return sorted(FAMILIES)


def input_kind(model_type: str) -> str:
    """What the family's commands read: "text", "image" or "audio"."""
    fam = FAMILIES.get(model_type)
    return KIND_INPUTS.get(fam.kind, "text") if fam is not None else "text"


def task_of_architecture(arch: str, fam: Family | None = None) -> str | None:
    for suffix, task in ARCH_SUFFIXES:
        if arch.endswith(suffix):
            return KIND_TASKS.get(fam.kind, {}).get(task, task) if fam is not None else task
    return None


def declared_tasks(architectures: list[str], fam: Family | None = None) -> list[str]:
    out = []
    for arch in architectures:
        task = task_of_architecture(arch, fam)
        if task and task not in out:
            out.append(task)
    return out


def _has_prefix(keys: set[str] | list[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def trained_heads(fam: Family, keys, architectures: list[str], config: dict | None = None) -> set[str]:
    """Tasks whose head weights are in the checkpoint.

    Heads that share key names (BERT's `classifier.` serves sequence, token and multiple-choice
    classification) are told apart by `architectures`: the declared one owns the weights.
    With the raw config, tied heads (fam.tied) count as present when their embeddings are.
    """
    keys = canonical_keys(fam, keys)
    if config is not None:
        keys |= tied_keys(fam, keys, config)
    declared = set(declared_tasks(architectures, fam))
    present = {task for task, prefixes in fam.heads.items() if prefixes and all(_has_prefix(keys, p) for p in prefixes)}
    out = set()
    for task in present:
        sharers = {t for t in present if set(fam.heads[t]) & set(fam.heads[task])}
        if len(sharers) == 1 or task in declared or not (sharers & declared):
            out.add(task)
    if "pretraining" in declared:
        out |= present  # *ForPreTraining checkpoints carry every head they name
    out |= {task for task, twin in fam.twins.items() if twin in out}
    out.add("base")
    return out


def renamed(fam: Family, key: str) -> str:
    """A checkpoint key as our modules spell it (Family.renames, first matching prefix)."""
    for old, new in fam.renames.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def canonical_keys(fam: Family, keys) -> set[str]:
    """A checkpoint's key names as our modules call them (Family.renames)."""
    return {renamed(fam, k) for k in keys}


def ties_embeddings(fam: Family, config: dict) -> bool:
    """config.tie_word_embeddings, with the family's default (a row's overrides) where config.json is silent."""
    return {**fam.overrides, **config}.get("tie_word_embeddings", True) is not False


def tie_sources(embs) -> tuple:
    return (embs,) if isinstance(embs, str) else tuple(embs)


def tied_keys(fam: Family, keys, config: dict) -> set[str]:
    """Head weights a tied checkpoint holds through its embeddings (GPT-2's `lm_head.weight`): only those that are
    the whole of a head's key prefix count (BERT's tied MLM decoder alone is not a trained head)."""
    if not ties_embeddings(fam, config):
        return set()
    keys = canonical_keys(fam, keys)
    prefixes = {p for ps in fam.heads.values() for p in ps}
    return {head for head, embs in fam.tied.items()
            if head.rsplit(".", 1)[0] + "." in prefixes
            and any(emb in keys or emb.split(".", 1)[-1] in keys for emb in tie_sources(embs))}


def position_offset(fam: Family | None, config: dict) -> int:
    """How many of max_position_embeddings a family's position ids skip (Family.position_offset)."""
    if fam is None or not fam.position_offset:
        return 0
    pad = {**fam.overrides, **config}.get("pad_token_id", 1)
    return pad + 1 if isinstance(pad, int) and not isinstance(pad, bool) and pad >= 0 else 0


def generic_heads(keys) -> list[str]:
    """Head kinds recognisable in any checkpoint's key names (for model types autocli cannot run)."""
    found = []
    for prefix, kind in GENERIC_HEAD_KEYS:
        if kind not in found and any(k.startswith(prefix) for k in keys):
            found.append(kind)
    return found
