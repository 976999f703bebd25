"""What compat knows about one checkpoint (Facts, plain data), and how it reads them: config.json, the
tokenizer files, generation_config.json and the safetensors headers; never weight bytes, never torch."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from autocli.config import MAX_TOKENIZER_BYTES, read_json
from autocli.errors import AutocliError, InvalidCheckpoint

GENERATION_CONFIG = "generation_config.json"

Shapes = dict  # tensor name -> (shape tuple, dtype str)


@dataclass
class Facts:
    """What compat knows about one checkpoint: plain data, no I/O."""

    config: Any  # config.json as parsed JSON (validated by parse_config)
    files: list = field(default_factory=list)  # file names in the checkpoint
    shards: dict = field(default_factory=dict)  # safetensors file -> {tensor name: (shape, dtype)}
    index: dict | None = None  # the parsed *.safetensors.index.json
    index_name: str | None = None
    pickle_files: list = field(default_factory=list)
    tokenizer_config: Any = None  # tokenizer_config.json as parsed JSON
    tokenizer_vocab: int | None = None  # ids the tokenizer can emit (max id + 1)
    tokenizer_problem: str | None = None  # why a tokenizer file could not be counted
    tokenizer: str | None = None  # what the tokenizer loaded from, as the run commands load it (None: it did not)
    tokenizer_error: str | None = None  # why it did not load
    tokenizer_files: bool = False  # the tokenizer's source has a vocabulary file
    generation_config: Any = None  # generation_config.json as parsed JSON (None: absent)
    generation_error: str | None = None  # why generation_config.json could not be read
    weights_problem: str | None = None  # why the weights would be refused (an inconsistent index)
    preprocessor: Any = None  # preprocessor_config.json as parsed JSON (None: absent or unreadable)
    preprocessor_error: str | None = None  # why it could not be read

    def tensors(self) -> Shapes:
        out: Shapes = {}
        for tensors in self.shards.values():
            out.update(tensors)
        return out


# --- tokenizer facts (plain JSON/text: counting ids needs no library) ---


def _ids_bound(ids, what: str) -> int | None:
    best = None
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise InvalidCheckpoint(f"{what}: token id {i!r} is not a non-negative integer", "the tokenizer file looks corrupt")
        best = i if best is None or i > best else best
    return None if best is None else best + 1


def tokenizer_json_vocab(data: Any) -> int | None:
    """ids a tokenizer.json can emit: its model vocab plus added tokens (max id + 1)."""
    if not isinstance(data, dict):
        raise InvalidCheckpoint("tokenizer.json is not a JSON object", "re-download or re-save the tokenizer")
    model = data.get("model")
    if not isinstance(model, dict):
        raise InvalidCheckpoint("tokenizer.json has no model section", "re-download or re-save the tokenizer")
    vocab = model.get("vocab")
    if isinstance(vocab, dict):
        n = _ids_bound(vocab.values(), "tokenizer.json")
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the position
        n = len(vocab) or None
    elif vocab is None:
        n = None
    else:
        raise InvalidCheckpoint("tokenizer.json: model.vocab is neither a map nor a list", "re-download or re-save the tokenizer")
    added = data.get("added_tokens") or []
    if not isinstance(added, list) or not all(isinstance(t, dict) for t in added):
        raise InvalidCheckpoint("tokenizer.json: added_tokens is not a list of objects", "re-download or re-save the tokenizer")
    m = _ids_bound([t.get("id") for t in added], "tokenizer.json added_tokens")
    return max(x for x in (n, m, 0) if x is not None) or None


def vocab_txt_size(text: str) -> int:
    """WordPiece vocab.txt: one token per line, the id is the line number."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return len(lines)


def vocab_json_size(data: Any) -> int | None:
    if not isinstance(data, dict):
        raise InvalidCheckpoint("vocab.json is not a JSON object", "re-download the tokenizer files")
    return _ids_bound(data.values(), "vocab.json")


def added_tokens_bound(tokenizer_config: Any, added_tokens: Any = None) -> int | None:
    """Highest id + 1 among tokenizer_config's added_tokens_decoder and added_tokens.json."""
    ids = []
    decoder = tokenizer_config.get("added_tokens_decoder") if isinstance(tokenizer_config, dict) else None
    if isinstance(decoder, dict):
        for k in decoder:
            try:
                ids.append(int(k))
            except ValueError:
                raise InvalidCheckpoint(f"tokenizer_config.json: added_tokens_decoder key {k!r} is not an id", "re-save the tokenizer") from None
    if added_tokens is not None:
        if not isinstance(added_tokens, dict):
            raise InvalidCheckpoint("added_tokens.json is not a JSON object", "re-save the tokenizer")
        ids.extend(added_tokens.values())
    return _ids_bound(ids, "added tokens")


def _read_text(path, what: str, max_bytes: int) -> str:
    try:
        if os.path.getsize(path) > max_bytes:
            raise InvalidCheckpoint(f"{what} is over the {max_bytes:,}-byte limit", "is this really a vocabulary?")
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCheckpoint(f"{what} is not UTF-8 text", f"check {path}") from None
    except OSError as e:
        raise InvalidCheckpoint(f"cannot read {what}: {e.strerror}", f"check {path}") from None


def _count_tokenizer(ckpt, facts: Facts) -> None:
    try:
        facts.tokenizer_config = ckpt.json("tokenizer_config.json") if ckpt.has("tokenizer_config.json") else None
        vocab = None
        if ckpt.has("tokenizer.json"):
            vocab = tokenizer_json_vocab(read_json(ckpt.path("tokenizer.json"), "tokenizer.json", MAX_TOKENIZER_BYTES))
        elif ckpt.has("vocab.txt"):
            vocab = vocab_txt_size(_read_text(ckpt.path("vocab.txt"), "vocab.txt", MAX_TOKENIZER_BYTES))
        elif ckpt.has("vocab.json"):
            vocab = vocab_json_size(read_json(ckpt.path("vocab.json"), "vocab.json", MAX_TOKENIZER_BYTES))
        added = ckpt.json("added_tokens.json") if ckpt.has("added_tokens.json") else None
        bound = added_tokens_bound(facts.tokenizer_config, added)
        facts.tokenizer_vocab = max(v for v in (vocab, bound, 0) if v is not None) or None
    except InvalidCheckpoint as e:
        facts.tokenizer_problem = e.message


def _load_tokenizer(ckpt, facts: Facts, borrowed: bool) -> None:
    """Load the tokenizer exactly as the run commands do (the `tokenizers` library, no torch)."""
    from autocli.tokenizer import VOCAB_FILES, load_tokenizer

    facts.tokenizer_files = any(ckpt.has(f) for f in VOCAB_FILES)
    try:
        tok = load_tokenizer(ckpt)
        facts.tokenizer = f"{tok.source} of {ckpt.name}" if borrowed else tok.source
    except AutocliError as e:
        facts.tokenizer_error = e.message


def _generation(ckpt, facts: Facts) -> None:
    if not ckpt.has(GENERATION_CONFIG):
        return
    try:
        facts.generation_config = ckpt.json(GENERATION_CONFIG)
    except InvalidCheckpoint as e:
        facts.generation_error = e.message


def _headers(ckpt, facts: Facts) -> None:
    index = ckpt.weight_index()
    if index is not None:
        facts.index = index
        facts.index_name = next((f for f in facts.files if f.endswith(".safetensors.index.json")), "model.safetensors.index.json")
    try:
        headers = ckpt.headers()
    except InvalidCheckpoint as e:
        if index is None:
            raise
        # An index that disagrees with its shards: read the shards that exist, so that lint
        # can say exactly what is missing or misplaced; running it stays refused.
        facts.weights_problem = e.message
        named = sorted({f for f in index["weight_map"].values() if ckpt.has(f)})
        headers = {f: ckpt.header(f) for f in named}
    facts.shards = {f: {n: (t.shape, t.dtype) for n, t in h.tensors.items()} for f, h in headers.items()}


def _preprocessor(ckpt, facts: Facts) -> None:
    from autocli.preprocess import has_processor_settings, processor_settings

    if not has_processor_settings(ckpt):
        return
    try:
        facts.preprocessor = processor_settings(ckpt)
    except InvalidCheckpoint as e:
        facts.preprocessor_error = e.message


def gather(ckpt, tokenizer_ckpt=None) -> Facts:
    """Everything compat needs from a resolved checkpoint; tokenizer_ckpt lends its tokenizer (--tokenizer).
    Raises AutocliError when the checkpoint cannot be read."""
    facts = Facts(config=ckpt.config().raw, files=list(ckpt.files()))
    facts.pickle_files = list(ckpt.pickle_files())
    _headers(ckpt, facts)
    source = tokenizer_ckpt or ckpt
    _count_tokenizer(source, facts)
    _load_tokenizer(source, facts, borrowed=tokenizer_ckpt is not None)
    _generation(ckpt, facts)
    _preprocessor(ckpt, facts)
    return facts
