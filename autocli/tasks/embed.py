"""Sentence embeddings: the base model's token states pooled into one vector per text.

A sentence-transformers checkpoint says how to pool: modules.json lists its modules (Transformer,
Pooling, Normalize), 1_Pooling/config.json the pooling flags, sentence_bert_config.json the
maximum length and lower-casing. They are honoured as sentence-transformers does; a module that
autocli cannot run (Dense, ...) is refused rather than skipped, since skipping it changes the vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.results import Embedding
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import RunState, encode_all, encoded_rows, failed_inputs, forward, stream_windows

POOLING = "mean"
POOLINGS = ("cls", "mean", "max")
# sentence-transformers' Pooling flags -> autocli's pooling names, in the order it concatenates them.
ST_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
ST_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass
class EmbedOptions(RunOptions):
    pooling: tuple[str, ...] = (POOLING,)  # concatenated in this order
    normalize: bool = False
    lowercase: bool = False


@dataclass
class SentenceTransformers:
    """What a sentence-transformers checkpoint says about pooling (None where it says nothing)."""

    pooling: tuple[str, ...] | None = None
    normalize: bool | None = None
    max_length: int | None = None
    lowercase: bool = False


def _flags(cfg, source: str) -> tuple[str, ...]:
    if not isinstance(cfg, dict):
        raise InvalidCheckpoint(f"{source} is not a JSON object")
    unknown = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True and k not in ST_POOLING_FLAGS]
    if unknown:
        raise Unsupported(f"{source}: pooling {unknown[0]} is not supported", f"supported: {', '.join(ST_POOLING_FLAGS)}")
    modes = tuple(name for key, name in ST_POOLING_FLAGS.items() if cfg.get(key) is True)
    if not modes:
        raise InvalidCheckpoint(f"{source} turns on no pooling mode", "set one pooling_mode_* flag to true")
    return modes


def _module_type(mod) -> str:
    return str(mod.get("type", "")).rsplit(".", 1)[-1] if isinstance(mod, dict) else ""


def sentence_transformers(ckpt) -> SentenceTransformers:
    """Read modules.json, the Pooling module's config and sentence_bert_config.json, where present."""
    st = SentenceTransformers()
    pooling_dir, named_pooling = "1_Pooling", False
    if ckpt.optional_path("modules.json") is not None:
        modules = ckpt.json("modules.json")
        if not isinstance(modules, list):
            raise InvalidCheckpoint("modules.json is not a list of modules")
        for mod in modules:
            kind = _module_type(mod)
            if kind not in ST_MODULES:
                raise Unsupported(
                    f"modules.json has a {mod.get('type') if isinstance(mod, dict) else mod!r} module, which autocli does not run",
                    f"autocli runs sentence-transformers {', '.join(ST_MODULES)} modules",
                )
            if kind == "Transformer" and str(mod.get("path", "")).strip("/") not in ("", "."):
                raise Unsupported(f"the Transformer module lives in {mod['path']!r}", "point autocli at that folder instead")
            if kind == "Pooling":
                pooling_dir, named_pooling = str(mod.get("path") or pooling_dir).strip("/"), True
        st.normalize = any(_module_type(m) == "Normalize" for m in modules)
    name = f"{pooling_dir}/config.json"
    if ckpt.has(name):
        st.pooling = _flags(ckpt.json(name), name)
    elif named_pooling:
        raise InvalidCheckpoint(f"modules.json names a Pooling module, but {name} is missing", "download the whole checkpoint")
    if ckpt.optional_path("sentence_bert_config.json") is not None:
        cfg = ckpt.json("sentence_bert_config.json")
        if isinstance(cfg, dict):
            n = cfg.get("max_seq_length")
            st.max_length = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None
            st.lowercase = cfg.get("do_lower_case") is True
    return st


def pool(hidden, mask, modes: tuple[str, ...]):
    """(B, T, H) token states, (B, T) mask -> (B, H * len(modes)), as sentence-transformers' Pooling."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    counts = m.sum(1).clamp(min=1e-9)  # (B, 1)
    summed = None  # the masked sum over tokens, as one batched matmul: no (B, T, H) product in memory
    if "mean" in modes or "mean_sqrt_len" in modes:
        summed = torch.bmm(m.transpose(1, 2), hidden).squeeze(1)  # (B, H)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])  # (B, H)
        elif mode == "max":
            parts.append(hidden.masked_fill(m == 0, -1e9).max(1).values)  # (B, H)
        elif mode == "mean":
            parts.append(summed / counts)  # (B, H)
        elif mode == "mean_sqrt_len":
            parts.append(summed / counts.sqrt())  # (B, H)
        elif mode == "weightedmean":
            w = m * torch.arange(1, hidden.shape[1] + 1, device=hidden.device, dtype=hidden.dtype)[None, :, None]  # (B, T, 1)
            parts.append((hidden * w).sum(1) / w.sum(1).clamp(min=1e-9))  # (B, H)
        elif mode == "lasttoken":
            last = mask.sum(1).long().clamp(min=1) - 1  # (B,) right padding: the last real token
            parts.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])  # (B, H)
        else:
            raise UsageError(f"unknown pooling {mode!r}", f"use one of: {', '.join(POOLINGS)}")
    return torch.cat(parts, dim=-1)


def embed(model, tokenizer, items: Iterable, options: EmbedOptions) -> Iterator:
    """One Embedding (or error record) per item, in input order, a window at a time."""
    limit = row_limit(model, tokenizer, options.max_length)
    return stream_windows(items, options, limit, lambda window, run: _window(model, tokenizer, window, options, limit, run), "embed")


def _window(model, tokenizer, items: list, options: EmbedOptions, limit, run: RunState) -> list:
    import torch

    records, todo = failed_inputs(items)
    texts = [items[s].text.lower() if options.lowercase else items[s].text for s in todo]
    encs = encode_all(tokenizer, texts, None, limit)
    rows, slots = encoded_rows(items, todo, encs, records, run)
    if not rows:
        return records

    def pooled(hidden, mask, batch):  # (B, T, H) -> B vectors
        vectors = pool(hidden.float(), mask, options.pooling)  # (B, D)
        if options.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        return list(vectors.cpu())

    vectors = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, post=pooled, bar=run.bar)
    for slot, vec in zip(slots, vectors):
        item = items[slot]
        records[slot] = Embedding(item.index, vec.tolist(), item.text)
    return records
