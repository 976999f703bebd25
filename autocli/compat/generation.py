"""What `generate` needs beyond weights and a tokenizer, checked without torch: generation_config.json parses
with settings of sane types, and the token ids generate reads are ids (the ones that index the embeddings
inside the vocabulary), with a first decoder token for an encoder-decoder. Settings are read as generate
reads them: generation_config.json first, then config.json."""

from __future__ import annotations

import math
from typing import Any

from autocli.compat.facts import GENERATION_CONFIG, Facts
from autocli.config import Config

# setting -> (type, test of a sane value, what the test asks); None: any value of the type.
SETTINGS = {
    "do_sample": (bool, None, ""),
    "temperature": (float, lambda v: v >= 0, "at least 0"),
    "top_k": (int, lambda v: v >= 0, "at least 0"),
    "top_p": (float, lambda v: 0 < v <= 1, "in (0, 1]"),
    "min_p": (float, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "repetition_penalty": (float, lambda v: v > 0, "positive"),
    "max_new_tokens": (int, lambda v: v >= 1, "at least 1"),
    "max_length": (int, lambda v: v >= 1, "at least 1"),
}
SEQ2SEQ_SETTINGS = {
    "num_beams": (int, lambda v: v >= 1, "at least 1"),
    "num_return_sequences": (int, lambda v: v >= 1, "at least 1"),
    "no_repeat_ngram_size": (int, lambda v: v >= 0, "at least 0"),
    "min_length": (int, lambda v: v >= 0, "at least 0"),
    "length_penalty": (float, None, ""),
}
TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number"}
# Ids that index the embeddings or the logits: outside the vocabulary, generate refuses to start.
INDEXING_IDS = ("pad_token_id", "decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id")


def _typed(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _settings(gen: dict, table: dict) -> list[str]:
    out = []
    for name, (kind, sane, words) in table.items():
        value = gen.get(name)
        if value is None:
            continue
        if not _typed(value, kind):
            out.append(f"{GENERATION_CONFIG}: {name} is {value!r}, not {TYPE_WORDS[kind]}")
        elif sane is not None and not sane(value):
            out.append(f"{GENERATION_CONFIG}: {name} is {value!r}, not {words}")
    return out


def _first(name: str, gen: dict, config: dict) -> tuple[Any, str] | None:
    for source, raw in ((GENERATION_CONFIG, gen), ("config.json", config)):
        if raw.get(name) is not None:
            return raw[name], source
    return None


def _ids(value: Any) -> list | None:
    """The ids in a setting (one id or a list), or None when one is not a non-negative integer."""
    values = value if isinstance(value, list) else [value]
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
    return values if ok else None


def _token_ids(gen: dict, config: dict, vocab: int | None, seq2seq: bool) -> list[str]:
    out = []
    names = ["eos_token_id", "pad_token_id"] + (["forced_bos_token_id", "forced_eos_token_id"] if seq2seq else [])
    found = {n: _first(n, gen, config) for n in names}
    if seq2seq:
        start = _first("decoder_start_token_id", gen, config) or _first("bos_token_id", gen, config)
        if start is None:
            out.append("neither decoder_start_token_id nor bos_token_id is set: the decoder has no first token")
        found["decoder_start_token_id"] = start
    for name, hit in found.items():
        if hit is None:
            continue
        value, source = hit
        ids = _ids(value)
        if ids is None:
            # generate skips an unusable pad id (it falls back to EOS); every other id must be one
            if name != "pad_token_id":
                out.append(f"{source}: {name} {value!r} is not a token id (a non-negative integer)")
            continue
        if name in INDEXING_IDS and vocab is not None and any(i >= vocab for i in ids):
            out.append(f"{source}: {name} {value!r} is outside the model's {vocab:,}-token vocabulary")
    return out


def generation_problems(cfg: Config, facts: Facts, seq2seq: bool) -> list[str]:
    """Why generate would refuse to start on this checkpoint (empty: it would start)."""
    if facts.generation_error:
        return [facts.generation_error]
    gen = facts.generation_config if facts.generation_config is not None else {}
    if not isinstance(gen, dict):
        return [f"{GENERATION_CONFIG} is a JSON {type(gen).__name__}, not an object"]
    vocab = cfg.get("vocab_size")
    vocab = vocab if isinstance(vocab, int) and not isinstance(vocab, bool) else None
    problems = _settings(gen, {**SETTINGS, **(SEQ2SEQ_SETTINGS if seq2seq else {})})
    return problems + _token_ids(gen, cfg.raw, vocab, seq2seq)
