"""inspect: what a checkpoint is, from config files and safetensors headers alone. No torch.

Works for any model_type, also one autocli cannot run. Reads config.json, the tokenizer,
preprocessor and generation configs as JSON, and the weights' headers (local read or HTTP
range reads); never a tensor's bytes.

The JSON document (`autocli inspect DIR --format json`, schema "autocli.inspect/1") is described field by
field by `autocli inspect --schema` (autocli/inspect/schema.py). Keys are only ever added within a version;
a null means "not known for this checkpoint"; sizes are bytes.
"""

from __future__ import annotations

from autocli import registry
from autocli.checkpoint import Checkpoint
from autocli.config import Config, remote_code
from autocli.inspect.files import PREPROCESSOR_FILES, as_int, _optional, preprocessor_summary, tokenizer_summary
from autocli.inspect.rows import human_bytes, human_count, summary_rows, tensor_rows
from autocli.inspect.weights import MEMORY_DTYPES, collapse_tensors, count_parameters, is_buffer, kv_cache
from autocli.reports import Dimensions, FileEntry, InspectResult, Parameters, TensorGroup, TokenizerSummary, Weights

SCHEMA = "autocli.inspect/1"

__all__ = [
    "PREPROCESSOR_FILES", "SCHEMA", "Dimensions", "FileEntry", "InspectResult", "Parameters", "TensorGroup", "TokenizerSummary", "Weights",
    "collapse_tensors", "count_parameters", "human_bytes", "human_count", "inspect", "is_buffer", "summary_rows",
    "tensor_rows",
]


def _dimensions(cfg: Config) -> Dimensions:
    raw = cfg.raw
    return Dimensions(
        hidden_size=as_int(cfg.get("hidden_size")),
        num_layers=as_int(cfg.get("num_layers")),
        num_heads=as_int(cfg.get("num_heads")),
        num_kv_heads=as_int(cfg.num_kv_heads),
        head_dim=as_int(cfg.head_dim),
        intermediate_size=as_int(cfg.get("intermediate_size")),
        vocab_size=as_int(cfg.get("vocab_size")),
        context_length=as_int(cfg.get("context_length")),
        dtype=cfg.dtype if isinstance(cfg.dtype, str) else None,
        is_encoder_decoder=cfg.is_encoder_decoder,
        tie_word_embeddings=raw.get("tie_word_embeddings") if isinstance(raw.get("tie_word_embeddings"), bool) else None,
    )


def _weights(ckpt: Checkpoint, notes: list[str]) -> tuple[Weights, dict]:
    """The weight files (safetensors headers, or pickle files by size) -> (Weights, headers)."""
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
    total = sum(f.size or 0 for f in weight_files)
    count = sum(len(h.tensors) for h in headers.values())
    return Weights(fmt, bool(ckpt.weight_index()), weight_files, total, count, pickles), headers


def _heads(cfg: Config, fam, headers: dict) -> list[str] | None:
    keys = [n for h in headers.values() for n in h.tensors]
    if not headers:
        return None
    if fam is not None:
        # with the config: a head tied to the embeddings (Whisper's proj_out, GPT-2's lm_head) is there when they are
        return [t for t in registry.TASKS if t in registry.trained_heads(fam, keys, cfg.architectures, cfg.raw)]
    return registry.generic_heads(keys)


def _blocked(ckpt: Checkpoint, cfg: Config, fam, notes: list[str]) -> str | None:
    """Why autocli will not run it although it may know the family (remote code), noted; or None."""
    reason = remote_code(cfg.raw, _optional(lambda: ckpt.json("tokenizer_config.json"), []))
    if reason:
        notes.append(f"blocked: {reason}; autocli never runs remote code")
    elif fam is None:
        supported = ", ".join(registry.supported_families()) or "none yet"
        notes.append(f"autocli cannot run model_type {cfg.model_type!r} yet (it runs: {supported})")
    return reason


def inspect(ckpt: Checkpoint, tensors: bool = False) -> InspectResult:
    cfg = ckpt.config()
    notes: list[str] = []
    fam = registry.family(cfg.model_type)
    declared = registry.declared_tasks(cfg.architectures, registry.family(cfg.model_type))
    dims = _dimensions(cfg)
    weights, headers = _weights(ckpt, notes)
    params = count_parameters(ckpt, dims.tie_word_embeddings) if headers else None
    blocked = _blocked(ckpt, cfg, fam, notes)
    runnable = fam is not None and not blocked
    files = [FileEntry(n, size) for n, size in ((n, ckpt.sizes().get(n)) for n in ckpt.files())]
    tsp = cfg.raw.get("task_specific_params")
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
        runnable=runnable,
        runnable_tasks=[t for t in registry.TASKS if runnable and (t == "base" or t in fam.heads)],
        declared_tasks=declared,
        heads_in_weights=_heads(cfg, fam, headers),
        dimensions=dims,
        weights=weights,
        parameters=params,
        memory_bytes={dt: params.total * size for dt, size in MEMORY_DTYPES.items()} if params else None,
        kv_cache_bytes_per_1k_tokens=kv_cache(cfg, dims, declared),
        files=files,
        files_total_size=sum(f.size or 0 for f in files),
        tokenizer=tokenizer_summary(ckpt),
        preprocessor=_optional(lambda: preprocessor_summary(ckpt), notes),
        generation=generation if isinstance(generation, dict) else None,
        task_specific_params=sorted(tsp) if isinstance(tsp, dict) else [],
        notes=notes,
        tensors=collapse_tensors(ckpt) if tensors and headers else ([] if tensors else None),
        blocked=blocked,
    )
