"""Lint: what is wrong with a checkpoint that runs, or would run, from its configs and tensor headers.

Each lint_* function takes parsed facts and returns findings; none reads files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from autocli import registry
from autocli.compat.facts import Facts, Shapes
from autocli.config import Config
from autocli.errors import AutocliError
from autocli.headers import FLOAT_DTYPES
from autocli.tokenizer import max_length_of

SEV_ERROR, SEV_WARNING, SEV_INFO = "error", "warning", "info"

# Every lint finding compat can report, with what it means (the names are listed in `autocli compat --help`).
FINDINGS = {
    "dimensions": "config sizes out of range (autocli refuses to allocate them)",
    "norm-eps": "a norm epsilon in config.json is NaN, infinite or negative (the loader refuses it)",
    "tensor-dtype": "an integer or bool tensor where the model has floating-point weights (the loader refuses it)",
    "tensor-shape": "the embedding matrix disagrees with config.json vocab_size / hidden size (the loader refuses it)",
    "missing-tensor": "a layer lacks a tensor the other layers have, or fewer layers than config.json says",
    "architectures-model-type": "an `architectures` class belongs to another model_type",
    "architectures-weights": "a head declared in `architectures` has no weights",
    "id2label-size": "id2label / num_labels differ from the classifier's output rows",
    "generic-labels": "a classifier whose labels are the placeholders LABEL_0, LABEL_1, ... (or none: id2label null)",
    "bio-tags": "a token classifier's tag set is not a valid IOB1/IOB2/BIOES/BILOU/BMES set",
    "problem-type": "problem_type unknown or inconsistent with the number of labels",
    "vocab-size": "the tokenizer can emit ids beyond the embedding matrix",
    "max-length": "tokenizer model_max_length exceeds the position embeddings",
    "tied-embeddings": "tie_word_embeddings disagrees with the stored LM head",
    "decoder-pad-token": "a decoder classifier without pad_token_id",
    "index-missing-shard": "the index names a shard that is not in the checkpoint",
    "index-extra-shard": "a shard file that the index does not name",
    "index-missing-tensor": "the index maps a tensor to a shard whose header lacks it",
    "index-unlisted-tensor": "a shard holds a tensor that the index does not map",
    "mixed-dtypes": "shards store floating-point weights in different dtypes",
    "tokenizer-invalid": "a tokenizer file could not be read, or the tokenizer does not load",
    "tokenizer-missing": "no tokenizer files (commands that take text cannot run)",
    "generation-config": "generation_config.json (or config.json's generation ids) would make generate refuse to run",
    "preprocessor-missing": "an image or audio checkpoint without preprocessor_config.json",
    "preprocessor-invalid": "preprocessor_config.json cannot be read, or has settings the processor cannot honour",
    "preprocessor-type": "preprocessor_config.json names a processor autocli does not run",
}


PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
CLASSIFIER_TASKS = ("sequence-classification", "token-classification")
LM_TASKS = ("masked-lm", "causal-lm", "seq2seq-lm", "pretraining")

# Key-name conventions shared by the families (as transformers names them), for any model_type.
# The classifier's output layer, best first; then "the only 2-D weight under the head prefix".
CLASSIFIER_PREFIXES = ("classifier.", "score.", "classification_head.")
CLASSIFIER_OUTPUTS = ("out_proj.weight", "weight")
EMBEDDING_SUFFIXES = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight", "tok_embeddings.weight", "embed_in.weight", "shared.weight")
LM_OUTPUTS = (
    "lm_head.weight",
    "embed_out.weight",
    "lm_head.decoder.weight",
    "cls.predictions.decoder.weight",
    "predictions.decoder.weight",
    "vocab_projector.weight",
    "generator_lm_head.weight",
)
# Class-name endings stripped before comparing an architecture's stem with model_type.
ARCH_ENDINGS = ("LMHeadModel", "DoubleHeadsModel", "EncoderModel", "DecoderModel", "Model", "LMHead", "Encoder", "Decoder")
TAG = re.compile(r"^([A-Za-z])(?:[-_](.+))?$")
TAG_SCHEMES = {"IOB": set("BI"), "BIOES": set("BIES"), "BILOU": set("BILU"), "BMES": set("BMES")}
GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


@dataclass
class Finding:
    name: str
    severity: str
    message: str


# --- small readers of hostile config values: a wrong type means "not stated", never a crash ---


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _labels(cfg: Config) -> list[str] | None:
    """id2label as a list by id, or None when absent or not a dense 0..n-1 map."""
    try:
        m = cfg.id2label
    except AutocliError:
        return None
    if not m or sorted(m) != list(range(len(m))):
        return None
    return [m[i] for i in range(len(m))]


def _num_labels(cfg: Config) -> int | None:
    labels = _labels(cfg)
    if labels is not None:
        return len(labels)
    return _int(cfg.raw.get("num_labels"))



def _weight(tensors: Shapes, name: str) -> tuple | None:
    entry = tensors.get(name)
    return tuple(entry[0]) if entry is not None else None


def classifier_output(tensors: Shapes, prefixes=CLASSIFIER_PREFIXES) -> tuple[str, tuple] | None:
    """The classifier's output layer (name, shape), found under the head's key prefixes.

    Multi-part heads list their output layer last (`pre_classifier.`, `classifier.`).
    """
    for prefix in reversed(prefixes):
        for ending in CLASSIFIER_OUTPUTS:
            shape = _weight(tensors, prefix + ending)
            if shape is not None and len(shape) == 2:
                return prefix + ending, shape
        mats = [(k, tuple(v[0])) for k, v in tensors.items() if k.startswith(prefix) and k.endswith(".weight") and len(v[0]) == 2]
        if len(mats) == 1:
            return mats[0]
    return None


def embedding_rows(tensors: Shapes) -> tuple[str, int] | None:
    """The input embedding matrix (name, rows): the shortest key with a known ending."""
    found = [(k, v[0]) for k, v in tensors.items() if k.endswith(EMBEDDING_SUFFIXES) and len(v[0]) == 2]
    if not found:
        return None
    name, shape = min(found, key=lambda kv: (len(kv[0]), kv[0]))
    return name, shape[0]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def arch_stem(arch: str) -> str:
    """`XLMRobertaForTokenClassification` -> `XLMRoberta`, `GPT2LMHeadModel` -> `GPT2`."""
    stem = re.split(r"For(?=[A-Z])", arch, maxsplit=1)[0]
    for ending in ARCH_ENDINGS:
        if stem.endswith(ending) and len(stem) > len(ending):
            return stem[: -len(ending)]
    return stem


# --- lint: each function takes the parsed facts and returns findings ---


def lint_architectures(cfg: Config, fam, tensors: Shapes, trained: set[str]) -> list[Finding]:
    out = []
    mt = _norm(cfg.model_type)
    for arch in cfg.architectures:
        stem = _norm(arch_stem(arch))
        if stem and mt and not (stem.startswith(mt) or mt.startswith(stem)):
            sev = SEV_ERROR if fam is not None else SEV_WARNING
            out.append(Finding("architectures-model-type", sev, f"architectures names {arch} but model_type is {cfg.model_type!r}"))
    if fam is None or not tensors:
        return out
    for task in registry.declared_tasks(cfg.architectures, registry.family(cfg.model_type)):
        if task in fam.heads and fam.heads[task] and task not in trained:
            where = ", ".join(p + "*" for p in fam.heads[task])
            out.append(Finding("architectures-weights", SEV_ERROR, f"architectures declares a {task} head but the weights have no {where}"))
    return out


def lint_labels(cfg: Config, fam, tensors: Shapes, declared: list[str]) -> list[Finding]:
    out = []
    tasks = [t for t in CLASSIFIER_TASKS if t in declared]
    if not tasks:
        return out
    labels = _labels(cfg)
    n = _num_labels(cfg)
    prefixes = tuple(p for t in tasks for p in ((fam.heads.get(t) or ()) if fam else ())) or CLASSIFIER_PREFIXES
    head = classifier_output(tensors, prefixes)
    if head is not None and n is not None and head[1][0] != n:
        what = "id2label has" if labels is not None else "num_labels is"
        out.append(Finding("id2label-size", SEV_ERROR, f"{what} {n} labels but {head[0]} has {head[1][0]} rows"))
    if labels and len(labels) > 1 and all(GENERIC_LABEL.match(l) for l in labels):
        out.append(Finding("generic-labels", SEV_WARNING, f"labels are placeholders ({labels[0]}, {labels[1]}, ...): set id2label in config.json"))
    rows = head[1][0] if head is not None else n
    if not cfg.raw.get("id2label") and (rows is None or rows > 1):
        # transformers 5 saves default labels as `"id2label": null`: every runtime then prints LABEL_0, LABEL_1, ...
        out.append(Finding("generic-labels", SEV_WARNING, "config.json has no id2label: labels are reported as LABEL_0, LABEL_1, ...; set id2label"))
    if labels and "token-classification" in tasks:
        out += lint_tags(labels)
    return out


def lint_tags(labels: list[str]) -> list[Finding]:
    """A NER tag set: O plus PREFIX-TYPE tags of one scheme (IOB1/IOB2, BIOES, BILOU, BMES)."""
    others = [l for l in labels if l != "O"]
    parsed = {l: TAG.match(l) for l in others}
    tagged = {l: (m.group(1).upper(), m.group(2) or "") for l, m in parsed.items() if m and m.group(1).upper() in "BIESLUM"}
    if not tagged or 2 * len(tagged) < len(others):
        return []  # not an entity tag set (POS tags, intents, ...)
    out = []
    odd = [l for l in others if l not in tagged]
    if odd:
        out.append(Finding("bio-tags", SEV_ERROR, f"tags without a B-/I-/E-/S-/L-/U- prefix: {', '.join(odd[:5])}"))
    if "O" not in labels:
        out.append(Finding("bio-tags", SEV_WARNING, "no O tag for tokens outside entities"))
    used = {p for p, _ in tagged.values()}
    schemes = [name for name, letters in TAG_SCHEMES.items() if used <= letters]
    if not schemes:
        out.append(Finding("bio-tags", SEV_ERROR, f"prefixes {', '.join(sorted(used))} mix tagging schemes"))
        return out
    by_type: dict[str, set] = {}
    for p, t in tagged.values():
        by_type.setdefault(t, set()).add(p)
    # With B- nowhere, I-only is the IO / IOB1 convention; otherwise each type should open with B-.
    if "B" in used:
        lone = sorted(t or "(untyped)" for t, ps in by_type.items() if "I" in ps and "B" not in ps)
        if lone:
            out.append(Finding("bio-tags", SEV_WARNING, f"I- without B- for {', '.join(lone[:5])} (valid only in IOB1 tagging)"))
    scheme = schemes[0]
    if scheme != "IOB":
        need = TAG_SCHEMES[scheme]
        short = sorted(f"{t or '(untyped)'} lacks {'/'.join(sorted(need - ps))}" for t, ps in by_type.items() if need - ps)
        if short:
            out.append(Finding("bio-tags", SEV_WARNING, f"incomplete {scheme} set: {'; '.join(short[:5])}"))
    return out


def lint_problem_type(cfg: Config, declared: list[str], rows: int | None) -> list[Finding]:
    pt = cfg.raw.get("problem_type")
    if pt is None:
        return []
    if pt not in PROBLEM_TYPES:
        return [Finding("problem-type", SEV_ERROR, f"problem_type {pt!r} is not one of {', '.join(PROBLEM_TYPES)}")]
    if "sequence-classification" not in declared:
        return []
    n = rows if rows is not None else _num_labels(cfg)
    if n is None:
        return []
    if pt == "multi_label_classification" and n < 2:
        return [Finding("problem-type", SEV_ERROR, f"multi_label_classification with {n} label")]
    if pt == "single_label_classification" and n < 2:
        return [Finding("problem-type", SEV_ERROR, f"single_label_classification with {n} label (softmax would always give 1.0)")]
    if pt == "regression" and n > 1:
        return [Finding("problem-type", SEV_WARNING, f"regression with {n} outputs (scores are reported unnormalised, one per label)")]
    return []


def lint_tokenizer(cfg: Config, fam, facts: Facts, tensors: Shapes) -> list[Finding]:
    out = []
    if facts.tokenizer is None and not facts.tokenizer_files:
        out.append(Finding("tokenizer-missing", SEV_WARNING, "no tokenizer files (tokenizer.json, vocab.txt, vocab.json, *.model)"))
    elif facts.tokenizer is None or facts.tokenizer_problem:
        out.append(Finding("tokenizer-invalid", SEV_ERROR, facts.tokenizer_error or facts.tokenizer_problem))
    emb = embedding_rows(tensors)
    rows = emb[1] if emb else _int(cfg.get("vocab_size"))
    where = emb[0] if emb else "config vocab_size"
    if facts.tokenizer_vocab is not None and rows is not None and facts.tokenizer_vocab > rows:
        out.append(Finding("vocab-size", SEV_ERROR, f"the tokenizer has ids up to {facts.tokenizer_vocab - 1:,} but {where} has {rows:,} rows"))
    tc = facts.tokenizer_config if isinstance(facts.tokenizer_config, dict) else {}
    mml = max_length_of(tc.get("model_max_length"))
    positions = _int(cfg.get("context_length"))
    if mml is not None and positions:
        usable = positions - position_offset(cfg, fam)
        if mml > usable:
            extra = f" ({positions} minus an offset of {positions - usable})" if usable != positions else ""
            out.append(Finding("max-length", SEV_WARNING, f"model_max_length {mml:,} exceeds the {usable:,} usable positions{extra}"))
    return out


def position_offset(cfg: Config, fam) -> int:
    """RoBERTa-style position ids start at padding_idx + 1, so 514 positions hold 512 tokens."""
    return registry.position_offset(fam, cfg.raw)


def lint_tied(cfg: Config, fam, tensors: Shapes, declared: list[str]) -> list[Finding]:
    tie = {**((fam.overrides or {}) if fam else {}), **cfg.raw}.get("tie_word_embeddings", True)
    if not isinstance(tie, bool) or not tensors:
        return []
    heads = [(k, _weight(tensors, k)) for k in LM_OUTPUTS if k in tensors]
    emb = embedding_rows(tensors)
    emb_shape = _weight(tensors, emb[0]) if emb else None
    if not tie and not heads and any(t in declared for t in LM_TASKS):
        return [Finding("tied-embeddings", SEV_ERROR, "tie_word_embeddings is false but there is no lm_head weight: the LM head would be random")]
    if tie and heads and emb_shape is not None:
        name, shape = heads[0]
        if shape != emb_shape:
            return [Finding("tied-embeddings", SEV_ERROR, f"tie_word_embeddings is true but {name} {list(shape)} differs from {emb[0]} {list(emb_shape)}")]
        if name == "lm_head.weight":
            return [Finding("tied-embeddings", SEV_INFO, "tie_word_embeddings is true but lm_head.weight is stored too: runtimes that tie use the input embeddings")]
    return []


def lint_decoder_pad(cfg: Config, fam, tensors: Shapes, declared: list[str]) -> list[Finding]:
    if "sequence-classification" not in declared:
        return []
    prefixes = (fam.heads.get("sequence-classification") or ()) if fam else ()
    decoder_style = "score." in prefixes or (not prefixes and any(k.startswith("score.") for k in tensors))
    if decoder_style and cfg.raw.get("pad_token_id") is None:
        return [Finding("decoder-pad-token", SEV_INFO, "a decoder classifier without pad_token_id: autocli pools at the last real token by the attention mask, other runtimes refuse batches of more than one")]
    return []


def lint_shards(facts: Facts) -> list[Finding]:
    out = []
    weight_map = (facts.index or {}).get("weight_map") if isinstance(facts.index, dict) else None
    if isinstance(weight_map, dict):
        named = sorted({str(v) for v in weight_map.values()})
        present = set(facts.files)
        for shard in named:
            if shard not in present:
                out.append(Finding("index-missing-shard", SEV_ERROR, f"{facts.index_name} names {shard}, which is not in the checkpoint"))
        stem = (facts.index_name or "model.safetensors.index.json").split(".safetensors")[0]
        for f in sorted(present):
            if "/" not in f and f.endswith(".safetensors") and f.startswith(stem) and f not in named:
                out.append(Finding("index-extra-shard", SEV_WARNING, f"{f} is not named by {facts.index_name}"))
        missing = [(t, s) for t, s in weight_map.items() if s in facts.shards and t not in facts.shards[s]]
        if missing:
            listed = ", ".join(f"{t} ({s})" for t, s in missing[:3])
            out.append(Finding("index-missing-tensor", SEV_ERROR, f"{len(missing)} tensor(s) in the weight_map are not in their shard: {listed}"))
        unlisted = [t for s, tensors in facts.shards.items() if s in named for t in tensors if weight_map.get(t) != s]
        if unlisted:
            out.append(Finding("index-unlisted-tensor", SEV_WARNING, f"{len(unlisted)} tensor(s) in the shards are not mapped by the index: {', '.join(sorted(unlisted)[:3])}"))
    per_shard = {s: {v[1] for v in tensors.values()} & FLOAT_DTYPES for s, tensors in facts.shards.items()}
    kinds = {frozenset(d) for d in per_shard.values() if d}
    if len(kinds) > 1:
        desc = "; ".join(f"{s}: {'/'.join(sorted(d))}" for s, d in sorted(per_shard.items()) if d)
        out.append(Finding("mixed-dtypes", SEV_WARNING, f"shards differ in floating-point dtype ({desc})"))
    return out
