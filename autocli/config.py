"""config.json and friends -> plain data. No torch.

Config keeps the raw dict (every value that changes the math stays available to the model
files) and answers the common questions (hidden size, layers, heads, ...) across the key
spellings of different families.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autocli.errors import InvalidCheckpoint

# Bounds on what is read: a config or tokenizer file above these is refused, not parsed.
MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_TOKENIZER_BYTES = 512 * 1024 * 1024

# Family-specific spellings of the common fields, first match wins (as transformers' attribute_map).
ALIASES: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim", "embed_dim", "model_dim"),
    "num_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "encoder_layers"),
    "num_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads", "encoder_attention_heads"),
    "num_kv_heads": ("num_key_value_heads", "n_head_kv", "num_kv_heads"),
    "vocab_size": ("vocab_size", "n_vocab"),
    "context_length": ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"),
    "intermediate_size": ("intermediate_size", "n_inner", "d_ff", "ffn_dim", "hidden_dim", "encoder_ffn_dim"),
    "head_dim": ("head_dim", "d_kv"),
    "embedding_size": ("embedding_size",),
    "num_decoder_layers": ("num_decoder_layers", "decoder_layers"),
}

# Dimensions above these are refused before any allocation (a hostile config can ask for terabytes).
LIMITS = {
    "hidden_size": 1 << 17,
    "num_layers": 4096,
    "num_heads": 4096,
    "num_kv_heads": 4096,
    "vocab_size": 1 << 24,
    "context_length": 1 << 24,
    "intermediate_size": 1 << 20,
    "head_dim": 1 << 14,
    "embedding_size": 1 << 17,
    "num_decoder_layers": 4096,
}

# The norms' epsilon, as the families spell it: a NaN, infinite or negative one makes every output NaN.
NORM_EPS_KEYS = ("layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps", "norm_eps")

REMOTE_CODE_HINT = ("autocli runs only its own implementation of each model_type, never code shipped with a "
                    "checkpoint; `autocli compat MODEL` shows what it can run")
TRUST_REMOTE_CODE_POLICY = ("remote code refused: autocli has no --trust-remote-code, it never runs code shipped "
                            "with a checkpoint (auto_map)")


def remote_code(config: Any, tokenizer_config: Any = None) -> str | None:
    """Why a checkpoint would need the Python code it ships (transformers' trust_remote_code), or None."""
    for what, raw in (("config.json", config), ("tokenizer_config.json", tokenizer_config)):
        if isinstance(raw, dict) and raw.get("auto_map"):
            return f"{what} has auto_map (model or tokenizer code shipped with the checkpoint)"
    return None


def refuse_remote_code(ckpt) -> None:
    """The one check every command that runs or tokenizes makes first: remote code is refused (exit 4)."""
    # a tokenizer-only folder (tokenize, --tokenizer SRC) has no config.json: only its tokenizer can ask for code
    config = ckpt.config().raw if ckpt.has("config.json") else None
    tokenizer_config = ckpt.json("tokenizer_config.json") if ckpt.has("tokenizer_config.json") else None
    reason = remote_code(config, tokenizer_config)
    if reason:
        raise InvalidCheckpoint(f"remote code refused: {reason}", REMOTE_CODE_HINT)


def file_size(path: Path, what: str, max_bytes: int, kind: str = "a config file") -> int:
    """The size of a checkpoint file that must stay under max_bytes; InvalidCheckpoint naming it otherwise."""
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise InvalidCheckpoint(f"cannot read {what}: {e.strerror}", f"check {path}") from None
    if size > max_bytes:
        raise InvalidCheckpoint(f"{what} is {size:,} bytes, over the {max_bytes:,}-byte limit", f"is this really {kind}?")
    return size


def read_json(path: Path, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """Read a JSON file with a size bound; any problem is an InvalidCheckpoint naming the file."""
    file_size(path, what, max_bytes)
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidCheckpoint(f"{what} is not UTF-8 text", f"check {path}") from None
    except json.JSONDecodeError as e:
        raise InvalidCheckpoint(f"{what} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})", f"check {path}") from None
    except RecursionError:
        raise InvalidCheckpoint(f"{what} is nested too deeply", f"check {path}") from None


@dataclass
class Config:
    raw: dict
    source: str = "config.json"

    @property
    def model_type(self) -> str:
        return self.raw["model_type"]

    @property
    def architectures(self) -> list[str]:
        return list(self.raw.get("architectures") or [])

    def get(self, name: str, default: Any = None) -> Any:
        """A common field by its canonical name, whatever the family calls it (also inside text_config)."""
        for scope in (self.raw, self.raw.get("text_config") or {}, self.raw.get("encoder") or {}):
            if not isinstance(scope, dict):
                continue
            for key in ALIASES.get(name, (name,)):
                value = scope.get(key)
                if value is not None:
                    return value
        return default

    @property
    def num_kv_heads(self) -> int | None:
        kv = self.get("num_kv_heads")
        if kv is None and self.raw.get("multi_query"):
            return 1
        return kv if kv is not None else self.get("num_heads")

    @property
    def head_dim(self) -> int | None:
        hd = self.get("head_dim")
        if hd is None:
            hidden, heads = self.get("hidden_size"), self.get("num_heads")
            if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
                hd = hidden // heads
        return hd

    @property
    def dtype(self) -> str | None:
        return self.raw.get("dtype") or self.raw.get("torch_dtype")

    @property
    def id2label(self) -> dict[int, str]:
        raw = self.raw.get("id2label") or {}
        if not isinstance(raw, dict):
            return {}
        out = {}
        for k, v in raw.items():
            try:
                out[int(k)] = str(v)
            except (TypeError, ValueError):
                raise InvalidCheckpoint(f"{self.source}: id2label key {k!r} is not an integer", "id2label maps '0', '1', ... to names") from None
        return out

    @property
    def num_labels(self) -> int:
        n = self.raw.get("num_labels")
        if isinstance(n, int) and n > 0:
            return n
        return len(self.id2label) or 2

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.raw.get("is_encoder_decoder"))

    def check_dimensions(self) -> None:
        """Refuse absurd or ill-typed sizes and norm epsilons before anything is allocated."""
        self.check_sizes()
        self.check_norm_eps()

    def check_sizes(self) -> None:
        for name, limit in LIMITS.items():
            value = self.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidCheckpoint(f"{self.source}: {name} is {value!r}, not an integer", "fix config.json")
            if value <= 0 or value > limit:
                raise InvalidCheckpoint(f"{self.source}: {name} = {value:,} is out of range (1..{limit:,})", "the config looks corrupt or hostile")

    def check_norm_eps(self) -> None:
        for key in NORM_EPS_KEYS:
            value = self.raw.get(key)
            if value is None:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0:
                raise InvalidCheckpoint(f"{self.source}: {key} is {value!r}, not a finite non-negative number",
                                        "a norm epsilon is a small positive number such as 1e-12; fix config.json")


def parse_config(raw: Any, source: str = "config.json") -> Config:
    if not isinstance(raw, dict):
        raise InvalidCheckpoint(f"{source} is a JSON {type(raw).__name__}, not an object", "config.json must be a JSON object")
    mt = raw.get("model_type")
    if mt is None:
        raise InvalidCheckpoint(
            f"{source} has no model_type",
            "add \"model_type\" (e.g. \"bert\") to config.json; autocli resolves the architecture from it",
        )
    if not isinstance(mt, str) or not mt:
        raise InvalidCheckpoint(f"{source}: model_type is {mt!r}, not a name", "set model_type to a family name such as \"bert\"")
    archs = raw.get("architectures")
    if archs is not None and not (isinstance(archs, list) and all(isinstance(a, str) for a in archs)):
        raise InvalidCheckpoint(f"{source}: architectures is {archs!r}, not a list of names", "fix config.json")
    return Config(raw, source)


def load_config(path: Path) -> Config:
    return parse_config(read_json(path, "config.json"), "config.json")
