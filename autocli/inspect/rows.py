"""inspect's table rows (render.py draws them)."""

from __future__ import annotations

from autocli.reports import InspectResult

# What the table shows of a preprocessor / generation config (JSON has the whole file).
PREPROCESSOR_KEYS = ("size", "crop_size", "do_resize", "do_center_crop", "do_normalize", "image_mean", "image_std",
                     "resample", "rescale_factor", "patch_size", "sampling_rate", "feature_size", "num_mel_bins",
                     "padding_value", "return_attention_mask", "chunk_length")
# PIL's resampling filters by the numbers image processors save
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
GENERATION_KEYS = ("max_length", "max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "num_beams",
                   "repetition_penalty", "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


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


def _runs(r: InspectResult) -> str:
    if r.blocked:
        return f"blocked: {r.blocked}"
    return f"yes: {', '.join(r.runnable_tasks)}" if r.runnable else "no (not supported yet)"


def summary_rows(r: InspectResult) -> list[tuple[str, str]]:
    rows = [("checkpoint", r.checkpoint + (f"  (commit {r.commit[:12]})" if r.commit else ""))]
    rows.append(("model_type", r.model_type))
    rows.append(("architectures", ", ".join(r.architectures) or "-"))
    rows.append(("autocli runs it", _runs(r)))
    rows.append(("declared tasks", ", ".join(r.declared_tasks) or "-"))
    rows.append(("heads in weights", "?" if r.heads_in_weights is None else ", ".join(r.heads_in_weights) or "-"))
    rows += _dimension_rows(r) + _weight_rows(r) + _tokenizer_rows(r) + _config_rows(r)
    rows += [("note", note) for note in r.notes]
    return rows


def _dimension_rows(r: InspectResult) -> list[tuple[str, str]]:
    d = r.dimensions
    rows = [("hidden size", _show(d.hidden_size))]
    rows.append(("layers", _show(d.num_layers)))
    heads = _show(d.num_heads) + (f" ({d.num_kv_heads} KV)" if d.num_kv_heads not in (None, d.num_heads) else "")
    rows.append(("attention heads", heads + (f", head dim {d.head_dim}" if d.head_dim else "")))
    rows.append(("intermediate size", _show(d.intermediate_size)))
    rows.append(("vocab size", _show(d.vocab_size)))
    rows.append(("context length", _show(d.context_length)))
    if d.dtype:
        rows.append(("dtype (config)", d.dtype))
    return rows


def _weight_rows(r: InspectResult) -> list[tuple[str, str]]:
    rows = []
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
    return rows


def _tokenizer_rows(r: InspectResult) -> list[tuple[str, str]]:
    rows = []
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
    return rows


def _config_rows(r: InspectResult) -> list[tuple[str, str]]:
    rows = []
    if r.preprocessor:
        pp = r.preprocessor
        shown = ", ".join(f"{k}={_setting(k, pp['fields'][k])}" for k in PREPROCESSOR_KEYS if k in pp["fields"])
        rows.append((f"{pp['kind']} preprocessor", (pp["type"] or pp["file"]) + (f": {shown}" if shown else "")))
    if r.generation:
        shown = ", ".join(f"{k}={r.generation[k]}" for k in GENERATION_KEYS if k in r.generation)
        rows.append(("generation config", shown or "present"))
    if r.task_specific_params:
        rows.append(("task_specific_params", ", ".join(r.task_specific_params)))
    return rows


def _setting(key: str, value) -> str:
    if key == "resample" and isinstance(value, int) and not isinstance(value, bool) and value in RESAMPLE_NAMES:
        return f"{RESAMPLE_NAMES[value]} ({value})"
    return str(value)


def _show(v) -> str:
    return "?" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def tensor_rows(r: InspectResult) -> list[tuple[str, ...]]:
    many_files = len(r.weights.files) > 1
    rows = []
    for g in r.tensors or []:
        row = (g.name, "[" + ", ".join(map(str, g.shape)) + "]", g.dtype, f"×{g.count}" if g.count > 1 else "")
        rows.append(row + ((", ".join(g.files),) if many_files else ()))
    return rows
