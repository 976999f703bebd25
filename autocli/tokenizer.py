"""Tokenizers without transformers: tokenizer.json, vocab.txt, vocab.json+merges.txt; special tokens; chat templates.

The `tokenizers` library does the work. This module rebuilds what transformers' AutoTokenizer builds
from the same files, so ids match it:
- tokenizer.json is used as written; tokenizer_config.json's `added_tokens_decoder` and named special
  tokens are added on top (transformers does the same, which can change a token's lstrip/rstrip).
- vocab.txt alone is a BERT WordPiece tokenizer (do_lower_case, strip_accents, tokenize_chinese_chars).
- vocab.json + merges.txt is byte-level BPE: RoBERTa-style (<s> A </s></s> B </s>) when its special tokens
  are <s>/</s>, GPT-2-style (nothing added unless add_bos_token/add_eos_token) otherwise.
Padding and truncation baked into tokenizer.json are switched off: callers ask for them per call.
No torch here; jinja2 is imported only to render a chat template.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autocli.config import MAX_CONFIG_BYTES, MAX_TOKENIZER_BYTES, read_json
from autocli.errors import InvalidCheckpoint, NotReachable, Unsupported, UsageError

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
# SentencePiece models: used only without tokenizer.json, converted by autocli/spm.py where it has a builder.
SENTENCEPIECE_FILES = ("spm.model", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "sentencepiece.model")

# The files that hold a vocabulary: a checkpoint has a tokenizer when it has one of them (compat, inspect).
VOCAB_FILES = (TOKENIZER_JSON, VOCAB_TXT, VOCAB_JSON, *SENTENCEPIECE_FILES)
READS_HINT = ("autocli reads tokenizer.json, or vocab.txt (WordPiece), or vocab.json + merges.txt (byte-level BPE), "
              "or a SentencePiece model (DeBERTa-v2), plus tokenizer_config.json")

ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")

# A length at or above this is "no limit": transformers writes int(1e30) as model_max_length when none is known.
NO_LIMIT = 10**12

# Default special tokens of the legacy tokenizer classes (what transformers uses when the config names none).
LEGACY_DEFAULTS: dict[str, dict[str, str]] = {
    "wordpiece": {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"},
    "roberta": {"bos": "<s>", "eos": "</s>", "sep": "</s>", "cls": "<s>", "unk": "<unk>", "pad": "<pad>", "mask": "<mask>"},
    "gpt2": {"unk": "<|endoftext|>", "bos": "<|endoftext|>", "eos": "<|endoftext|>"},
}
# tokenizer_class prefixes that fix the legacy byte-level BPE style.
BPE_CLASS_STYLE = {"Roberta": "roberta", "Bart": "roberta", "Longformer": "roberta", "LED": "roberta", "Mvp": "roberta",
                   "GPT2": "gpt2", "GPTNeoX": "gpt2", "CodeGen": "gpt2", "Bloom": "gpt2"}
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


@dataclass
class Encoded:
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]  # char spans into each input's own text; (0, 0) for added special tokens
    type_ids: list[int]
    special_tokens_mask: list[int]
    attention_mask: list[int]
    word_ids: list[int | None]
    sequence_ids: list[int | None]
    truncated: bool = False
    _overflow: list = field(default_factory=list, repr=False)  # tokenizers' encodings until first asked for

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def overflowing(self) -> list["Encoded"]:
        """The windows truncation cut off (overlapping by `stride` tokens); converted on first use, since a
        long text cut into short windows makes many of them and most callers only need `truncated`."""
        if self._overflow and not isinstance(self._overflow[0], Encoded):
            self._overflow = [_encoded(o, with_overflow=False) for o in self._overflow]
        return self._overflow


def _encoded(enc, with_overflow: bool = True) -> Encoded:
    over = enc.overflowing if with_overflow else []
    return Encoded(
        ids=list(enc.ids),
        tokens=list(enc.tokens),
        offsets=[tuple(o) for o in enc.offsets],
        type_ids=list(enc.type_ids),
        special_tokens_mask=list(enc.special_tokens_mask),
        attention_mask=list(enc.attention_mask),
        word_ids=list(enc.word_ids),
        sequence_ids=list(enc.sequence_ids),
        truncated=bool(over),
        _overflow=over,
    )


class Tokenizer:
    """A `tokenizers.Tokenizer` plus what tokenizer_config.json says about it."""

    def __init__(self, inner, kind: str, special: dict[str, str], config: dict, source: str,
                 chat_template: str | dict | None = None, extra_special: list[str] | None = None):
        self.inner = inner
        self.kind = kind
        self.special = special
        self.extra_special = list(extra_special or [])
        self.config = config
        self.source = source
        self.chat_template = chat_template
        self.model_max_length = _max_length(config.get("model_max_length"))
        self.padding_side = _side(config, "padding_side")
        self.truncation_side = _side(config, "truncation_side")
        self.clean_up_spaces = config.get("clean_up_tokenization_spaces") is True
        self._truncation: tuple | None = None

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind}, vocab_size={self.vocab_size}, source={self.source})"

    # --- vocabulary ---
    @property
    def vocab_size(self) -> int:
        return self.inner.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, tok: str) -> int | None:
        return self.inner.token_to_id(tok)

    def id_to_token(self, i: int) -> str | None:
        return self.inner.id_to_token(i) if isinstance(i, int) and 0 <= i < 2**32 else None

    def _role_id(self, role: str) -> int | None:
        tok = self.special.get(role)
        return None if tok is None else self.inner.token_to_id(tok)

    pad_id = property(lambda self: self._role_id("pad"))
    mask_id = property(lambda self: self._role_id("mask"))
    cls_id = property(lambda self: self._role_id("cls"))
    sep_id = property(lambda self: self._role_id("sep"))
    bos_id = property(lambda self: self._role_id("bos"))
    eos_id = property(lambda self: self._role_id("eos"))
    unk_id = property(lambda self: self._role_id("unk"))

    @property
    def subword_prefix(self) -> str | None:
        """What marks a word piece that continues a word ("##" for WordPiece); None when pieces are unmarked."""
        return getattr(self.inner.model, "continuing_subword_prefix", None) or None

    def join_tokens(self, tokens: list[str]) -> str:
        """Tokens -> text with the tokenizer's own decoder (word pieces glued, byte-level spaces restored)."""
        decoder = self.inner.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def num_special_tokens(self, pair: bool = False) -> int:
        pp = self.inner.post_processor
        return pp.num_special_tokens_to_add(pair) if pp is not None else 0

    # --- encoding ---
    def _set_truncation(self, max_length: int | None, stride: int, pair: bool, add_special_tokens: bool) -> None:
        if max_length is not None:
            if max_length < 1:
                raise UsageError(f"max length {max_length} must be at least 1")
            n = self.num_special_tokens(pair) if add_special_tokens else 0
            # tokenizers silently skips truncation that cannot fit the special tokens; refuse instead
            if max_length < n:
                what = "a pair" if pair else "one text"
                raise UsageError(f"max length {max_length} is shorter than the {n} special tokens this tokenizer adds to {what}",
                                 f"use --max-length {n + 1} or more, or --no-special-tokens")
            if stride and stride >= max_length - n:
                raise UsageError(f"stride {stride} must be smaller than max length {max_length} minus {n} special tokens")
        want = None if max_length is None else (max_length, stride, self.truncation_side)
        if want == self._truncation:
            return
        if want is None:
            self.inner.no_truncation()
        else:
            self.inner.enable_truncation(max_length, stride=stride, strategy="longest_first", direction=self.truncation_side)
        self._truncation = want

    def encode(self, text: str, pair: str | None = None, add_special_tokens: bool = True, max_length: int | None = None,
               truncation: bool = True, stride: int = 0) -> Encoded:
        """One text (or text pair) -> Encoded; with max_length, truncated longest-first like transformers."""
        self._set_truncation(max_length if truncation else None, stride, pair is not None, add_special_tokens)
        try:
            enc = self.inner.encode(text, pair, add_special_tokens=add_special_tokens)
        except Exception as e:  # tokenizers raises plain Exceptions for truncation it cannot do
            raise _encode_error(e, text, pair) from None
        return _encoded(enc)

    def encode_batch(self, texts: list[str], pairs: list[str] | None = None, add_special_tokens: bool = True,
                     max_length: int | None = None, stride: int = 0, truncation: bool = True) -> list[Encoded]:
        """Many texts (or pairs) at once; tokenizers spreads them over threads."""
        if pairs is not None and len(pairs) != len(texts):
            raise UsageError(f"{len(texts)} texts but {len(pairs)} pair texts")
        self._set_truncation(max_length if truncation else None, stride, pairs is not None, add_special_tokens)
        inputs = list(texts) if pairs is None else list(zip(texts, pairs))
        try:
            encs = self.inner.encode_batch(inputs, add_special_tokens=add_special_tokens)
        except Exception as e:
            raise _encode_error(e, *texts, *(pairs or [])) from None
        return [_encoded(e) for e in encs]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        n = self.vocab_size
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
                raise UsageError(f"token id {i!r} is out of range", f"ids go from 0 to {n - 1} for this tokenizer")
        text = self.inner.decode(list(ids), skip_special_tokens=skip_special_tokens)
        # transformers' clean-up was made for WordPiece and is skipped for BPE, where it corrupts text
        if self.clean_up_spaces and self.kind != "BPE":
            text = clean_up_tokenization(text)
        return text

    # --- chat ---
    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True, system: str | None = None,
                    template_name: str | None = None, **extra) -> str:
        """The chat template rendered like transformers' apply_chat_template(tokenize=False).

        system: a system message put first (replacing one the messages start with); extra: more template
        variables (tools=[...], documents=[...], enable_thinking=..., ...), over the special tokens' names.
        """
        template = self._pick_template(template_name, extra.get("tools"))
        messages = _check_messages(messages)
        if system is not None:
            if messages and messages[0].get("role") == "system":
                messages = messages[1:]
            messages = [{"role": "system", "content": system}] + messages
        context = {f"{role}_token": tok for role, tok in self.special.items()}
        context.update(extra)
        context.setdefault("tools", None)
        context.setdefault("documents", None)
        return render_template(template, messages=messages, add_generation_prompt=add_generation_prompt, **context)

    def _pick_template(self, name: str | None, tools) -> str:
        tpl = self.chat_template
        if tpl is None:
            raise Unsupported("this checkpoint has no chat template",
                              "chat needs tokenizer_config.json \"chat_template\" or chat_template.jinja; send a plain prompt instead")
        if isinstance(tpl, str):
            if name is not None and name != "default":
                raise UsageError(f"no chat template named {name!r}", "this checkpoint has one template: default")
            return tpl
        if name is None:
            name = "tool_use" if tools and "tool_use" in tpl else "default"
        if name not in tpl:
            raise UsageError(f"no chat template named {name!r}", f"templates: {', '.join(sorted(tpl))}")
        return tpl[name]


def _encode_error(e: Exception, *texts) -> UsageError:
    for t in texts:
        if isinstance(t, str):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:  # e.g. undecodable bytes in a command-line argument
                return UsageError("the text is not valid UTF-8", "pass UTF-8 text")
        elif t is not None:
            return UsageError(f"cannot tokenize a {type(t).__name__}; texts must be strings")
    return UsageError(f"cannot tokenize: {e}")


def clean_up_tokenization(text: str) -> str:
    """transformers' clean_up_tokenization: glue punctuation and English contractions back on."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def _max_length(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return int(value) if 0 < value < NO_LIMIT else None


def _side(config: dict, key: str) -> str:
    value = config.get(key, "right")
    return value if value in ("left", "right") else "right"


# --- loading -------------------------------------------------------------------------------------------

Getter = Callable[[str], "Path | None"]


def load_tokenizer(ckpt) -> Tokenizer:
    """The tokenizer of a resolved Checkpoint (or a plain folder path)."""
    if isinstance(ckpt, (str, os.PathLike)):
        return load_tokenizer_from_dir(ckpt)
    present = {str(f) for f in ckpt.files()}

    def get(name: str) -> Path | None:
        return ckpt.optional_path(name) if name in present else None

    templates = sorted(f for f in present if f.startswith(CHAT_TEMPLATE_DIR + "/") and f.endswith(".jinja"))
    return _load(get, present, templates)


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
    config = _read_object(get(TOKENIZER_CONFIG), TOKENIZER_CONFIG)
    # special_tokens_map.json counts only for configs without added_tokens_decoder (as in transformers)
    smap = {} if "added_tokens_decoder" in config else _read_object(get(SPECIAL_TOKENS_MAP), SPECIAL_TOKENS_MAP)
    special, extra, flags = _special_tokens(config, smap)

    style = None  # legacy files: which transformers class they stand for
    if TOKENIZER_JSON in present:
        inner = _from_tokenizer_json(get(TOKENIZER_JSON))
        source = TOKENIZER_JSON
    elif VOCAB_JSON in present and MERGES_TXT in present:
        style = _bpe_style(config, special, get(VOCAB_JSON))
        inner = _legacy_bpe(get(VOCAB_JSON), get(MERGES_TXT), config)
        source = f"{VOCAB_JSON} + {MERGES_TXT}"
    elif VOCAB_TXT in present:
        style = "wordpiece"
        inner = _legacy_wordpiece(get(VOCAB_TXT), config, {**LEGACY_DEFAULTS[style], **special})
        source = VOCAB_TXT
    elif VOCAB_JSON in present:
        raise InvalidCheckpoint("vocab.json has no merges.txt beside it", READS_HINT)
    elif spm := [f for f in SENTENCEPIECE_FILES if f in present]:
        from autocli.spm import load_sentencepiece, model_type_of  # converts what it knows, refuses the rest

        inner, special = load_sentencepiece(get(spm[0]), config, special, model_type_of(get))
        source = spm[0]
    else:
        raise InvalidCheckpoint("no tokenizer files in this checkpoint", READS_HINT)

    if style is not None:
        special = {**LEGACY_DEFAULTS[style], **special}
    special = {r: t for r, t in special.items() if t is not None}
    _add_tokens(inner, config, special, extra, flags, get)
    if style is not None:
        _legacy_post_processor(inner, style, config, special)
    else:
        for role, names in KNOWN_SPECIALS.items():
            special.setdefault(role, _known(inner, names))
        special = {r: t for r, t in special.items() if t is not None}
    inner.no_truncation()
    inner.no_padding()
    if config.get("split_special_tokens") is True:
        inner.encode_special_tokens = True
    kind = type(inner.model).__name__
    special = {r: special[r] for r in ROLES if r in special}
    return Tokenizer(inner, kind, special, config, source, _chat_template(get, config, extra_templates), extra)


def _check_size(path: Path, what: str) -> int:
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise InvalidCheckpoint(f"cannot read {what}: {e.strerror}", f"check {path}") from None
    if size > MAX_TOKENIZER_BYTES:
        raise InvalidCheckpoint(f"{what} is {size:,} bytes, over the {MAX_TOKENIZER_BYTES:,}-byte limit", "is this really a tokenizer file?")
    return size


def _read_object(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    obj = read_json(path, what, MAX_CONFIG_BYTES)
    if not isinstance(obj, dict):
        raise InvalidCheckpoint(f"{what} is a JSON {type(obj).__name__}, not an object", f"check {path}")
    return obj


def _tokenizers_error(what: str, e: BaseException, path: Path | None) -> InvalidCheckpoint:
    import tokenizers

    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return InvalidCheckpoint(
        f"{what} is not a valid tokenizer: {msg[:300]}",
        f"check {path}; it may be corrupt, or written by a newer `tokenizers` than {tokenizers.__version__}",
    )


def _from_tokenizer_json(path: Path):
    from tokenizers import Tokenizer as Inner

    if _check_size(path, TOKENIZER_JSON) == 0:
        raise InvalidCheckpoint("tokenizer.json is empty", f"the download may have failed; fetch {path.name} again")
    try:
        return Inner.from_file(str(path))
    except BaseException as e:  # a Rust panic arrives as a BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise _tokenizer_json_error(path, e) from None


JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}


def _tokenizer_json_error(path: Path, e: BaseException) -> InvalidCheckpoint:
    """Not JSON, JSON of the wrong shape (the file's fault), or a shape `tokenizers` refuses (maybe a newer format)."""
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as bad:
        where = f" (line {bad.lineno}, column {bad.colno})" if isinstance(bad, json.JSONDecodeError) else ""
        return InvalidCheckpoint(f"{TOKENIZER_JSON} is not a valid tokenizer: not valid JSON{where}", f"the file is corrupt; fetch {path.name} again")
    kinds = {"model": (dict,), "added_tokens": (list, type(None))}
    kinds.update({k: (dict, type(None)) for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder", "truncation", "padding")})
    if not isinstance(raw, dict):
        problem = f"the top level is a JSON {JSON_TYPES.get(type(raw))}, not an object"
    else:
        bad_key = next((k for k, ok in kinds.items() if (k in raw or k == "model") and not isinstance(raw.get(k), ok)), None)
        problem = bad_key and f'"{bad_key}" is {"missing" if bad_key not in raw else "a JSON " + JSON_TYPES.get(type(raw[bad_key]), "value")}'
    if problem:
        return InvalidCheckpoint(f"{TOKENIZER_JSON} is not a valid tokenizer: invalid tokenizer.json structure ({problem})",
                                 "the file is JSON but not a tokenizer; fetch it again, or re-save it with `tokenizers`")
    return _tokenizers_error(TOKENIZER_JSON, e, path)


def _legacy_wordpiece(path: Path, config: dict, special: dict):
    from tokenizers import Tokenizer as Inner
    from tokenizers import decoders, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    if _check_size(path, VOCAB_TXT) == 0:
        raise InvalidCheckpoint("vocab.txt is empty", f"check {path}")
    unk = special.get("unk") or "[UNK]"
    try:
        vocab = WordPiece.read_file(str(path))
        inner = Inner(WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise _tokenizers_error(VOCAB_TXT, e, path) from None
    if unk not in vocab:  # WordPiece needs it for every unknown word
        raise InvalidCheckpoint(f"vocab.txt has no unknown token {unk!r}", "set unk_token in tokenizer_config.json to a token of vocab.txt")
    strip = config.get("strip_accents")
    inner.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=_flag(config, "tokenize_chinese_chars", True),
        strip_accents=strip if isinstance(strip, bool) else None,
        lowercase=_flag(config, "do_lower_case", True),
    )
    inner.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    inner.decoder = decoders.WordPiece(prefix="##")
    return inner


def _legacy_bpe(vocab_path: Path, merges_path: Path, config: dict):
    from tokenizers import Tokenizer as Inner
    from tokenizers import decoders, pre_tokenizers
    from tokenizers.models import BPE

    _check_size(vocab_path, VOCAB_JSON)
    _check_size(merges_path, MERGES_TXT)
    try:
        vocab, merges = BPE.read_file(str(vocab_path), str(merges_path))
        model = BPE(vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise _tokenizers_error(f"{VOCAB_JSON} + {MERGES_TXT}", e, vocab_path) from None
    inner = Inner(model)
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=_flag(config, "add_prefix_space", False))
    inner.decoder = decoders.ByteLevel()
    return inner


def _bpe_style(config: dict, special: dict, vocab_path: Path) -> str:
    """RoBERTa-style when the tokenizer class or its special tokens say so, GPT-2-style otherwise."""
    cls = config.get("tokenizer_class")
    if isinstance(cls, str):
        for prefix, style in BPE_CLASS_STYLE.items():
            if cls.startswith(prefix):
                return style
    named = {special.get(r) for r in ("bos", "cls", "eos", "sep")} - {None}
    if named:
        return "roberta" if named <= {"<s>", "</s>"} else "gpt2"
    vocab = read_json(vocab_path, VOCAB_JSON, MAX_TOKENIZER_BYTES)
    return "roberta" if isinstance(vocab, dict) and "<s>" in vocab and "</s>" in vocab else "gpt2"


def _legacy_post_processor(inner, style: str, config: dict, special: dict) -> None:
    from tokenizers import processors

    def tid(role: str) -> int | None:
        tok = special.get(role)
        return None if tok is None else inner.token_to_id(tok)

    if style == "wordpiece":
        cls, sep = special.get("cls", "[CLS]"), special.get("sep", "[SEP]")
        inner.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, _or(tid("cls"), 2)), (sep, _or(tid("sep"), 3))],
        )
    elif style == "roberta" and tid("cls") is not None and tid("sep") is not None:
        inner.post_processor = processors.RobertaProcessing(
            (special["sep"], tid("sep")), (special["cls"], tid("cls")),
            trim_offsets=_flag(config, "trim_offsets", True), add_prefix_space=_flag(config, "add_prefix_space", False),
        )
    else:
        # GPT-2: transformers' template from add_bos_token / add_eos_token (both off by default)
        bos = special.get("bos") if _flag(config, "add_bos_token", False) else None
        eos = special.get("eos") if _flag(config, "add_eos_token", False) else None
        single = " ".join(x for x in (bos and f"{bos}:0", "$A:0", eos and f"{eos}:0") if x)
        pair = single + " " + " ".join(x for x in (bos and f"{bos}:1", "$B:1", eos and f"{eos}:1") if x)
        toks = [(t, inner.token_to_id(t)) for t in dict.fromkeys(x for x in (bos, eos) if x)]
        inner.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=toks)


def _or(value, default):
    return default if value is None else value


def _flag(config: dict, key: str, default: bool) -> bool:
    value = config.get(key, default)
    return value if isinstance(value, bool) else default


# --- special and added tokens ----------------------------------------------------------------------------


def _token_content(value) -> str | None:
    """A special token as tokenizer_config writes it: a string, or {"content": ...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _special_tokens(config: dict, smap: dict) -> tuple[dict, list[str], dict[str, dict]]:
    """Role -> token (None = explicitly none), the extra special tokens, and the flags of those written as
    {"content": ..., "lstrip": ...}, as transformers reads them."""
    sources = [config]
    if "added_tokens_decoder" not in config:
        sources.append(smap)  # legacy: special_tokens_map.json overrides tokenizer_config.json
    special: dict[str, str | None] = {}
    extra: list[str] = []
    flags: dict[str, dict] = {}

    def content(value) -> str | None:
        tok = _token_content(value)
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


def _add_tokens(inner, config: dict, special: dict, extra: list[str], flags: dict[str, dict], get: Getter) -> None:
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
        legacy = _read_object(path, ADDED_TOKENS)
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


def _known(inner, names: tuple[str, ...]) -> str | None:
    added = {t.content for t in inner.get_added_tokens_decoder().values() if t.special}
    return next((n for n in names if n in added), None)


# --- chat templates ----------------------------------------------------------------------------------------


def _read_text(path: Path, what: str) -> str:
    size = _check_size(path, what)
    if size > MAX_CONFIG_BYTES:
        raise InvalidCheckpoint(f"{what} is {size:,} bytes, over the {MAX_CONFIG_BYTES:,}-byte limit", "is this really a chat template?")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCheckpoint(f"{what} is not UTF-8 text", f"check {path}") from None


def _chat_template(get: Getter, config: dict, extra_templates: list[str]) -> str | dict | None:
    """chat_template.jinja (+ additional_chat_templates/) over tokenizer_config.json over chat_template.json."""
    templates: dict[str, str] = {}
    if (path := get(CHAT_TEMPLATE_JINJA)) is not None:
        templates["default"] = _read_text(path, CHAT_TEMPLATE_JINJA)
    for name in extra_templates:
        if (path := get(name)) is not None:
            templates[Path(name).name.removesuffix(".jinja")] = _read_text(path, name)
    if templates:
        return templates["default"] if list(templates) == ["default"] else templates
    value = config.get("chat_template")
    if value is None and (path := get(CHAT_TEMPLATE_JSON)) is not None:
        value = _read_object(path, CHAT_TEMPLATE_JSON).get("chat_template")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # [{"name": ..., "template": ...}, ...]
        try:
            return {t["name"]: t["template"] for t in value if isinstance(t["name"], str) and isinstance(t["template"], str)}
        except (TypeError, KeyError):
            pass
    raise InvalidCheckpoint("tokenizer_config.json: chat_template is neither a string nor a list of named templates",
                            "fix chat_template")


def _check_messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UsageError("a chat needs a non-empty list of messages", 'use [{"role": "user", "content": "..."}]')
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise UsageError(f"message {i} is not an object with a \"role\"", 'use {"role": "user", "content": "..."}')
        # transformers drops None-valued keys: templates handle a missing key better than a None.
        # The JSON round trip leaves the template only plain data to look at.
        try:
            out.append(json.loads(json.dumps({k: v for k, v in m.items() if v is not None})))
        except (TypeError, ValueError) as e:
            raise UsageError(f"message {i} is not plain JSON data: {e}") from None
    return out


@functools.lru_cache(maxsize=8)
def _compile(template: str):
    """The template in jinja2's immutable sandbox, with the globals transformers gives chat templates."""
    from datetime import datetime

    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        # {% generation %}...{% endgeneration %} marks assistant text for training masks: render it as is
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    class TemplateDict:
        # dict() and dict.fromkeys() for templates, without exposing the dict type itself
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class SafeNamespace(jinja2.utils.Namespace):
        # no underscore attributes: keeps templates away from Python internals
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                SafeNamespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            SafeNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"templates cannot set underscore attributes ({name!r})")

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # jinja's own tojson escapes HTML characters; chat templates expect plain JSON
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = SafeNamespace
    try:
        return env.from_string(template)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise InvalidCheckpoint(f"the chat template does not parse: {e.message} (line {e.lineno})", "fix the checkpoint's chat template") from None


def render_template(template: str, **context) -> str:
    """Render a chat template; a template that raises is a usage error carrying its message."""
    import jinja2

    compiled = _compile(template)
    try:
        return compiled.render(**context)
    except (jinja2.exceptions.SecurityError, OverflowError) as e:  # OverflowError: the sandbox's range() limit
        raise InvalidCheckpoint(f"the chat template tried something unsafe: {e}", "the sandbox refused it; do not trust this template") from None
    except jinja2.exceptions.TemplateError as e:
        raise UsageError(f"chat template: {e.message or e}", "the checkpoint's template refused these messages") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as e:
        raise UsageError(f"chat template failed: {type(e).__name__}: {e}", "check the messages' roles and fields") from None
