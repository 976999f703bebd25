"""What diff compares of the side files and config.json, as flat {key: value} views of each side."""

from __future__ import annotations

import hashlib

from autocli.config import MAX_TOKENIZER_BYTES
from autocli.errors import InvalidCheckpoint
from autocli.inspect.files import CHAT_TEMPLATE_FILES
from autocli.render import to_data
from autocli.reports import Change, InspectResult

# config.json keys that record where or how a file was saved, not what the model computes.
BOOKKEEPING = {"transformers_version", "_name_or_path", "_commit_hash", "architectures", "torch_dtype", "dtype"}
# Nested objects compared as one value: their keys are data (label names), not settings.
WHOLE = {"id2label", "label2id", "task_specific_params"}
GENERATION_BOOKKEEPING = {"transformers_version", "_from_model_config"}
# tokenizer.json pipeline stages compared by their type (a Sequence by its members' types).
STAGES = ("normalizer", "pre_tokenizer", "post_processor", "decoder")


def changes(a: dict, b: dict) -> list[Change]:
    """The keys whose values differ (a key one side lacks is null there), sorted by key."""
    return [Change(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if k in BOOKKEEPING:
            continue
        if isinstance(v, dict) and v and k not in WHOLE:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def config_changes(a: dict, b: dict) -> list[Change]:
    return changes(_flat(a), _flat(b))


def dtype_change(a: dict, b: dict) -> Change | None:
    da, db = (c.get("dtype") or c.get("torch_dtype") for c in (a, b))
    return None if da == db else Change("dtype", da, db)


def _stage(value) -> str | None:
    if not isinstance(value, dict):
        return None
    kind = str(value.get("type"))
    members = value.get("normalizers") or value.get("pretokenizers") or value.get("processors") or value.get("decoders")
    return f"{kind}[{', '.join(_stage(m) or '?' for m in members)}]" if isinstance(members, list) else kind


def _template(ckpt, config: dict) -> str | None:
    """A short fingerprint of the chat template (its length and hash): the text itself can run to pages."""
    text = config.get("chat_template")
    for name in CHAT_TEMPLATE_FILES:
        if text is None and ckpt.has(name):
            text = ckpt.path(name).read_text(encoding="utf-8", errors="replace")
    if text is None:
        return None
    text = text if isinstance(text, str) else repr(text)
    return f"{len(text)} chars, sha256 {hashlib.sha256(text.encode()).hexdigest()[:12]}"


def tokenizer_view(ckpt, report: InspectResult) -> dict:
    """The tokenizer's summary (inspect's), its pipeline stages, added tokens and chat template."""
    s = report.tokenizer
    if s is None:
        return {}
    view = {k: v for k, v in to_data(s).items() if k not in ("files", "chat_template", "special_tokens")}
    view.update({f"special_tokens.{role}": v for role, v in s.special_tokens.items()})
    try:
        config = ckpt.json("tokenizer_config.json") or {}
        view["chat_template"] = _template(ckpt, config if isinstance(config, dict) else {})
        tok = ckpt.json("tokenizer.json", MAX_TOKENIZER_BYTES) if ckpt.has("tokenizer.json") else None
    except InvalidCheckpoint as e:
        return {**view, "error": e.message}
    if isinstance(tok, dict):
        view.update({stage: _stage(tok.get(stage)) for stage in STAGES})
        added = tok.get("added_tokens") if isinstance(tok.get("added_tokens"), list) else []
        for t in added:
            if isinstance(t, dict):
                view[f"added_tokens.{t.get('content')}"] = {k: t.get(k) for k in ("id", "special")}
    return view


def generation_view(report: InspectResult) -> dict:
    return {k: v for k, v in (report.generation or {}).items() if k not in GENERATION_BOOKKEEPING}


def preprocessor_view(report: InspectResult) -> dict:
    pp = report.preprocessor
    return {} if pp is None else {"file": pp["file"], **pp["fields"]}
