"""SentencePiece `.model` files -> a `tokenizers.Tokenizer`, without the sentencepiece package.

A `.model` file is a serialized protobuf ModelProto. The few fields a conversion needs (the pieces with
their scores and types, a little of TrainerSpec and NormalizerSpec) are read here by a small wire-format
reader, so neither `sentencepiece` nor `protobuf` is a runtime dependency.

The tokenizer built from it is the one transformers 5 builds when it loads the same folder (its
tokenizer class reads the pieces and then sets its own normalizer, pre-tokenizer and post-processor);
one builder per tokenizer class, chosen by tokenizer_config's `tokenizer_class`, else config.json's
`model_type`, as AutoTokenizer chooses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autocli.config import MAX_TOKENIZER_BYTES, file_size, read_json
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.tokenizer.formats import flag

# SentencePiece.type values (sentencepiece_model.proto)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
METASPACE = "▁"


@dataclass
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass
class ModelProto:
    """The fields of sentencepiece's ModelProto a conversion reads, with the proto's defaults."""

    pieces: list[Piece] = field(default_factory=list)
    model_type: int = 1  # TrainerSpec.model_type: UNIGRAM
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    normalizer_name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True


# --- protobuf wire format ----------------------------------------------------------------------------
# Each field is a varint key (number << 3 | wire type) then its value: 0 varint, 1 eight bytes,
# 2 length-prefixed bytes, 5 four bytes. Unknown fields are skipped; anything malformed is refused.

class _Malformed(Exception):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise _Malformed("truncated varint")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise _Malformed("varint longer than 10 bytes")


def _fields(buf: bytes):
    """(field number, wire type, value) for each field of one message; value is an int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise _Malformed("truncated fixed-width field")
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise _Malformed(f"field {number} runs past the end of its message")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise _Malformed(f"wire type {wire} (groups are not used by sentencepiece)")
        yield number, wire, value


def _int32(value: int) -> int:
    value &= (1 << 64) - 1  # negative int32s are sent as 10-byte two's-complement varints
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value, what: str) -> str:
    if not isinstance(value, bytes):
        raise _Malformed(f"{what} is not a string")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"{what} is not UTF-8") from None


def _expect(wire: int, want: int, what: str) -> None:
    if wire != want:
        raise _Malformed(f"{what} has wire type {wire}, expected {want}")


def _piece(buf: bytes) -> Piece:
    p = Piece("")
    for number, wire, value in _fields(buf):
        if number == 1:
            _expect(wire, 2, "piece")
            p.piece = _text(value, "a piece")
        elif number == 2:
            _expect(wire, 5, "score")
            p.score = struct.unpack("<f", value)[0]
        elif number == 3:
            _expect(wire, 0, "type")
            p.type = _int32(value)
    return p


# field number -> (attribute, kind) of TrainerSpec and NormalizerSpec
TRAINER_FIELDS = {3: ("model_type", "int"), 35: ("byte_fallback", "bool"), 40: ("unk_id", "int"), 41: ("bos_id", "int"),
                  42: ("eos_id", "int"), 43: ("pad_id", "int"), 45: ("unk_piece", "str"), 46: ("bos_piece", "str"),
                  47: ("eos_piece", "str"), 48: ("pad_piece", "str")}
NORMALIZER_FIELDS = {1: ("normalizer_name", "str"), 2: ("precompiled_charsmap", "bytes"), 3: ("add_dummy_prefix", "bool"),
                     4: ("remove_extra_whitespaces", "bool"), 5: ("escape_whitespaces", "bool")}


def _spec(buf: bytes, table: dict, into: ModelProto) -> None:
    for number, wire, value in _fields(buf):
        if number not in table:
            continue
        name, kind = table[number]
        _expect(wire, 0 if kind in ("int", "bool") else 2, name)
        setattr(into, name, {"int": _int32, "bool": bool, "str": lambda v: _text(v, name), "bytes": bytes}[kind](value))


def parse_model(data: bytes) -> ModelProto:
    """ModelProto fields from a `.model` file's bytes; _Malformed for anything that is not one."""
    m = ModelProto()
    for number, wire, value in _fields(data):
        if number == 1:
            _expect(wire, 2, "pieces")
            m.pieces.append(_piece(value))
        elif number == 2:
            _expect(wire, 2, "trainer_spec")
            _spec(value, TRAINER_FIELDS, m)
        elif number == 3:
            _expect(wire, 2, "normalizer_spec")
            _spec(value, NORMALIZER_FIELDS, m)
    if not m.pieces:
        raise _Malformed("it holds no pieces")
    return m


def read_model(path: Path) -> ModelProto:
    name = Path(path).name
    file_size(path, name, MAX_TOKENIZER_BYTES, "a SentencePiece model")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InvalidCheckpoint(f"cannot read {name}: {e.strerror}", f"check {path}") from None
    try:
        return parse_model(data)
    except _Malformed as e:
        raise InvalidCheckpoint(f"{name} is not a valid SentencePiece model: {e}", "the file is corrupt or truncated; download it again") from None


# --- builders: one per transformers tokenizer class ----------------------------------------------------

def _deberta_v2(m: ModelProto, config: dict, special: dict):
    """transformers 5's DebertaV2Tokenizer: Unigram over the pieces (never byte fallback), its own
    normalizer (whitespace runs and control whitespace -> one space, NFC, right strip; the model's
    precompiled charsmap is not used), Metaspace, [CLS] A [SEP] (B [SEP])."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    roles = {"bos": "[CLS]", "eos": "[SEP]", "unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"}
    roles.update({r: t for r, t in special.items() if r in roles})
    vocab = [(p.piece, p.score) for p in m.pieces]
    unk = roles["unk"]
    # as its __init__: the unk token's index when it is a zero-score piece, else the model's unk_id
    unk_id = vocab.index((unk, 0.0)) if unk is not None and (unk, 0.0) in vocab else m.unk_id
    if not 0 <= unk_id < len(vocab):
        raise InvalidCheckpoint(f"the SentencePiece model's unk_id {unk_id} is outside its {len(vocab)} pieces", "the model file is corrupt")
    inner = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    steps = [normalizers.Lowercase()] if flag(config, "do_lower_case", False) else []
    inner.normalizer = normalizers.Sequence(steps + [
        normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(left=False, right=True)])
    scheme = "always" if flag(config, "add_prefix_space", True) else "first"
    pre = [pre_tokenizers.Punctuation(behavior="isolated")] if flag(config, "split_by_punct", False) else []
    inner.pre_tokenizer = pre_tokenizers.Sequence(pre + [pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme=scheme)])
    inner.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme=scheme)
    _add_specials(inner, m, roles)
    cls, sep = roles["cls"], roles["sep"]
    if cls is not None and sep is not None:
        ids = [(t, inner.token_to_id(t) or 0) for t in (cls, sep)]
        inner.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1", special_tokens=ids)
    return inner, roles


def _add_specials(inner, m: ModelProto, roles: dict) -> None:
    """As transformers' SentencePiece loading: control pieces become special added tokens, user-defined
    pieces plain added tokens (both matched before normalization), then the named special tokens, any
    missing from the pieces appended in role order (bos, eos, unk, sep, pad, cls, mask)."""
    from tokenizers import AddedToken

    inner.add_tokens([AddedToken(p.piece, normalized=False, special=p.type == CONTROL)
                      for p in m.pieces if p.type in (CONTROL, USER_DEFINED)])
    named = [t for t in dict.fromkeys(roles.values()) if t]
    inner.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in named])


# tokenizer class (without "Fast") or model_type -> builder
BUILDERS: dict[str, Callable] = {"DebertaV2Tokenizer": _deberta_v2, "deberta-v2": _deberta_v2}


def load_sentencepiece(path: Path, config: dict, special: dict, model_type: str | None):
    """(tokenizers.Tokenizer, role -> token) for a folder whose tokenizer is only a SentencePiece model.

    config: tokenizer_config.json; special: the roles it names (they override the class's defaults).
    """
    cls = config.get("tokenizer_class")
    key = cls.removesuffix("Fast") if isinstance(cls, str) and cls else model_type
    builder = BUILDERS.get(key) if isinstance(key, str) else None
    if builder is None:
        what = f"tokenizer class {cls!r}" if isinstance(cls, str) and cls else f"model_type {model_type!r}"
        raise Unsupported(
            f"autocli cannot convert a SentencePiece model ({Path(path).name}) for {what} without tokenizer.json",
            "converted here: DeBERTa-v2/v3 (DebertaV2Tokenizer); for others save the tokenizer with transformers to get a tokenizer.json",
        )
    m = read_model(path)
    try:
        return builder(m, config, special)
    except BaseException as e:  # a Rust panic from `tokenizers` arrives as a BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit, InvalidCheckpoint, Unsupported)):
            raise
        raise InvalidCheckpoint(f"{Path(path).name} cannot be turned into a tokenizer: {str(e).strip()[:300]}", "the model file is corrupt or unusual") from None


def model_type_of(get) -> str | None:
    """config.json's model_type beside the tokenizer, when there is one (AutoTokenizer's fallback)."""
    path = get("config.json")
    if path is None:
        return None
    try:
        raw = read_json(path, "config.json")
    except InvalidCheckpoint:
        return None
    value = raw.get("model_type") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None
