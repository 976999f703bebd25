"""Weights from their headers: parameter counts (ties counted once), buffers, memory, KV cache, the tensor list."""

from __future__ import annotations

import re

from autocli.config import Config
from autocli.headers import FLOAT_DTYPES
from autocli.inspect.files import as_int
from autocli.reports import Dimensions, Parameters, TensorGroup

# Non-parameter tensors some checkpoints carry (buffers), by the last part of their name.
BUFFER_NAMES = {"position_ids", "token_type_ids", "inv_freq", "masked_bias", "_float_tensor", "num_batches_tracked"}
# Input embeddings and the output heads that tie_word_embeddings shares them with.
INPUT_EMBEDDINGS = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight", "shared.weight", "embed_in.weight")
OUTPUT_HEADS = ("lm_head.weight", "cls.predictions.decoder.weight", "embed_out.weight", "generator_lm_head.weight",
                "vocab_projector.weight", "lm_head.decoder.weight", "predictions.decoder.weight")
MEMORY_DTYPES = {"float32": 4, "bfloat16": 2, "int8": 1}
KV_DTYPES = {"float32": 4, "bfloat16": 2}
DECODER_TASKS = {"causal-lm", "seq2seq-lm"}
# Parameters are floats, or the integer types quantized weights are packed in; I64 / BOOL are buffers.
PARAM_DTYPES = FLOAT_DTYPES | {"I8", "U8", "I32", "U32"}


def is_buffer(name: str, shape: tuple) -> bool:
    last = name.rsplit(".", 1)[-1]
    # GPT-2 / GPT-NeoX keep their causal mask as `...attn.bias` of shape (1, 1, n_ctx, n_ctx); a real bias is 1-D
    return last in BUFFER_NAMES or (last == "bias" and len(shape) == 4)


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


def count_parameters(ckpt, tie: bool | None) -> Parameters:
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
            if is_buffer(name, t.shape) or t.dtype not in PARAM_DTYPES:
                buffers += t.numel
                continue
            total += t.numel
            by_dtype[t.dtype] = by_dtype.get(t.dtype, 0) + t.numel
            if _is_embedding(name):
                embedding += t.numel
    return Parameters(total, embedding, total - embedding, dict(sorted(by_dtype.items())), buffers, sorted(tied))


def kv_cache(cfg: Config, dims: Dimensions, declared: list[str]) -> dict[str, int] | None:
    decoder = bool(DECODER_TASKS & set(declared)) or dims.is_encoder_decoder or cfg.raw.get("is_decoder") is True
    if not decoder:
        return None
    layers = dims.num_layers
    kv_heads = dims.num_kv_heads
    if dims.is_encoder_decoder:
        layers = as_int(cfg.get("num_decoder_layers")) or layers
        kv_heads = as_int(cfg.raw.get("decoder_attention_heads")) or kv_heads
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


def collapse(entries) -> list[tuple[str, tuple, int, list]]:
    """(name, key, file) entries -> (collapsed name, key, count, names) per group of names that differ only in
    their layer numbers and share `key`, in natural name order: layer.{0..11}.q.weight."""
    groups: dict[tuple, list] = {}
    for name, key, file in sorted(entries, key=lambda e: _natural(e[0])):
        pattern = tuple("#" if p.isdigit() else p for p in name.split("."))
        groups.setdefault((pattern, key), []).append((name, file))
    out = []
    for (pattern, key), members in groups.items():
        numbers = [[int(p) for p in name.split(".") if p.isdigit()] for name, _ in members]
        spans = iter(_span(list(c)) for c in zip(*numbers))
        out.append((".".join(next(spans) if p == "#" else p for p in pattern), key, len(members), members))
    return out


def collapse_tensors(ckpt) -> list[TensorGroup]:
    """Tensors grouped by name with the layer numbers taken out, and by shape and dtype."""
    entries = [(n, (t.dtype, t.shape, t.numel), f) for f, h in ckpt.headers().items() for n, t in h.tensors.items()]
    return [TensorGroup(name, list(shape), dtype, count, count * numel, sorted({f for _, f in members}))
            for name, (dtype, shape, numel), count, members in collapse(entries)]
