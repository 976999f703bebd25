"""Special and added tokens: the roles tokenizer_config.json names, and the tokens transformers adds on
top of the backend's own (which can change a token's lstrip/rstrip)."""

from __future__ import annotations

from autocli.errors import InvalidCheckpoint
from autocli.tokenizer.files import ADDED_TOKENS, ROLES, Getter, read_object

# Well-known spellings, to name the roles of a bare tokenizer.json that no config describes.
KNOWN_SPECIALS = {
    "cls": ("[CLS]", "<cls>"),
    "sep": ("[SEP]", "<sep>"),
    "pad": ("[PAD]", "<pad>", "<|pad|>"),
    "mask": ("[MASK]", "<mask>"),
    "unk": ("[UNK]", "<unk>"),
    "bos": ("<s>", "<bos>", "<|begin_of_text|>"),
    "eos": ("</s>", "<eos>", "<|endoftext|>", "<|end_of_text|>"),
}


def token_content(value) -> str | None:
    """A special token as tokenizer_config writes it: a string, or {"content": ...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def special_tokens(config: dict, smap: dict) -> tuple[dict, list[str], dict[str, dict]]:
    """Role -> token (None = explicitly none), the extra special tokens, and the flags of those written as
    {"content": ..., "lstrip": ...}, as transformers reads them."""
    sources = [config]
    if "added_tokens_decoder" not in config:
        sources.append(smap)  # legacy: special_tokens_map.json overrides tokenizer_config.json
    special: dict[str, str | None] = {}
    extra: list[str] = []
    flags: dict[str, dict] = {}

    def content(value) -> str | None:
        tok = token_content(value)
        if tok and isinstance(value, dict):
            flags[tok] = value
        return tok

    for src in sources:
        for role in ROLES:
            key = f"{role}_token"
            if key in src:
                special[role] = content(src[key])
        for key in ("additional_special_tokens", "extra_special_tokens"):
            value = src.get(key)
            items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
            extra += [t for t in map(content, items) if t]
        # model-specific named tokens (image_token, ...) are special tokens too (transformers v5)
        for key, value in src.items():
            if key.endswith("_token") and key[:-6] not in ROLES and isinstance(value, (str, dict)):
                if (t := content(value)):
                    extra.append(t)
    return special, list(dict.fromkeys(extra)), flags


def _added_token(entry: dict):
    from tokenizers import AddedToken

    flags = {k: entry[k] for k in ("single_word", "lstrip", "rstrip", "normalized", "special") if isinstance(entry.get(k), bool)}
    return AddedToken(entry["content"], **flags)


def add_tokens(inner, config: dict, special: dict, extra: list[str], flags: dict[str, dict], get: Getter) -> None:
    """Add tokenizer_config's added tokens, then every named special token the backend lacks (as transformers)."""
    from tokenizers import AddedToken

    decoder = config.get("added_tokens_decoder")
    tokens = []
    if isinstance(decoder, dict):
        def order(item):
            try:
                return int(item[0])
            except (TypeError, ValueError):
                raise InvalidCheckpoint(f"tokenizer_config.json: added token id {item[0]!r} is not an integer", "fix added_tokens_decoder") from None

        for _, entry in sorted(decoder.items(), key=order):
            if not (isinstance(entry, dict) and isinstance(entry.get("content"), str) and entry["content"]):
                raise InvalidCheckpoint("tokenizer_config.json: an added_tokens_decoder entry has no content", "fix added_tokens_decoder")
            tokens.append(_added_token(entry))
    elif (path := get(ADDED_TOKENS)) is not None:
        legacy = read_object(path, ADDED_TOKENS)
        names = set(special.values()) | set(extra)
        for content, _ in sorted(legacy.items(), key=lambda kv: kv[1] if isinstance(kv[1], int) else 0):
            if content:
                tokens.append(AddedToken(content, normalized=content not in names, special=content in names))
    if tokens:
        inner.add_tokens(tokens)
    existing = {t.content: t for t in inner.get_added_tokens_decoder().values()}
    declared = {t.content for t in tokens}
    named = []
    for content in list(dict.fromkeys([*special.values(), *extra])):
        if not content:
            continue
        old = existing.get(content)
        if content in flags and content not in declared:
            named.append(_added_token({**flags[content], "special": True}))  # its own lstrip/rstrip/normalized
        elif old is None:
            named.append(AddedToken(content, special=True, normalized=False))
        elif not old.special:
            named.append(AddedToken(content, single_word=old.single_word, lstrip=old.lstrip, rstrip=old.rstrip,
                                    normalized=old.normalized, special=True))
    if named:
        inner.add_special_tokens(named)


def known_special(inner, names: tuple[str, ...]) -> str | None:
    added = {t.content for t in inner.get_added_tokens_decoder().values() if t.special}
    return next((n for n in names if n in added), None)

