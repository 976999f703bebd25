"""Greedy CTC decoding with transformers' Wav2Vec2CTCTokenizer semantics, from vocab.json and tokenizer_config.json.

Per frame the best id -> its token; repeats collapse; the blank (the pad token) goes; the word delimiter ("|")
becomes a space; the pieces join, strip and (do_lower_case) lower. As transformers' ASR pipeline decodes, the
other special tokens (<s>, </s>, <unk>) stay in the text. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from autocli.errors import InvalidCheckpoint, Unsupported

VOCAB = "vocab.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
MAX_BYTES = 16 * 1024 * 1024
# The tokenizer's defaults (Wav2Vec2CTCTokenizer.__init__).
DEFAULTS = {"pad_token": "<pad>", "unk_token": "<unk>", "word_delimiter_token": "|", "replace_word_delimiter_char": " "}


@dataclass
class CTCDecoder:
    tokens: dict[int, str]  # id -> token
    pad: str  # the CTC blank
    unk: str
    delimiter: str
    delimiter_char: str
    lower: bool = False
    clean_up: bool = False

    def decode(self, ids) -> str:
        """One row of per-frame best ids -> text."""
        from autocli.tokenizer import clean_up_tokenization

        chars = [self.tokens.get(int(i), self.unk) for i in ids]
        kept = [self.delimiter_char if c == self.delimiter else c for c, _ in groupby(chars) if c != self.pad]
        text = "".join(kept).strip()
        text = text.lower() if self.lower else text
        return clean_up_tokenization(text) if self.clean_up else text


def load_ctc_decoder(ckpt) -> CTCDecoder:
    """The checkpoint's CTC vocabulary and its tokenizer settings."""
    from autocli.tokenizer.specials import token_content

    vocab = ckpt.json(VOCAB, MAX_BYTES)
    if vocab is None:
        raise InvalidCheckpoint(f"{ckpt.name} has no {VOCAB}", "CTC checkpoints ship the Wav2Vec2CTCTokenizer's vocab.json")
    config = _object(ckpt.json(TOKENIZER_CONFIG, MAX_BYTES), TOKENIZER_CONFIG)
    smap = _object(ckpt.json(SPECIAL_TOKENS_MAP, MAX_BYTES), SPECIAL_TOKENS_MAP)
    vocab = _language(_object(vocab, VOCAB), config.get("target_lang"))
    tokens = {}
    for token, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int):
            raise InvalidCheckpoint(f"{VOCAB}: the id of {token!r} is {i!r}", "ids are integers")
        tokens[i] = token

    def setting(key):
        value = token_content(config.get(key)) or token_content(smap.get(key))
        return value if value is not None else DEFAULTS[key]

    return CTCDecoder(tokens, setting("pad_token"), setting("unk_token"), setting("word_delimiter_token"),
                      config.get("replace_word_delimiter_char") if isinstance(config.get("replace_word_delimiter_char"), str) else " ",
                      config.get("do_lower_case") is True, config.get("clean_up_tokenization_spaces") is True)


def _object(data, name: str) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidCheckpoint(f"{name} is not a JSON object", "fix the file")
    return data


def _language(vocab: dict, target: str | None) -> dict:
    """A multilingual vocab.json (MMS) holds one vocabulary per language: tokenizer_config's target_lang picks it."""
    nested = vocab and all(isinstance(v, dict) for v in vocab.values())
    if target is not None:
        if not nested or not isinstance(vocab.get(target), dict):
            raise InvalidCheckpoint(f"{VOCAB} has no vocabulary for target_lang {target!r}", "fix tokenizer_config.json")
        return vocab[target]
    if nested:
        raise Unsupported(f"{VOCAB} holds one vocabulary per language and tokenizer_config.json names no target_lang",
                          f"set \"target_lang\" to one of: {', '.join(sorted(vocab)[:10])}")
    return vocab
