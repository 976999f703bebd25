"""Building a `tokenizers.Tokenizer` from each vocabulary format: tokenizer.json as written, a BERT
WordPiece vocab.txt, a byte-level BPE vocab.json + merges.txt (with the post-processor of the legacy
transformers class it stands for). SentencePiece models are converted in spm.py."""

from __future__ import annotations

import json
from pathlib import Path

from autocli.config import MAX_TOKENIZER_BYTES, read_json
from autocli.errors import InvalidCheckpoint
from autocli.tokenizer.files import MERGES_TXT, TOKENIZER_JSON, VOCAB_JSON, VOCAB_TXT, check_size

# Default special tokens of the legacy tokenizer classes (what transformers uses when the config names none).
LEGACY_DEFAULTS: dict[str, dict[str, str]] = {
    "wordpiece": {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"},
    "roberta": {"bos": "<s>", "eos": "</s>", "sep": "</s>", "cls": "<s>", "unk": "<unk>", "pad": "<pad>", "mask": "<mask>"},
    "gpt2": {"unk": "<|endoftext|>", "bos": "<|endoftext|>", "eos": "<|endoftext|>"},
}
# tokenizer_class prefixes that fix the legacy byte-level BPE style.
BPE_CLASS_STYLE = {"Roberta": "roberta", "Bart": "roberta", "Longformer": "roberta", "LED": "roberta", "Mvp": "roberta",
                   "GPT2": "gpt2", "GPTNeoX": "gpt2", "CodeGen": "gpt2", "Bloom": "gpt2"}


def _tokenizers_error(what: str, e: BaseException, path: Path | None) -> InvalidCheckpoint:
    import tokenizers

    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return InvalidCheckpoint(
        f"{what} is not a valid tokenizer: {msg[:300]}",
        f"check {path}; it may be corrupt, or written by a newer `tokenizers` than {tokenizers.__version__}",
    )


def from_tokenizer_json(path: Path):
    from tokenizers import Tokenizer as Inner

    if check_size(path, TOKENIZER_JSON) == 0:
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


def legacy_wordpiece(path: Path, config: dict, special: dict):
    from tokenizers import Tokenizer as Inner
    from tokenizers import decoders, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    if check_size(path, VOCAB_TXT) == 0:
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
        handle_chinese_chars=flag(config, "tokenize_chinese_chars", True),
        strip_accents=strip if isinstance(strip, bool) else None,
        lowercase=flag(config, "do_lower_case", True),
    )
    inner.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    inner.decoder = decoders.WordPiece(prefix="##")
    return inner


def legacy_bpe(vocab_path: Path, merges_path: Path, config: dict):
    from tokenizers import Tokenizer as Inner
    from tokenizers import decoders, pre_tokenizers
    from tokenizers.models import BPE

    check_size(vocab_path, VOCAB_JSON)
    check_size(merges_path, MERGES_TXT)
    try:
        vocab, merges = BPE.read_file(str(vocab_path), str(merges_path))
        model = BPE(vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise _tokenizers_error(f"{VOCAB_JSON} + {MERGES_TXT}", e, vocab_path) from None
    inner = Inner(model)
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=flag(config, "add_prefix_space", False))
    inner.decoder = decoders.ByteLevel()
    return inner


def bpe_style(config: dict, special: dict, vocab_path: Path) -> str:
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


def legacy_post_processor(inner, style: str, config: dict, special: dict) -> None:
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
            trim_offsets=flag(config, "trim_offsets", True), add_prefix_space=flag(config, "add_prefix_space", False),
        )
    else:
        # GPT-2: transformers' template from add_bos_token / add_eos_token (both off by default)
        bos = special.get("bos") if flag(config, "add_bos_token", False) else None
        eos = special.get("eos") if flag(config, "add_eos_token", False) else None
        single = " ".join(x for x in (bos and f"{bos}:0", "$A:0", eos and f"{eos}:0") if x)
        pair = single + " " + " ".join(x for x in (bos and f"{bos}:1", "$B:1", eos and f"{eos}:1") if x)
        toks = [(t, inner.token_to_id(t)) for t in dict.fromkeys(x for x in (bos, eos) if x)]
        inner.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=toks)


def _or(value, default):
    return default if value is None else value


def flag(config: dict, key: str, default: bool) -> bool:
    value = config.get(key, default)
    return value if isinstance(value, bool) else default
