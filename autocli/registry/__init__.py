"""String tables: what autocli runs and how a checkpoint's names map onto it. Data, no torch.

Adding a family is one file in autocli/models/ plus one row in registry/text.py or registry/media.py; a variant of a
family (xlm-roberta of roberta, mistral of llama) is a row pointing at the same module.
"""

from __future__ import annotations

from autocli.registry import media, text
from autocli.registry.family import Family


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
    "zero-shot-image-classification",
    "speech-seq2seq",
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
    "zero-shot": "zero-shot-image-classification",
    "speech-to-text": "speech-seq2seq",
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
    "zero-shot-image-classification": "AutoModelForZeroShotImageClassification",
    "speech-seq2seq": "AutoModelForSpeechSeq2Seq",
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
KIND_TASKS = {"audio": {"sequence-classification": "audio-classification", "seq2seq-lm": "speech-seq2seq"}}
# What a family's inputs are: text families take token ids, the others decoded files.
KIND_INPUTS = {"vision": "image", "audio": "audio", "document": "document", "image-text": "image"}

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

# What a checkpoint is for, said to someone who asked it for a head it lacks: task -> (what it does, how to run it).
TASK_USES = {
    "zero-shot-image-classification": ("classifies images zero-shot, against candidate labels you give",
                                       'pass the labels: autocli classify MODEL IMAGE --labels "cat,dog"'),
    "image-classification": ("classifies images", "autocli classify MODEL IMAGE"),
    "audio-classification": ("classifies audio clips", "autocli classify MODEL CLIP.wav"),
    "sequence-classification": ("classifies texts", 'autocli classify MODEL "a text"'),
    "token-classification": ("tags tokens", 'autocli tag MODEL "a text"'),
    "question-answering": ("answers questions from a context", 'autocli qa MODEL --question Q --context "a text"'),
    "masked-lm": ("fills masked tokens", 'autocli fill-mask MODEL "a text with a mask token"'),
    "causal-lm": ("generates text", 'autocli generate MODEL "a prompt"'),
    "seq2seq-lm": ("generates text from text", 'autocli generate MODEL "a text"'),
    "multiple-choice": ("picks among choices", "autocli choose MODEL --question Q --choice A --choice B"),
    "ctc": ("transcribes speech", "autocli transcribe MODEL CLIP.wav"),
    "speech-seq2seq": ("transcribes speech", "autocli transcribe MODEL CLIP.wav"),
}

# model_type -> Family, every modality.
FAMILIES: dict[str, Family] = {**text.FAMILIES, **media.FAMILIES}


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
    """What the family's commands read: "text", "image", "audio" or "document"."""
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


def other_use(trained: set[str], declared: list[str], task: str) -> str | None:
    """The task to offer someone who asked a checkpoint for `task`, whose head it lacks: one whose head it
    carries, a task its architectures declare first."""
    usable = [t for t in TASKS if t in trained and t != task and t in TASK_USES]
    return next((t for t in usable if t in declared), usable[0] if usable else None)


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
