"""Reading config.json into a family's Args: typed readers that refuse bad values by name, and the settings
every BERT-like encoder shares (BERT's names and defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported


def read_int(r: dict, key: str, default: int, low: int = 1) -> int:
    value = r.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        hint = f"{key} must be a positive integer" if low == 1 else f"{key} must be an integer >= {low}"
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", hint)
    return value


def read_float(r: dict, key: str, default: float) -> float:
    value = r.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidCheckpoint(f"config.json: {key} is {value!r}", f"{key} must be a positive number")
    return float(value)


def check_heads(hidden, heads, names: str = "hidden_size {} is not a multiple of num_attention_heads {}") -> None:
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and hidden % heads:
        raise InvalidCheckpoint(names.format(hidden, heads), "the config is inconsistent")


@dataclass
class ConfigArgs:
    """A family's settings, read from config.json by field name: a key that is absent or null takes the
    field's default (transformers' default for that family). check() refuses what the family cannot run
    and fills in derived values; the loader then checks every field's type (models.check_args)."""

    @classmethod
    def from_config(cls, cfg: Config):
        r, values = cfg.raw, {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            # num_labels is what id2label says (transformers does not save the key itself)
            value = cfg.num_labels if f.name == "num_labels" else r.get(f.name)
            if value is None:
                if f.default is not dataclasses.MISSING:
                    value = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    value = f.default_factory()
                else:
                    raise InvalidCheckpoint(f"config.json has no {f.name}", "the config is incomplete")
            values[f.name] = value
        args = cls(**values)
        args.check(cfg)
        return args

    def check(self, cfg: Config) -> None:
        """Refuse settings that change the math and that the family does not run; derive values."""


# BERT's config defaults; a family passes its own where they differ.
BERT_DEFAULTS = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                     hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12)


@dataclass
class EncoderArgs:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    num_labels: int

    @staticmethod
    def common(cfg: Config, **defaults) -> dict:
        """The shared fields from config.json (defaults: BERT's, overridden by the family's), after the checks
        of settings that change the math and that autocli does not run."""
        r = cfg.raw
        pet = r.get("position_embedding_type", "absolute")
        if pet not in (None, "absolute"):
            raise Unsupported(
                f"position_embedding_type {pet!r} is not supported for {cfg.model_type} (only 'absolute')",
                "relative_key / relative_key_query checkpoints are rare; run them with transformers",
            )
        if r.get("is_decoder") or r.get("add_cross_attention"):
            raise Unsupported(f"{cfg.model_type} as a decoder (is_decoder / add_cross_attention) is not supported",
                              "autocli runs BERT-like checkpoints as encoders")
        out = {k: r.get(k, v) for k, v in {**BERT_DEFAULTS, **defaults}.items()}
        check_heads(out["hidden_size"], out["num_attention_heads"])
        return {**out, "num_labels": cfg.num_labels}
