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
}

# `architectures` class-name suffix -> task; the first suffix that matches wins.
ARCH_SUFFIXES = (
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
    module: str  # autocli.models.<module>
    prefix: str  # backbone prefix inside head checkpoints ("bert" -> "bert.embeddings...")
    # task -> key prefixes (at the checkpoint's top level) that hold that head's trained weights;
    # "base" needs none. A task missing here is a head this architecture does not have.
    heads: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # config defaults a variant row sets


# model_type -> Family. Rows are added as families are implemented.
FAMILIES: dict[str, Family] = {}


def canonical_task(name: str) -> str | None:
    name = name.strip().lower().replace("_", "-")
    if name in TASKS:
        return name
    return TASK_ALIASES.get(name)


def family(model_type: str) -> Family | None:
    return FAMILIES.get(model_type)


def supported_families() -> list[str]:
    return sorted(FAMILIES)


def task_of_architecture(arch: str) -> str | None:
    for suffix, task in ARCH_SUFFIXES:
        if arch.endswith(suffix):
            return task
    return None


def declared_tasks(architectures: list[str]) -> list[str]:
    out = []
    for arch in architectures:
        task = task_of_architecture(arch)
        if task and task not in out:
            out.append(task)
    return out


def _has_prefix(keys: set[str] | list[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def trained_heads(fam: Family, keys, architectures: list[str]) -> set[str]:
    """Tasks whose head weights are in the checkpoint.

    Heads that share key names (BERT's `classifier.` serves sequence, token and multiple-choice
    classification) are told apart by `architectures`: the declared one owns the weights.
    """
    keys = set(keys)
    declared = set(declared_tasks(architectures))
    present = {task for task, prefixes in fam.heads.items() if prefixes and all(_has_prefix(keys, p) for p in prefixes)}
    out = set()
    for task in present:
        sharers = {t for t in present if set(fam.heads[t]) & set(fam.heads[task])}
        if len(sharers) == 1 or task in declared or not (sharers & declared):
            out.add(task)
    if "pretraining" in declared:
        out |= present  # *ForPreTraining checkpoints carry every head they name
    out.add("base")
    return out


def generic_heads(keys) -> list[str]:
    """Head kinds recognisable in any checkpoint's key names (for model types autocli cannot run)."""
    found = []
    for prefix, kind in GENERIC_HEAD_KEYS:
        if kind not in found and any(k.startswith(prefix) for k in keys):
            found.append(kind)
    return found
