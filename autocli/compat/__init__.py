"""compat: which tasks each checkpoint can run, and what is wrong with it, from headers alone.

Reads config.json, the tokenizer files and the safetensors headers (range reads on the Hub);
never weight bytes, never torch. Task verdicts come from the registry (FAMILIES, their
`heads` tables, TASKS), so the matrix grows as families are added.

JSON schema (`autocli compat --format json`), version "autocli.compat/1"; fields are only
ever added, never renamed or removed within a version:

    {
      "schema": "autocli.compat/1",
      "tasks": ["base", "sequence-classification", ...],   # the columns, canonical task names
      "required": ["token-classification"],                 # --require, canonical
      "strict": false,
      "ok": true,                                           # every --require met (--strict: and no lint error)
      "checkpoints": [
        {
          "checkpoint": "org/name",                         # as given on the command line
          "model_type": "bert" | null,                      # null when config.json could not be read
          "family": "bert" | null,                          # autocli.models module; null if unsupported
          "architectures": ["BertForTokenClassification"],
          "error": null | {"message": str, "hint": str|null, "exit_code": int},
          "verdicts": {                                     # one per task in "tasks", same order
            "token-classification": {"verdict": VERDICT, "reason": str}, ...
          },
          "findings": [{"name": LINT, "severity": "error"|"warning"|"info", "message": str}, ...],
          "failed": ["token-classification"]               # required tasks that are not "ready"
        }, ...
      ]
    }

VERDICT is one of: "ready" (runs, head weights present), "head-untrained" (the architecture has
the head but its weights are missing: it would be random), "unsupported-head" (the architecture
has no such head), "family-unsupported" (autocli cannot run this model_type), "blocked" (remote
code in auto_map, or pickle-only weights), "error" (the checkpoint could not be read or is refused).

LINT names: see FINDINGS below.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from autocli import registry
from autocli.config import Config, parse_config
from autocli.errors import AutocliError, InvalidCheckpoint
from autocli.headers import FLOAT_DTYPES
from autocli.tokenizer import VOCAB_FILES

SCHEMA = "autocli.compat/1"

READY = "ready"
UNTRAINED = "head-untrained"
NO_HEAD = "unsupported-head"
NO_FAMILY = "family-unsupported"
BLOCKED = "blocked"
ERROR = "error"
VERDICTS = (READY, UNTRAINED, NO_HEAD, NO_FAMILY, BLOCKED, ERROR)

SEV_ERROR, SEV_WARNING, SEV_INFO = "error", "warning", "info"

# Every lint finding compat can report, with what it means (the names are listed in `autocli compat --help`).
FINDINGS = {
    "dimensions": "config sizes out of range (autocli refuses to allocate them)",
    "architectures-model-type": "an `architectures` class belongs to another model_type",
    "architectures-weights": "a head declared in `architectures` has no weights",
    "id2label-size": "id2label / num_labels differ from the classifier's output rows",
    "generic-labels": "a classifier whose labels are the placeholders LABEL_0, LABEL_1, ...",
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
    "tokenizer-invalid": "a tokenizer file could not be read",
    "tokenizer-missing": "no tokenizer files (commands that take text cannot run)",
}

# transformers' "no limit" model_max_length (int(1e30)) and anything like it.
UNLIMITED_LENGTH = 10**12
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
# Family modules whose position ids are offset by padding_idx + 1 (roberta, xlm-roberta, camembert rows).
PAD_OFFSET_MODULES = ("roberta",)

Shapes = dict  # tensor name -> (shape tuple, dtype str)


@dataclass
class Verdict:
    verdict: str
    reason: str


@dataclass
class Finding:
    name: str
    severity: str
    message: str


@dataclass
class CheckpointReport:
    checkpoint: str
    model_type: str | None = None
    family: str | None = None
    architectures: list = field(default_factory=list)
    error: dict | None = None
    verdicts: dict = field(default_factory=dict)  # task -> Verdict
    findings: list = field(default_factory=list)
    failed: list = field(default_factory=list)


@dataclass
class CompatReport:
    schema: str
    tasks: list
    required: list
    strict: bool
    ok: bool
    checkpoints: list


@dataclass
class Facts:
    """What compat knows about one checkpoint: plain data, no I/O."""

    config: Any  # config.json as parsed JSON (validated by parse_config)
    files: list = field(default_factory=list)  # file names in the checkpoint
    shards: dict = field(default_factory=dict)  # safetensors file -> {tensor name: (shape, dtype)}
    index: dict | None = None  # the parsed *.safetensors.index.json
    index_name: str | None = None
    pickle_files: list = field(default_factory=list)
    tokenizer_config: Any = None  # tokenizer_config.json as parsed JSON
    tokenizer_vocab: int | None = None  # ids the tokenizer can emit (max id + 1)
    tokenizer_problem: str | None = None  # why a tokenizer file could not be read
    weights_problem: str | None = None  # why the weights would be refused (an inconsistent index)


# --- tokenizer facts (plain JSON/text; the `tokenizers` library is not needed to count ids) ---


def _ids_bound(ids, what: str) -> int | None:
    best = None
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise InvalidCheckpoint(f"{what}: token id {i!r} is not a non-negative integer", "the tokenizer file looks corrupt")
        best = i if best is None or i > best else best
    return None if best is None else best + 1


def tokenizer_json_vocab(data: Any) -> int | None:
    """ids a tokenizer.json can emit: its model vocab plus added tokens (max id + 1)."""
    if not isinstance(data, dict):
        raise InvalidCheckpoint("tokenizer.json is not a JSON object", "re-download or re-save the tokenizer")
    model = data.get("model")
    if not isinstance(model, dict):
        raise InvalidCheckpoint("tokenizer.json has no model section", "re-download or re-save the tokenizer")
    vocab = model.get("vocab")
    if isinstance(vocab, dict):
        n = _ids_bound(vocab.values(), "tokenizer.json")
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the position
        n = len(vocab) or None
    elif vocab is None:
        n = None
    else:
        raise InvalidCheckpoint("tokenizer.json: model.vocab is neither a map nor a list", "re-download or re-save the tokenizer")
    added = data.get("added_tokens") or []
    if not isinstance(added, list) or not all(isinstance(t, dict) for t in added):
        raise InvalidCheckpoint("tokenizer.json: added_tokens is not a list of objects", "re-download or re-save the tokenizer")
    m = _ids_bound([t.get("id") for t in added], "tokenizer.json added_tokens")
    return max(x for x in (n, m, 0) if x is not None) or None


def vocab_txt_size(text: str) -> int:
    """WordPiece vocab.txt: one token per line, the id is the line number."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return len(lines)


def vocab_json_size(data: Any) -> int | None:
    if not isinstance(data, dict):
        raise InvalidCheckpoint("vocab.json is not a JSON object", "re-download the tokenizer files")
    return _ids_bound(data.values(), "vocab.json")


def added_tokens_bound(tokenizer_config: Any, added_tokens: Any = None) -> int | None:
    """Highest id + 1 among tokenizer_config's added_tokens_decoder and added_tokens.json."""
    ids = []
    decoder = tokenizer_config.get("added_tokens_decoder") if isinstance(tokenizer_config, dict) else None
    if isinstance(decoder, dict):
        for k in decoder:
            try:
                ids.append(int(k))
            except ValueError:
                raise InvalidCheckpoint(f"tokenizer_config.json: added_tokens_decoder key {k!r} is not an id", "re-save the tokenizer") from None
    if added_tokens is not None:
        if not isinstance(added_tokens, dict):
            raise InvalidCheckpoint("added_tokens.json is not a JSON object", "re-save the tokenizer")
        ids.extend(added_tokens.values())
    return _ids_bound(ids, "added tokens")


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


def _all_tensors(facts: Facts) -> Shapes:
    out: Shapes = {}
    for tensors in facts.shards.values():
        out.update(tensors)
    return out


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
    for task in registry.declared_tasks(cfg.architectures):
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
    if facts.tokenizer_problem:
        out.append(Finding("tokenizer-invalid", SEV_ERROR, facts.tokenizer_problem))
    emb = embedding_rows(tensors)
    rows = emb[1] if emb else _int(cfg.get("vocab_size"))
    where = emb[0] if emb else "config vocab_size"
    if facts.tokenizer_vocab is not None and rows is not None and facts.tokenizer_vocab > rows:
        out.append(Finding("vocab-size", SEV_ERROR, f"the tokenizer has ids up to {facts.tokenizer_vocab - 1:,} but {where} has {rows:,} rows"))
    tc = facts.tokenizer_config if isinstance(facts.tokenizer_config, dict) else {}
    mml = tc.get("model_max_length")
    positions = _int(cfg.get("context_length"))
    if isinstance(mml, (int, float)) and not isinstance(mml, bool) and math.isfinite(mml) and 0 < mml < UNLIMITED_LENGTH and positions:
        usable = positions - position_offset(cfg, fam)
        if mml > usable:
            extra = f" ({positions} minus an offset of {positions - usable})" if usable != positions else ""
            out.append(Finding("max-length", SEV_WARNING, f"model_max_length {int(mml):,} exceeds the {usable:,} usable positions{extra}"))
    return out


def position_offset(cfg: Config, fam) -> int:
    """RoBERTa-style position ids start at padding_idx + 1, so 514 positions hold 512 tokens."""
    if fam is None or fam.module not in PAD_OFFSET_MODULES:
        return 0
    pad = _int(cfg.raw.get("pad_token_id"))
    return pad + 1 if pad is not None and pad >= 0 else 0


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


# --- verdicts ---


def _blocked(cfg: Config, facts: Facts) -> str | None:
    if cfg.raw.get("auto_map"):
        return "config.json has auto_map (custom code): autocli never runs remote code"
    if not facts.shards and facts.pickle_files:
        return f"only pickle weights ({', '.join(facts.pickle_files[:2])}): convert to safetensors, or run with --allow-pickle"
    return None


def _verdict(task: str, fam, mt: str, trained: set[str]) -> Verdict:
    if task == "base":
        return Verdict(READY, "backbone weights present")
    prefixes = fam.heads.get(task)
    if task in fam.not_run:
        return Verdict(NO_HEAD, f"{mt} has a {task} head in transformers, but {fam.not_run[task]}")
    if prefixes is None:
        return Verdict(NO_HEAD, f"{mt} has no {task} head")
    where = ", ".join(p + "*" for p in prefixes)
    if task in trained:
        return Verdict(READY, f"head weights present ({where})")
    return Verdict(UNTRAINED, f"no {where} weights: the head would be random")


def assess(spec: str, facts: Facts, tasks: list[str]) -> CheckpointReport:
    """Verdicts and findings for one checkpoint. Raises InvalidCheckpoint when config.json is unusable."""
    cfg = parse_config(facts.config)
    mt = cfg.model_type
    fam = registry.family(mt)
    report = CheckpointReport(spec, mt, fam.module if fam else None, cfg.architectures)
    tensors = _all_tensors(facts)
    declared = registry.declared_tasks(cfg.architectures)
    trained = registry.trained_heads(fam, tensors, cfg.architectures, cfg.raw) if fam else set()

    refused = None
    try:
        cfg.check_dimensions()
    except InvalidCheckpoint as e:
        refused = e.message
        report.findings.append(Finding("dimensions", SEV_ERROR, e.message))
    if not facts.tokenizer_problem and facts.tokenizer_vocab is None and not _has_tokenizer(facts.files):
        report.findings.append(Finding("tokenizer-missing", SEV_WARNING, "no tokenizer files (tokenizer.json, vocab.txt, vocab.json, *.model)"))
    report.findings += lint_architectures(cfg, fam, tensors, trained)
    report.findings += lint_labels(cfg, fam, tensors, declared)
    rows = classifier_output(tensors, ((fam.heads.get("sequence-classification") or ()) if fam else ()) or CLASSIFIER_PREFIXES)
    report.findings += lint_problem_type(cfg, declared, rows[1][0] if rows else None)
    report.findings += lint_tokenizer(cfg, fam, facts, tensors)
    report.findings += lint_tied(cfg, fam, tensors, declared)
    report.findings += lint_decoder_pad(cfg, fam, tensors, declared)
    report.findings += lint_shards(facts)

    blocked = _blocked(cfg, facts)
    for task in tasks:
        if refused:
            report.verdicts[task] = Verdict(ERROR, f"config refused: {refused}")
        elif blocked:
            report.verdicts[task] = Verdict(BLOCKED, blocked)
        elif fam is None:
            report.verdicts[task] = Verdict(NO_FAMILY, f"model_type {mt!r} is not supported; autocli runs: {', '.join(registry.supported_families()) or 'none yet'}")
        elif facts.weights_problem:
            report.verdicts[task] = Verdict(ERROR, f"weights refused: {facts.weights_problem}")
        elif not tensors:
            report.verdicts[task] = Verdict(ERROR, "no safetensors weights in the checkpoint")
        else:
            report.verdicts[task] = _verdict(task, fam, mt, trained)
    return report


def _has_tokenizer(files: list[str]) -> bool:
    return any(f in files for f in VOCAB_FILES)


def error_report(spec: str, err: AutocliError, tasks: list[str]) -> CheckpointReport:
    report = CheckpointReport(spec, error=err.as_record())
    report.verdicts = {t: Verdict(ERROR, err.message) for t in tasks}
    return report


def resolve_tasks(names: list[str] | None) -> list[str]:
    """Canonical task names in registry order; unknown names are a usage error."""
    from autocli.errors import UsageError

    wanted = []
    for name in names or []:
        task = registry.canonical_task(name)
        if task is None:
            raise UsageError(f"unknown task {name!r}", f"tasks: {', '.join(registry.TASKS)} (aliases: {', '.join(sorted(registry.TASK_ALIASES))})")
        wanted.append(task)
    return [t for t in registry.TASKS if t in wanted]


def finish(reports: list[CheckpointReport], tasks: list[str], required: list[str], strict: bool) -> CompatReport:
    ok = True
    for r in reports:
        r.failed = [t for t in required if r.verdicts.get(t, Verdict(ERROR, "")).verdict != READY]
        lint_failed = strict and (r.error is not None or any(f.severity == SEV_ERROR for f in r.findings))
        ok = ok and not r.failed and not lint_failed
    return CompatReport(SCHEMA, tasks, required, strict, ok, reports)


# --- I/O: a resolved Checkpoint -> Facts (config, tokenizer files, headers; never weight bytes) ---


def _tokenizer_facts(ckpt, facts: Facts) -> None:
    from autocli.config import MAX_TOKENIZER_BYTES, read_json

    try:
        facts.tokenizer_config = ckpt.json("tokenizer_config.json") if ckpt.has("tokenizer_config.json") else None
        vocab = None
        if ckpt.has("tokenizer.json"):
            vocab = tokenizer_json_vocab(read_json(ckpt.path("tokenizer.json"), "tokenizer.json", MAX_TOKENIZER_BYTES))
        elif ckpt.has("vocab.txt"):
            vocab = vocab_txt_size(_read_text(ckpt.path("vocab.txt"), "vocab.txt", MAX_TOKENIZER_BYTES))
        elif ckpt.has("vocab.json"):
            vocab = vocab_json_size(read_json(ckpt.path("vocab.json"), "vocab.json", MAX_TOKENIZER_BYTES))
        added = ckpt.json("added_tokens.json") if ckpt.has("added_tokens.json") else None
        bound = added_tokens_bound(facts.tokenizer_config, added)
        facts.tokenizer_vocab = max(v for v in (vocab, bound, 0) if v is not None) or None
    except InvalidCheckpoint as e:
        facts.tokenizer_problem = e.message


def _read_text(path, what: str, max_bytes: int) -> str:
    import os

    try:
        if os.path.getsize(path) > max_bytes:
            raise InvalidCheckpoint(f"{what} is over the {max_bytes:,}-byte limit", "is this really a vocabulary?")
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCheckpoint(f"{what} is not UTF-8 text", f"check {path}") from None
    except OSError as e:
        raise InvalidCheckpoint(f"cannot read {what}: {e.strerror}", f"check {path}") from None


def gather(ckpt) -> Facts:
    """Everything compat needs from a resolved checkpoint. Raises AutocliError when it cannot be read."""
    files = list(ckpt.files())
    facts = Facts(config=ckpt.config().raw, files=files)
    facts.pickle_files = list(ckpt.pickle_files())
    index = ckpt.weight_index()
    if index is not None:
        facts.index = index
        facts.index_name = next((f for f in files if f.endswith(".safetensors.index.json")), "model.safetensors.index.json")
    try:
        headers = ckpt.headers()
    except InvalidCheckpoint as e:
        if index is None:
            raise
        # An index that disagrees with its shards: read the shards that exist, so that lint
        # can say exactly what is missing or misplaced; running it stays refused.
        facts.weights_problem = e.message
        named = sorted({f for f in index["weight_map"].values() if ckpt.has(f)})
        headers = {f: ckpt.header(f) for f in named}
    facts.shards = {f: {n: (t.shape, t.dtype) for n, t in h.tensors.items()} for f, h in headers.items()}
    _tokenizer_facts(ckpt, facts)
    return facts


def check(specs: list[str], tasks: list[str], required: list[str], strict: bool, **resolve_kw) -> CompatReport:
    """compat over several checkpoints: one that cannot be read is an error row, the rest go on."""
    from autocli.checkpoint import Checkpoint

    reports = []
    for spec in specs:
        try:
            ckpt = Checkpoint.resolve(spec, **resolve_kw)
            reports.append(assess(spec, gather(ckpt), tasks))
        except AutocliError as e:
            reports.append(error_report(spec, e, tasks))
    return finish(reports, tasks, required, strict)


def failure_summary(report: CompatReport) -> tuple[str, str]:
    """The one-line error (and hint) for exit 6."""
    parts = []
    for r in report.checkpoints:
        why = [f"{t}: {r.verdicts[t].verdict}" for t in r.failed]
        if report.strict:
            n = sum(f.severity == SEV_ERROR for f in r.findings)
            why += [f"{n} lint error{'s' * (n != 1)}"] if n else []
            why += ["unreadable"] if r.error and not r.failed else []
        if why:
            parts.append(f"{r.checkpoint} ({', '.join(why)})")
    message = f"compat requirements not met: {'; '.join(parts[:5])}" + (f" and {len(parts) - 5} more" if len(parts) > 5 else "")
    return message, "the report above gives each verdict's reason and each lint finding"
