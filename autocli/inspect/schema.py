"""The JSON Schema of `autocli inspect --format json` (printed by `autocli inspect --schema`).

Keys are only ever added within a version; a null means "not known for this checkpoint"; sizes are bytes.
"""

from __future__ import annotations

STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
N_STR, N_INT, N_BOOL = {"type": ["string", "null"]}, {"type": ["integer", "null"]}, {"type": ["boolean", "null"]}
STRS = {"type": "array", "items": STR}


def _obj(properties: dict, nullable: bool = False, description: str = "") -> dict:
    out = {"type": ["object", "null"] if nullable else "object", "required": list(properties), "properties": properties}
    return {"description": description, **out} if description else out


def _int_map(nullable: bool, description: str) -> dict:
    return {"type": ["object", "null"] if nullable else "object", "additionalProperties": INT, "description": description}


FILE = _obj({"name": STR, "size": N_INT})
DIMENSIONS = _obj({
    "hidden_size": N_INT, "num_layers": N_INT, "num_heads": N_INT, "num_kv_heads": N_INT, "head_dim": N_INT,
    "intermediate_size": N_INT, "vocab_size": N_INT, "context_length": N_INT, "dtype": N_STR,
    "is_encoder_decoder": BOOL, "tie_word_embeddings": N_BOOL,
})
WEIGHTS = _obj({
    "format": {"enum": ["safetensors", "pickle", None]}, "sharded": BOOL, "files": {"type": "array", "items": FILE},
    "total_size": INT, "tensor_count": INT, "pickle_files": STRS,
})
PARAMETERS = _obj({
    "total": {"type": "integer", "description": "trainable tensors, tied weights counted once"},
    "embedding": INT, "non_embedding": INT,
    "by_dtype": _int_map(False, "safetensors dtype -> parameters"),
    "buffers": {"type": "integer", "description": "elements of non-parameters (position_ids, inv_freq, ...)"},
    "tied": {"type": "array", "items": STRS, "description": "[name counted, its tied twin not counted]"},
}, nullable=True)
TOKENIZER = _obj({
    "kind": {"enum": ["WordPiece", "BPE", "byte-level BPE", "Unigram", "WordLevel", "SentencePiece", None]},
    "files": STRS, "tokenizer_class": N_STR, "vocab_size": N_INT,
    "special_tokens": {"type": "object", "additionalProperties": _obj({"content": STR, "id": N_INT})},
    "model_max_length": N_INT, "do_lower_case": N_BOOL, "chat_template": BOOL, "error": N_STR,
}, nullable=True)
PREPROCESSOR = _obj({
    "file": STR, "kind": {"enum": ["image", "audio", "video", "processor"]}, "type": N_STR,
    "fields": {"type": "object", "description": "the file as written"},
}, nullable=True)
TENSOR = _obj({
    "name": {"type": "string", "description": "repeated layers collapsed: layer.{0..11}.q.weight"},
    "shape": {"type": "array", "items": INT}, "dtype": STR, "count": INT, "parameters": INT, "files": STRS,
})

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "autocli.inspect/1",
    "title": "autocli inspect --format json",
    **_obj({
        "schema": {"const": "autocli.inspect/1"},
        "checkpoint": {"type": "string", "description": "as resolved: org/name@rev or ./dir"},
        "source": {"enum": ["local", "hub"]},
        "path": {"type": ["string", "null"], "description": "local folder, or the cache snapshot (hub)"},
        "repo_id": N_STR, "revision": N_STR, "commit": N_STR,
        "model_type": STR,
        "architectures": STRS,
        "runnable": {"type": "boolean", "description": "autocli runs this model_type and nothing blocks it"},
        "runnable_tasks": {"type": "array", "items": STR, "description": "empty when not runnable"},
        "declared_tasks": {"type": "array", "items": STR, "description": "from architectures"},
        "heads_in_weights": {"type": ["array", "null"], "items": STR, "description": "null: no headers"},
        "dimensions": DIMENSIONS,
        "weights": WEIGHTS,
        "parameters": PARAMETERS,
        "memory_bytes": _int_map(True, "parameters only: float32, bfloat16, int8"),
        "kv_cache_bytes_per_1k_tokens": _int_map(True, "decoders only: float32, bfloat16"),
        "files": {"type": "array", "items": FILE},
        "files_total_size": INT,
        "tokenizer": TOKENIZER,
        "preprocessor": PREPROCESSOR,
        "generation": {"type": ["object", "null"], "description": "generation_config.json as written"},
        "task_specific_params": STRS,
        "notes": STRS,
        "tensors": {"type": ["array", "null"], "items": TENSOR, "description": "with --tensors only"},
        "blocked": {"type": ["string", "null"], "description": "why autocli refuses to run it (remote code)"},
    }),
}
