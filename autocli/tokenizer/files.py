"""The files a tokenizer is read from, and reading them within size limits (no torch, no tokenizers)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from autocli.config import MAX_CONFIG_BYTES, MAX_TOKENIZER_BYTES, file_size, read_json
from autocli.errors import InvalidCheckpoint

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
ADDED_TOKENS = "added_tokens.json"
VOCAB_TXT = "vocab.txt"
VOCAB_JSON = "vocab.json"
MERGES_TXT = "merges.txt"
CHAT_TEMPLATE_JINJA = "chat_template.jinja"
CHAT_TEMPLATE_JSON = "chat_template.json"
CHAT_TEMPLATE_DIR = "additional_chat_templates"
# SentencePiece models: used only without tokenizer.json, converted by autocli/tokenizer/spm.py where it has a builder.
SENTENCEPIECE_FILES = ("spm.model", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "sentencepiece.model")

# The files that hold a vocabulary: a checkpoint has a tokenizer when it has one of them (compat, inspect).
VOCAB_FILES = (TOKENIZER_JSON, VOCAB_TXT, VOCAB_JSON, *SENTENCEPIECE_FILES)
READS_HINT = ("autocli reads tokenizer.json, or vocab.txt (WordPiece), or vocab.json + merges.txt (byte-level BPE), "
              "or a SentencePiece model (DeBERTa-v2), plus tokenizer_config.json")

ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")

# A length at or above this is "no limit": transformers writes int(1e30) as model_max_length when none is known.
NO_LIMIT = 10**12


def max_length_of(value) -> int | None:
    """tokenizer_config.json's model_max_length as a usable limit; None for "no limit" and for junk."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return int(value) if 0 < value < NO_LIMIT else None

# A checkpoint's file by name -> its local path, or None when the checkpoint lacks it.
Getter = Callable[[str], "Path | None"]


def check_size(path: Path, what: str) -> int:
    return file_size(path, what, MAX_TOKENIZER_BYTES, "a tokenizer file")


def read_object(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    obj = read_json(path, what, MAX_CONFIG_BYTES)
    if not isinstance(obj, dict):
        raise InvalidCheckpoint(f"{what} is a JSON {type(obj).__name__}, not an object", f"check {path}")
    return obj


def read_text(path: Path, what: str) -> str:
    size = check_size(path, what)
    if size > MAX_CONFIG_BYTES:
        raise InvalidCheckpoint(f"{what} is {size:,} bytes, over the {MAX_CONFIG_BYTES:,}-byte limit", "is this really a chat template?")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCheckpoint(f"{what} is not UTF-8 text", f"check {path}") from None
