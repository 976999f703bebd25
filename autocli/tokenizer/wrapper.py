"""The Tokenizer: a `tokenizers.Tokenizer` plus what tokenizer_config.json says about it; encode and
decode as transformers' fast tokenizers do."""

from __future__ import annotations

from dataclasses import dataclass, field

from autocli.errors import Unsupported, UsageError
from autocli.tokenizer.chat import check_messages, render_template
from autocli.tokenizer.files import max_length_of


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
        self.model_max_length = max_length_of(config.get("model_max_length"))
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

    def encode_batch(self, texts: list, pairs: list[str] | None = None, add_special_tokens: bool = True,
                     max_length: int | None = None, stride: int = 0, truncation: bool = True,
                     words: bool = False) -> list[Encoded]:
        """Many texts (or pairs) at once; tokenizers spreads them over threads. words: each text is a list
        of words, already split (transformers' is_split_into_words)."""
        if pairs is not None and len(pairs) != len(texts):
            raise UsageError(f"{len(texts)} texts but {len(pairs)} pair texts")
        self._set_truncation(max_length if truncation else None, stride, pairs is not None, add_special_tokens)
        inputs = list(texts) if pairs is None else list(zip(texts, pairs))
        try:
            encs = self.inner.encode_batch(inputs, add_special_tokens=add_special_tokens, is_pretokenized=words)
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
        messages = check_messages(messages)
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


def _side(config: dict, key: str) -> str:
    value = config.get(key, "right")
    return value if value in ("left", "right") else "right"

