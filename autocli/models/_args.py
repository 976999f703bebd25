"""Reading config.json into a family's Args: a dataclass whose fields are named as config.json names them,
with transformers' defaults (ConfigArgs), typed checks that refuse bad values by name, and the settings every
BERT-like encoder shares (BERT's names and defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported


def check_heads(hidden, heads, names: str = "hidden_size {} is not a multiple of num_attention_heads {}") -> None:
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and hidden % heads:
        raise InvalidCheckpoint(names.format(hidden, heads), "the config is inconsistent")


def key(*keys: str, default=None, null=False):
    """A field read from the first of `keys` that config.json sets (no keys: the field's own name): an older or
    alternative name, a registry row's private `_key`. null=True: an explicit null is a value, not the default."""
    return field(default=default, metadata={"keys": keys, "null": null})


def derived(default=None):
    """A field check() computes; config.json never sets it."""
    return field(default=default, init=False)


def check_types(args, source: str, with_derived: bool = True) -> None:
    """Every field (with_derived=False: every field read from config.json) has the type its annotation says: a
    hostile config fails here, by name, not deep in torch."""
    for f in dataclasses.fields(args):
        if not (f.init or with_derived):
            continue
        value, kind = getattr(args, f.name), getattr(f.type, "__name__", str(f.type))
        optional = kind.endswith(" | None")
        kind = kind.removesuffix(" | None")
        if value is None and optional or kind not in ("int", "float", "bool", "str"):
            continue  # richer annotations are the family's own business
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < float("inf")
        else:
            ok = isinstance(value, {"bool": bool, "str": str}[kind])
        if not ok:
            raise InvalidCheckpoint(f"{source}: {f.name} is {value!r}, not a valid {kind}", "fix config.json")


@dataclass
class ConfigArgs:
    """A family's settings, read from config.json by field name (or by key(...)): a key that is absent or
    null takes the field's default (transformers' default for that family). The values read are type-checked
    by their annotations, then check() refuses what the family cannot run and fills in derived values; the
    loader checks every field's type once more, derived values included. A family lists its config fields in
    the order transformers writes config.json (sorted by name), then the keys its registry row sets, then the
    fields check() derives."""

    num_labels: int = 2  # what id2label says (transformers does not save the key itself)

    @classmethod
    def from_config(cls, cfg: Config):
        r, values = cfg.raw, {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            value = cfg.num_labels if f.name == "num_labels" else _lookup(r, f.metadata.get("keys") or (f.name,), f.metadata.get("null"))
            if value is _ABSENT:
                if f.default is not dataclasses.MISSING:
                    value = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    value = f.default_factory()
                else:
                    raise InvalidCheckpoint(f"config.json has no {f.name}", "the config is incomplete")
            values[f.name] = value
        args = cls(**values)
        check_types(args, cfg.source, with_derived=False)
        args.check(cfg)
        return args

    def check(self, cfg: Config) -> None:
        """Refuse settings that change the math and that the family does not run; derive values."""

    def positive(self, *names: str) -> None:
        """Refuse a size or epsilon that is not above zero (after the type check), naming its key."""
        self.at_least(0, *names, strict=True)

    def at_least(self, low, *names: str, strict: bool = False) -> None:
        for name in names:
            value = getattr(self, name)
            if value is not None and (value <= low if strict else value < low):
                hint = f"{name} must be a positive number" if strict and low == 0 else f"{name} must be at least {low}"
                raise InvalidCheckpoint(f"config.json: {name} is {value!r}", hint)


_ABSENT = object()


def _lookup(r: dict, keys: tuple, null: bool):
    """The first of `keys` config.json sets; with null, an explicit null counts as set."""
    for k in keys:
        if r.get(k) is not None or (null and k in r):
            return r[k]
    return _ABSENT


@dataclass
class EncoderArgs(ConfigArgs):
    """The settings every BERT-like encoder has, with BERT's defaults; a family redeclares a field to give
    its own default (the field keeps its place)."""

    add_cross_attention: bool = False
    hidden_act: str = "gelu"
    hidden_size: int = 768
    intermediate_size: int = 3072
    is_decoder: bool = False
    layer_norm_eps: float = 1e-12
    max_position_embeddings: int = 512
    num_attention_heads: int = 12
    num_hidden_layers: int = 12
    position_embedding_type: str = "absolute"
    type_vocab_size: int = 2
    vocab_size: int = 30522

    def check(self, cfg: Config) -> None:
        if self.position_embedding_type != "absolute":
            raise Unsupported(
                f"position_embedding_type {self.position_embedding_type!r} is not supported for {cfg.model_type} (only 'absolute')",
                "relative_key / relative_key_query checkpoints are rare; run them with transformers",
            )
        if self.is_decoder or self.add_cross_attention:
            raise Unsupported(f"{cfg.model_type} as a decoder (is_decoder / add_cross_attention) is not supported",
                              "autocli runs BERT-like checkpoints as encoders")
        check_heads(self.hidden_size, self.num_attention_heads)
