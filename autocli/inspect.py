"""inspect: what a checkpoint is, from config files and safetensors headers alone. No torch.

Works for any model_type, also one autocli cannot run. Reads config.json, the tokenizer,
preprocessor and generation configs as JSON, and the weights' headers (local read or HTTP
range reads); never a tensor's bytes.

JSON schema (`autocli inspect DIR --format json`), version "autocli.inspect/1". Keys are only
ever added within a version; a null means "not known for this checkpoint". Sizes are bytes.

    {
      "schema": "autocli.inspect/1",
      "checkpoint": "org/name@rev" | "./dir",       # as resolved
      "source": "local" | "hub",
      "path": str | null,                           # local folder, or the cache snapshot (hub)
      "repo_id": str | null, "revision": str | null, "commit": str | null,
      "model_type": str,
      "architectures": [str],
      "runnable": bool,                             # autocli has this model_type's family
      "runnable_tasks": [str],                      # tasks the family runs (empty if not runnable)
      "declared_tasks": [str],                      # from `architectures` (e.g. BertForMaskedLM -> masked-lm)
      "heads_in_weights": [str] | null,             # heads whose weights are present (null: no headers)
      "dimensions": {"hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                     "intermediate_size", "vocab_size", "context_length": int | null,
                     "dtype": str | null, "is_encoder_decoder": bool, "tie_word_embeddings": bool | null},
      "weights": {"format": "safetensors" | "pickle" | null, "sharded": bool,
                  "files": [{"name": str, "size": int | null}], "total_size": int,
                  "tensor_count": int, "pickle_files": [str]},
      "parameters": null | {"total": int,           # trainable tensors, tied weights counted once
                            "embedding": int, "non_embedding": int,
                            "by_dtype": {"F32": int, ...},
                            "buffers": int,         # elements of non-parameters (position_ids, inv_freq, ...)
                            "tied": [[str, str]]},  # [name counted, its tied twin not counted]
      "memory_bytes": null | {"float32": int, "bfloat16": int, "int8": int},   # parameters only
      "kv_cache_bytes_per_1k_tokens": null | {"float32": int, "bfloat16": int}, # decoders only
      "files": [{"name": str, "size": int | null}], "files_total_size": int,
      "tokenizer": null | {"kind": "WordPiece" | "BPE" | "byte-level BPE" | "Unigram" | "WordLevel"
                                   | "SentencePiece" | null,
                           "files": [str], "tokenizer_class": str | null, "vocab_size": int | null,
                           "special_tokens": {"cls_token": {"content": str, "id": int | null}, ...},
                           "model_max_length": int | null, "do_lower_case": bool | null,
                           "chat_template": bool, "error": str | null},
      "preprocessor": null | {"file": str, "kind": "image" | "audio" | "video" | "processor",
                              "type": str | null, "fields": {...}},          # the file as written
      "generation": null | {...},                   # generation_config.json as written
      "task_specific_params": [str],
      "notes": [str],
      "tensors": null | [{"name": str,              # repeated layers collapsed: "layer.{0..11}.q.weight"
                          "shape": [int], "dtype": str, "count": int, "parameters": int, "files": [str]}]
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autocli import registry
from autocli.checkpoint import Checkpoint
from autocli.config import MAX_TOKENIZER_BYTES, Config
from autocli.errors import InvalidCheckpoint
from autocli.headers import FLOAT_DTYPES
from autocli.tokenizer import SENTENCEPIECE_FILES

SCHEMA = "autocli.inspect/1"

# Non-parameter tensors some checkpoints carry (buffers), by the last part of their name.
BUFFER_NAMES = {"position_ids", "token_type_ids", "inv_freq", "masked_bias", "_float_tensor"}
# Input embeddings and the output heads that tie_word_embeddings shares them with.
INPUT_EMBEDDINGS = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight", "shared.weight", "embed_in.weight")
OUTPUT_HEADS = ("lm_head.weight", "cls.predictions.decoder.weight", "embed_out.weight", "generator_lm_head.weight",
                "vocab_projector.weight", "lm_head.decoder.weight", "predictions.decoder.weight")
MEMORY_DTYPES = {"float32": 4, "bfloat16": 2, "int8": 1}
KV_DTYPES = {"float32": 4, "bfloat16": 2}
DECODER_TASKS = {"causal-lm", "seq2seq-lm"}
# Parameters are floats, or the integer types quantized weights are packed in; I64 / BOOL are buffers.
PARAM_DTYPES = FLOAT_DTYPES | {"I8", "U8", "I32", "U32"}

SPECIAL_ROLES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
MAX_LENGTH_SENTINEL = 10**12  # transformers writes 1e30 for "no limit"
PREPROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json")
# What the table shows of a preprocessor / generation config (JSON has the whole file).
PREPROCESSOR_KEYS = ("size", "crop_size", "do_resize", "do_center_crop", "do_normalize", "image_mean", "image_std",
                     "resample", "rescale_factor", "patch_size", "sampling_rate", "feature_size", "num_mel_bins",
                     "padding_value", "return_attention_mask", "chunk_length")
GENERATION_KEYS = ("max_length", "max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "num_beams",
                   "repetition_penalty", "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


@dataclass
class FileEntry:
    name: str
    size: int | None


@dataclass
class Dimensions:
    hidden_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    context_length: int | None = None
    dtype: str | None = None
    is_encoder_decoder: bool = False
    tie_word_embeddings: bool | None = None


@dataclass
class Weights:
    format: str | None
    sharded: bool
    files: list[FileEntry]
    total_size: int
    tensor_count: int
    pickle_files: list[str]


@dataclass
class Parameters:
    total: int
    embedding: int
    non_embedding: int
    by_dtype: dict[str, int]
    buffers: int
    tied: list[list[str]]


@dataclass
class TokenizerSummary:
    kind: str | None = None
    files: list[str] = field(default_factory=list)
    tokenizer_class: str | None = None
    vocab_size: int | None = None
    special_tokens: dict[str, dict] = field(default_factory=dict)
    model_max_length: int | None = None
    do_lower_case: bool | None = None
    chat_template: bool = False
    error: str | None = None


@dataclass
class TensorGroup:
    name: str
    shape: list[int]
    dtype: str
    count: int
    parameters: int
    files: list[str]


@dataclass
class InspectResult:
    schema: str
    checkpoint: str
    source: str
    path: str | None
    repo_id: str | None
    revision: str | None
    commit: str | None
    model_type: str
    architectures: list[str]
    runnable: bool
    runnable_tasks: list[str]
    declared_tasks: list[str]
    heads_in_weights: list[str] | None
    dimensions: Dimensions
    weights: Weights
    parameters: Parameters | None
    memory_bytes: dict[str, int] | None
    kv_cache_bytes_per_1k_tokens: dict[str, int] | None
    files: list[FileEntry]
    files_total_size: int
    tokenizer: TokenizerSummary | None
    preprocessor: dict | None
    generation: dict | None
    task_specific_params: list[str]
    notes: list[str]
    tensors: list[TensorGroup] | None


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


# ---- weights ----------------------------------------------------------------------------------------


def _is_buffer(name: str, shape: tuple) -> bool:
    last = name.rsplit(".", 1)[-1]
    # GPT-2's causal mask is saved as `h.N.attn.bias` of shape (1, 1, n_ctx, n_ctx)
    return last in BUFFER_NAMES or (name.endswith("attn.bias") and len(shape) == 4)


def _is_embedding(name: str) -> bool:
    parts = name.split(".")
    module = parts[-2] if len(parts) > 1 and parts[-1] in ("weight", "bias") else parts[-1]
    return "embed" in module.lower() or module in ("wte", "wpe", "shared")


def _explicit_ties(names: set[str], shapes: dict[str, tuple], tie: bool | None) -> list[list[str]]:
    """Output head stored next to the input embedding it is tied to (tie_word_embeddings: true)."""
    if tie is not True:
        return []
    heads = [n for n in names if n.endswith(OUTPUT_HEADS)]
    embeds = [n for n in names if n.endswith(INPUT_EMBEDDINGS)]
    out = []
    for h in sorted(heads):
        match = next((e for e in sorted(embeds) if shapes[e] == shapes[h] and e != h), None)
        if match:
            out.append([h, match])
    return out


def count_parameters(ckpt: Checkpoint, tie: bool | None) -> Parameters:
    total = embedding = buffers = 0
    by_dtype: dict[str, int] = {}
    tied: list[list[str]] = []
    headers = ckpt.headers()
    shapes = {n: (t.dtype, t.shape) for h in headers.values() for n, t in h.tensors.items()}
    skip: set[str] = set()
    for h in headers.values():
        for name, first in h.aliases.items():  # two names on the same bytes: one tensor
            skip.add(name)
            tied.append([first, name])
    for head, embed in _explicit_ties(set(shapes), shapes, tie):
        if head not in skip:
            skip.add(head)
            tied.append([embed, head])
    for h in headers.values():
        for name, t in h.tensors.items():
            if name in skip:
                continue
            if _is_buffer(name, t.shape) or t.dtype not in PARAM_DTYPES:
                buffers += t.numel
                continue
            total += t.numel
            by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + t.numel
            if _is_embedding(name):
                embedding += t.numel
    return Parameters(total, embedding, total - embedding, dict(sorted(by_dtype.items())), buffers, sorted(tied))


def _kv_cache(cfg: Config, dims: Dimensions, declared: list[str]) -> dict[str, int] | None:
    decoder = bool(DECODER_TASKS & set(declared)) or dims.is_encoder_decoder or cfg.raw.get("is_decoder") is True
    if not decoder:
        return None
    layers = dims.num_layers
    kv_heads = dims.num_kv_heads
    if dims.is_encoder_decoder:
        layers = _int(cfg.get("num_decoder_layers")) or layers
        kv_heads = _int(cfg.raw.get("decoder_attention_heads")) or kv_heads
    if not (layers and kv_heads and dims.head_dim):
        return None
    return {dt: 2 * layers * kv_heads * dims.head_dim * size * 1000 for dt, size in KV_DTYPES.items()}


# ---- tensors table ----------------------------------------------------------------------------------


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _span(values: list[int]) -> str:
    vals = sorted(set(values))
    if len(vals) == 1:
        return str(vals[0])
    if vals == list(range(vals[0], vals[-1] + 1)):
        return f"{{{vals[0]}..{vals[-1]}}}"
    return "{" + ",".join(map(str, vals)) + "}"


def collapse_tensors(ckpt: Checkpoint) -> list[TensorGroup]:
    """Tensors grouped by name with the layer numbers taken out, and by shape and dtype."""
    groups: dict[tuple, dict] = {}
    entries = sorted(((n, t, f) for f, h in ckpt.headers().items() for n, t in h.tensors.items()), key=lambda e: _natural(e[0]))
    for name, t, file in entries:
        parts = name.split(".")
        pattern = tuple("#" if p.isdigit() else p for p in parts)
        key = (pattern, t.dtype, t.shape)
        g = groups.setdefault(key, {"numbers": [], "files": set(), "numel": t.numel})
        g["numbers"].append([int(p) for p in parts if p.isdigit()])
        g["files"].add(file)
    out = []
    for (pattern, dtype, shape), g in groups.items():
        columns = list(zip(*g["numbers"])) if g["numbers"][0] else []
        spans = iter(_span(list(c)) for c in columns)
        name = ".".join(next(spans) if p == "#" else p for p in pattern)
        count = len(g["numbers"])
        out.append(TensorGroup(name, list(shape), dtype, count, count * g["numel"], sorted(g["files"])))
    return out


# ---- tokenizer --------------------------------------------------------------------------------------


def _token_text(v) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return None


def _tokenizer_json(tok: dict, summary: TokenizerSummary) -> "_Lookup":
    """Kind and vocabulary size from tokenizer.json; returns a token -> id lookup (vocab and added tokens)."""
    if not isinstance(tok, dict) or not isinstance(tok.get("model"), dict):
        raise InvalidCheckpoint("tokenizer.json has no model section", "re-download or re-save the tokenizer")
    model = tok["model"]
    kind = model.get("type")
    vocab = model.get("vocab")
    if kind is None:  # old files leave out the type: tell by the fields
        kind = "BPE" if "merges" in model else "Unigram" if isinstance(vocab, list) else "WordPiece" if "continuing_subword_prefix" in model else None
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the position
        vocab = {e[0]: i for i, e in enumerate(vocab) if isinstance(e, list) and e and isinstance(e[0], str)}
    vocab = vocab if isinstance(vocab, dict) else {}
    added_list = tok.get("added_tokens") if isinstance(tok.get("added_tokens"), list) else []
    added = {a["content"]: a["id"] for a in added_list
             if isinstance(a, dict) and isinstance(a.get("content"), str) and _int(a.get("id")) is not None}
    if kind == "BPE" and "ByteLevel" in str(tok.get("pre_tokenizer")):
        kind = "byte-level BPE"
    summary.kind = kind if isinstance(kind, str) else None
    summary.vocab_size = (len(vocab) + sum(1 for t in added if t not in vocab)) or None
    if summary.do_lower_case is None and isinstance(tok.get("normalizer"), dict):
        norm = tok["normalizer"]
        if "lowercase" in norm:
            summary.do_lower_case = bool(norm["lowercase"])
    return _Lookup(vocab, added)


class _Lookup:
    """token -> id without copying a large vocabulary: added tokens first, then the vocab."""

    def __init__(self, vocab: dict, added: dict):
        self.vocab, self.added = vocab, added

    def get(self, token: str) -> int | None:
        value = self.added.get(token, self.vocab.get(token))
        return _int(value)


def _lines(path) -> list[str]:
    with open(path, "rb") as f:
        return f.read(MAX_TOKENIZER_BYTES + 1).decode("utf-8", "replace").splitlines()


def tokenizer_summary(ckpt: Checkpoint) -> TokenizerSummary | None:
    names = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
             "merges.txt", *SENTENCEPIECE_FILES, *CHAT_TEMPLATE_FILES]
    present = [n for n in names if ckpt.has(n)]
    if not present:
        return None
    s = TokenizerSummary(files=present)
    try:
        config = ckpt.json("tokenizer_config.json") or {}
        smap = ckpt.json("special_tokens_map.json") or {}
        if not isinstance(config, dict) or not isinstance(smap, dict):
            raise InvalidCheckpoint("tokenizer_config.json / special_tokens_map.json is not a JSON object", "re-save the tokenizer")
        s.tokenizer_class = config.get("tokenizer_class") if isinstance(config.get("tokenizer_class"), str) else None
        s.do_lower_case = config["do_lower_case"] if isinstance(config.get("do_lower_case"), bool) else None
        length = config.get("model_max_length")
        s.model_max_length = int(length) if isinstance(length, (int, float)) and 0 < length < MAX_LENGTH_SENTINEL else None
        s.chat_template = bool(config.get("chat_template")) or any(ckpt.has(n) for n in CHAT_TEMPLATE_FILES)
        ids: dict | _Lookup = {}
        if ckpt.has("tokenizer.json"):
            ids = _tokenizer_json(ckpt.json("tokenizer.json", MAX_TOKENIZER_BYTES), s)
        elif ckpt.has("vocab.txt"):
            vocab = _lines(ckpt.path("vocab.txt"))
            ids = {tok: i for i, tok in enumerate(vocab)}
            s.kind, s.vocab_size = "WordPiece", len(vocab)
        elif ckpt.has("vocab.json"):
            vocab = ckpt.json("vocab.json", MAX_TOKENIZER_BYTES)
            ids = _Lookup(vocab if isinstance(vocab, dict) else {}, {})
            s.kind = "byte-level BPE" if ckpt.has("merges.txt") else "WordLevel"
            s.vocab_size = len(ids.vocab) or None
        elif any(ckpt.has(n) for n in SENTENCEPIECE_FILES):
            s.kind = "SentencePiece"
        for role in SPECIAL_ROLES:
            text = _token_text(config.get(role)) or _token_text(smap.get(role))
            if text is not None:
                s.special_tokens[role] = {"content": text, "id": ids.get(text)}
    except InvalidCheckpoint as e:
        s.error = e.message
    return s


# ---- the other configs ------------------------------------------------------------------------------


def preprocessor_summary(ckpt: Checkpoint) -> dict | None:
    for name in PREPROCESSOR_FILES:
        raw = ckpt.json(name)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise InvalidCheckpoint(f"{name} is not a JSON object", "re-save the preprocessor")
        kind = ("video" if name.startswith("video") or "video_processor_type" in raw
                else "image" if "image_processor_type" in raw or "image_mean" in raw
                else "audio" if "sampling_rate" in raw or "feature_extractor_type" in raw
                else "processor")
        kind_type = next((raw[k] for k in ("image_processor_type", "video_processor_type", "feature_extractor_type", "processor_class")
                          if isinstance(raw.get(k), str)), None)
        return {"file": name, "kind": kind, "type": kind_type, "fields": raw}
    return None


def _optional(fn, notes: list[str]):
    """A side file that cannot be read is a note, not a failed inspect."""
    try:
        return fn()
    except InvalidCheckpoint as e:
        notes.append(e.message)
        return None


# ---- the whole picture ------------------------------------------------------------------------------


def inspect(ckpt: Checkpoint, tensors: bool = False) -> InspectResult:
    cfg = ckpt.config()
    raw = cfg.raw
    notes: list[str] = []
    fam = registry.family(cfg.model_type)
    declared = registry.declared_tasks(cfg.architectures)
    tie = raw.get("tie_word_embeddings") if isinstance(raw.get("tie_word_embeddings"), bool) else None
    dims = Dimensions(
        hidden_size=_int(cfg.get("hidden_size")),
        num_layers=_int(cfg.get("num_layers")),
        num_heads=_int(cfg.get("num_heads")),
        num_kv_heads=_int(cfg.num_kv_heads),
        head_dim=_int(cfg.head_dim),
        intermediate_size=_int(cfg.get("intermediate_size")),
        vocab_size=_int(cfg.get("vocab_size")),
        context_length=_int(cfg.get("context_length")),
        dtype=cfg.dtype if isinstance(cfg.dtype, str) else None,
        is_encoder_decoder=cfg.is_encoder_decoder,
        tie_word_embeddings=tie,
    )

    sizes = ckpt.sizes()
    weight_names = ckpt.weight_files()
    pickles = ckpt.pickle_files()
    headers = ckpt.headers() if weight_names else {}
    weight_files = [FileEntry(n, headers[n].file_size) for n in weight_names]
    fmt = "safetensors" if weight_names else "pickle" if pickles else None
    if fmt == "pickle":
        notes.append(f"only pickle weights ({', '.join(pickles)}): autocli loads them only with --allow-pickle; "
                     "parameter counts need safetensors headers")
    elif fmt is None:
        notes.append("no weights found (expected model.safetensors or model.safetensors.index.json)")
    if not weight_names:
        weight_files = [FileEntry(n, sizes.get(n)) for n in pickles]
    weights = Weights(
        fmt,
        bool(ckpt.weight_index()),
        weight_files,
        sum(f.size or 0 for f in weight_files),
        sum(len(h.tensors) for h in headers.values()),
        pickles,
    )

    keys = [n for h in headers.values() for n in h.tensors]
    if not headers:
        heads = None
    elif fam is not None:
        heads = [t for t in registry.TASKS if t in registry.trained_heads(fam, keys, cfg.architectures)]
    else:
        heads = registry.generic_heads(keys)
    params = count_parameters(ckpt, tie) if headers else None
    memory = {dt: params.total * size for dt, size in MEMORY_DTYPES.items()} if params else None
    if fam is None:
        supported = ", ".join(registry.supported_families()) or "none yet"
        notes.append(f"autocli cannot run model_type {cfg.model_type!r} yet (it runs: {supported})")

    files = [FileEntry(n, sizes.get(n)) for n in ckpt.files()]
    tsp = raw.get("task_specific_params")
    generation = _optional(lambda: ckpt.json("generation_config.json"), notes)
    return InspectResult(
        schema=SCHEMA,
        checkpoint=ckpt.name,
        source="local" if ckpt.is_local else "hub",
        path=str(ckpt.local_dir) if ckpt.local_dir is not None else None,
        repo_id=ckpt.repo_id,
        revision=ckpt.revision,
        commit=ckpt.commit,
        model_type=cfg.model_type,
        architectures=cfg.architectures,
        runnable=fam is not None,
        runnable_tasks=[t for t in registry.TASKS if fam and (t == "base" or t in fam.heads)],
        declared_tasks=declared,
        heads_in_weights=heads,
        dimensions=dims,
        weights=weights,
        parameters=params,
        memory_bytes=memory,
        kv_cache_bytes_per_1k_tokens=_kv_cache(cfg, dims, declared),
        files=files,
        files_total_size=sum(f.size or 0 for f in files),
        tokenizer=tokenizer_summary(ckpt),
        preprocessor=_optional(lambda: preprocessor_summary(ckpt), notes),
        generation=generation if isinstance(generation, dict) else None,
        task_specific_params=sorted(tsp) if isinstance(tsp, dict) else [],
        notes=notes,
        tensors=collapse_tensors(ckpt) if tensors and headers else ([] if tensors else None),
    )


# ---- table rows (render.py draws them) --------------------------------------------------------------


def human_count(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def summary_rows(r: InspectResult) -> list[tuple[str, str]]:
    d = r.dimensions
    rows = [("checkpoint", r.checkpoint + (f"  (commit {r.commit[:12]})" if r.commit else ""))]
    rows.append(("model_type", r.model_type))
    rows.append(("architectures", ", ".join(r.architectures) or "-"))
    rows.append(("autocli runs it", f"yes: {', '.join(r.runnable_tasks)}" if r.runnable else "no (not supported yet)"))
    rows.append(("declared tasks", ", ".join(r.declared_tasks) or "-"))
    rows.append(("heads in weights", "?" if r.heads_in_weights is None else ", ".join(r.heads_in_weights) or "-"))
    rows.append(("hidden size", _show(d.hidden_size)))
    rows.append(("layers", _show(d.num_layers)))
    heads = _show(d.num_heads) + (f" ({d.num_kv_heads} KV)" if d.num_kv_heads not in (None, d.num_heads) else "")
    rows.append(("attention heads", heads + (f", head dim {d.head_dim}" if d.head_dim else "")))
    rows.append(("intermediate size", _show(d.intermediate_size)))
    rows.append(("vocab size", _show(d.vocab_size)))
    rows.append(("context length", _show(d.context_length)))
    if d.dtype:
        rows.append(("dtype (config)", d.dtype))
    p = r.parameters
    if p:
        rows.append(("parameters", f"{human_count(p.total)} ({p.total:,})"))
        rows.append(("  embedding / rest", f"{human_count(p.embedding)} / {human_count(p.non_embedding)}"))
        rows.append(("  by dtype", ", ".join(f"{k} {human_count(v)}" for k, v in p.by_dtype.items()) or "-"))
        if p.tied:
            rows.append(("  tied (counted once)", ", ".join(f"{a} = {b}" for a, b in p.tied)))
    w = r.weights
    if w.format:
        shards = f"{len(w.files)} shards" if w.sharded else ", ".join(f.name for f in w.files)
        rows.append(("weights", f"{w.format}: {shards}, {human_bytes(w.total_size)}" + (f", {w.tensor_count} tensors" if w.tensor_count else "")))
    else:
        rows.append(("weights", "none"))
    rows.append(("files", f"{len(r.files)} files, {human_bytes(r.files_total_size)}"))
    if r.memory_bytes:
        rows.append(("memory to load", "  ".join(f"{k} {human_bytes(v)}" for k, v in r.memory_bytes.items())))
    if r.kv_cache_bytes_per_1k_tokens:
        rows.append(("KV cache / 1k tokens", "  ".join(f"{k} {human_bytes(v)}" for k, v in r.kv_cache_bytes_per_1k_tokens.items())))
    t = r.tokenizer
    if t is None:
        rows.append(("tokenizer", "none"))
    elif t.error:
        rows.append(("tokenizer", f"unreadable: {t.error}"))
    else:
        rows.append(("tokenizer", f"{t.kind or '?'}, vocab {_show(t.vocab_size)}" + (f" ({t.tokenizer_class})" if t.tokenizer_class else "")))
        specials = ", ".join(
            f"{role.removesuffix('_token')} {v['content']}" + (f"={v['id']}" if v["id"] is not None else "")
            for role, v in t.special_tokens.items()
        )
        rows.append(("  special tokens", specials or "-"))
        rows.append(("  model_max_length", _show(t.model_max_length)))
        rows.append(("  chat template", "yes" if t.chat_template else "no"))
    if r.preprocessor:
        pp = r.preprocessor
        shown = ", ".join(f"{k}={pp['fields'][k]}" for k in PREPROCESSOR_KEYS if k in pp["fields"])
        rows.append((f"{pp['kind']} preprocessor", (pp["type"] or pp["file"]) + (f": {shown}" if shown else "")))
    if r.generation:
        shown = ", ".join(f"{k}={r.generation[k]}" for k in GENERATION_KEYS if k in r.generation)
        rows.append(("generation config", shown or "present"))
    if r.task_specific_params:
        rows.append(("task_specific_params", ", ".join(r.task_specific_params)))
    for note in r.notes:
        rows.append(("note", note))
    return rows


def _show(v) -> str:
    return "?" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def tensor_rows(r: InspectResult) -> list[tuple[str, ...]]:
    many_files = len(r.weights.files) > 1
    rows = []
    for g in r.tensors or []:
        row = (g.name, "[" + ", ".join(map(str, g.shape)) + "]", g.dtype, f"×{g.count}" if g.count > 1 else "")
        rows.append(row + ((", ".join(g.files),) if many_files else ()))
    return rows
