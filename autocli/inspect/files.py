"""The side files: tokenizer (kind, vocabulary, special tokens), preprocessor config; read as JSON, no library."""

from __future__ import annotations

from autocli.config import MAX_TOKENIZER_BYTES
from autocli.errors import InvalidCheckpoint
from autocli.reports import TokenizerSummary
from autocli.tokenizer import CHAT_TEMPLATE_JINJA, CHAT_TEMPLATE_JSON, ROLES, SENTENCEPIECE_FILES, max_length_of
from autocli.tokenizer.specials import token_content

SPECIAL_ROLES = tuple(f"{role}_token" for role in ROLES)
CHAT_TEMPLATE_FILES = (CHAT_TEMPLATE_JINJA, CHAT_TEMPLATE_JSON)
PREPROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json")


def as_int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


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
             if isinstance(a, dict) and isinstance(a.get("content"), str) and as_int(a.get("id")) is not None}
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
        return as_int(value)


def _lines(path) -> list[str]:
    with open(path, "rb") as f:
        return f.read(MAX_TOKENIZER_BYTES + 1).decode("utf-8", "replace").splitlines()


def tokenizer_summary(ckpt) -> TokenizerSummary | None:
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
        s.model_max_length = max_length_of(config.get("model_max_length"))
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
            text = token_content(config.get(role)) or token_content(smap.get(role))
            if text is not None:
                s.special_tokens[role] = {"content": text, "id": ids.get(text)}
    except InvalidCheckpoint as e:
        s.error = e.message
    return s


# ---- the other configs ------------------------------------------------------------------------------


def preprocessor_summary(ckpt) -> dict | None:
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
