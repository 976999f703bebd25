"""Loading: which files a checkpoint has decides the format; then special tokens, added tokens and the
chat template go on top, as AutoTokenizer does."""

from __future__ import annotations

import os
from pathlib import Path

from autocli.errors import InvalidCheckpoint, NotReachable, Unsupported
from autocli.tokenizer.chat import chat_template
from autocli.tokenizer.files import (
    CHAT_TEMPLATE_DIR, MERGES_TXT, READS_HINT, ROLES, SENTENCEPIECE_FILES, SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG,
    TOKENIZER_JSON, VOCAB_JSON, VOCAB_TXT, Getter, read_object,
)
from autocli.tokenizer.formats import LEGACY_DEFAULTS, bpe_style, from_tokenizer_json, legacy_bpe, legacy_post_processor, legacy_wordpiece
from autocli.tokenizer.specials import KNOWN_SPECIALS, add_tokens, known_special, special_tokens
from autocli.tokenizer.wrapper import Tokenizer


def load_tokenizer(ckpt) -> Tokenizer:
    """The tokenizer of a resolved Checkpoint (or a plain folder path)."""
    if isinstance(ckpt, (str, os.PathLike)):
        return load_tokenizer_from_dir(ckpt)
    present = {str(f) for f in ckpt.files()}

    def get(name: str) -> Path | None:
        return ckpt.optional_path(name) if name in present else None

    templates = sorted(f for f in present if f.startswith(CHAT_TEMPLATE_DIR + "/") and f.endswith(".jinja"))
    try:
        return _load(get, present, templates)
    except InvalidCheckpoint:
        refuse_files_only(ckpt)
        raise


def refuse_files_only(ckpt) -> None:
    """A checkpoint that reads only image or audio files (a CTC vocabulary is no text tokenizer) is told so,
    rather than reported as a broken tokenizer."""
    from autocli import registry
    from autocli.errors import AutocliError

    try:
        config = ckpt.config()
    except AutocliError:
        return  # no usable config.json: the tokenizer's own error stands
    fam = registry.family(config.model_type)
    kind = registry.input_kind(config.model_type)
    if fam is not None and not fam.combined and kind in ("image", "audio"):
        raise Unsupported(f"{ckpt.name} ({config.model_type}) reads {kind} files, not text: it has no tokenizer",
                          f"give it {kind} files (autocli preprocess MODEL FILE shows what it reads), or pick a text checkpoint")


def load_tokenizer_from_dir(folder) -> Tokenizer:
    folder = Path(folder)
    if not folder.is_dir():
        raise NotReachable(f"{folder} is not a folder", "pass a checkpoint folder or a Hub repo id")
    present = {p.name for p in folder.iterdir() if p.is_file()}

    def get(name: str) -> Path | None:
        path = folder / name
        return path if path.is_file() else None

    tdir = folder / CHAT_TEMPLATE_DIR
    templates = sorted(f"{CHAT_TEMPLATE_DIR}/{p.name}" for p in tdir.glob("*.jinja")) if tdir.is_dir() else []
    return _load(get, present, templates)


def _load(get: Getter, present: set[str], extra_templates: list[str]) -> Tokenizer:
    config = read_object(get(TOKENIZER_CONFIG), TOKENIZER_CONFIG)
    # special_tokens_map.json counts only for configs without added_tokens_decoder (as in transformers)
    smap = {} if "added_tokens_decoder" in config else read_object(get(SPECIAL_TOKENS_MAP), SPECIAL_TOKENS_MAP)
    special, extra, flags = special_tokens(config, smap)

    style = None  # legacy files: which transformers class they stand for
    if TOKENIZER_JSON in present:
        inner = from_tokenizer_json(get(TOKENIZER_JSON))
        source = TOKENIZER_JSON
    elif VOCAB_JSON in present and MERGES_TXT in present:
        style = bpe_style(config, special, get(VOCAB_JSON))
        inner = legacy_bpe(get(VOCAB_JSON), get(MERGES_TXT), config)
        source = f"{VOCAB_JSON} + {MERGES_TXT}"
    elif VOCAB_TXT in present:
        style = "wordpiece"
        inner = legacy_wordpiece(get(VOCAB_TXT), config, {**LEGACY_DEFAULTS[style], **special})
        source = VOCAB_TXT
    elif VOCAB_JSON in present:
        raise InvalidCheckpoint("vocab.json has no merges.txt beside it", READS_HINT)
    elif spm := [f for f in SENTENCEPIECE_FILES if f in present]:
        from autocli.tokenizer.spm import load_sentencepiece, model_type_of  # converts what it knows, refuses the rest

        inner, special = load_sentencepiece(get(spm[0]), config, special, model_type_of(get))
        source = spm[0]
    else:
        raise InvalidCheckpoint("no tokenizer files in this checkpoint", READS_HINT)

    if style is not None:
        special = {**LEGACY_DEFAULTS[style], **special}
    special = {r: t for r, t in special.items() if t is not None}
    add_tokens(inner, config, special, extra, flags, get)
    if style is not None:
        legacy_post_processor(inner, style, config, special)
    else:
        for role, names in KNOWN_SPECIALS.items():
            special.setdefault(role, known_special(inner, names))
        special = {r: t for r, t in special.items() if t is not None}
    inner.no_truncation()
    inner.no_padding()
    if config.get("split_special_tokens") is True:
        inner.encode_special_tokens = True
    kind = type(inner.model).__name__
    special = {r: special[r] for r in ROLES if r in special}
    return Tokenizer(inner, kind, special, config, source, chat_template(get, config, extra_templates), extra)
