"""Tiny REAL tokenizers, trained with `tokenizers` and saved the way transformers saves them.

Plain functions write the files into a checkpoint folder and return the vocab size (added
tokens included), so tests/fx_models.py can put a tokenizer beside tiny random weights:

    write_wordpiece_tokenizer(folder, vocab_size=256)   BERT-like WordPiece (exact vocab size)
    write_bpe_tokenizer(folder)                          RoBERTa-like byte-level BPE (style="gpt2": GPT-2-like)
    write_unigram_tokenizer(folder)                      XLM-R-like Unigram with Metaspace (style="t5": T5-like)
    write_legacy_wordpiece(folder)                       vocab.txt + tokenizer_config.json only
    write_legacy_bpe(folder)                             vocab.json + merges.txt (+ tokenizer_config.json) only
    write_chat_template(folder, template, where=...)     tokenizer_config.json "chat_template" or chat_template.jinja

Session fixtures below build one folder per kind; `TOKENIZER_KINDS` names them for parametrized tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

# Enough variety for the trainers to learn subwords, accents, CJK and digits.
_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! Tokenizers split text into pieces, and models read the pieces.",
    "A café in Zürich serves crème brûlée and naïve jalapeño dishes.",
    "Le garçon a mangé une pomme; l'été est très chaud à Paris.",
    "Machine learning models need tokenization before embedding lookup.",
    "Numbers like 3.14, 2024 and 1,000,000 appear in text too.",
    "东京是日本的首都。北京是中国的首都。",
    "こんにちは世界、今日は良い天気です。",
    "Emoji such as 🙂 and 🚀 show up in chat messages.",
    "Don't stop believing; it's what we're doing, isn't it?",
    "unbelievable unbreakable unthinkable understanding undertaking",
    "running runner runs ran jumping jumped jumps playing played plays",
]
CORPUS = _SENTENCES * 20

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
GPT2_EOS = "<|endoftext|>"

CHATML_TEMPLATE = """{%- if tools %}
<|im_start|>system
You can call these tools:
{% for tool in tools %}
{{ tool | tojson }}
{% endfor %}
<|im_end|>
{% endif %}
{% for message in messages %}
    {% if message['role'] not in ['system', 'user', 'assistant'] %}
        {{ raise_exception('unknown role: ' + message['role']) }}
    {% endif %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}"""

# The Llama-2 chat template as published with meta-llama/Llama-2-7b-chat-hf.
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _added(content: str, lstrip: bool = False, special: bool = True, normalized: bool = False) -> dict:
    """One entry of tokenizer_config.json's added_tokens_decoder, as transformers writes it."""
    return {"content": content, "lstrip": lstrip, "normalized": normalized, "rstrip": False, "single_word": False, "special": special}


def _added_decoder(tok) -> dict:
    """added_tokens_decoder from the tokenizer's own added tokens (ids as strings)."""
    out = {}
    for i, t in sorted(tok.get_added_tokens_decoder().items()):
        out[str(i)] = {"content": t.content, "lstrip": t.lstrip, "normalized": t.normalized, "rstrip": t.rstrip,
                       "single_word": t.single_word, "special": t.special}
    return out


def _save(folder: Path, tok, config: dict, special_map: dict) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", {"added_tokens_decoder": _added_decoder(tok), **config})
    _write_json(folder / "special_tokens_map.json", special_map)
    return tok.get_vocab_size(with_added_tokens=True)


# --- WordPiece (BERT) -------------------------------------------------------------------------------


def _wordpiece_vocab(vocab_size: int, lowercase: bool) -> dict[str, int]:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=BERT_SPECIALS, show_progress=False))
    vocab = tok.get_vocab(with_added_tokens=False)
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is below the {len(vocab)} tokens the alphabet needs")
    # Pad to the exact size with BERT's [unusedN] tokens, so a model config can name the size.
    for i in range(vocab_size - len(vocab)):
        vocab[f"[unused{i}]"] = len(vocab)
    return vocab


def _bert_tokenizer(vocab: dict[str, int], lowercase: bool, strip_accents=None, chinese: bool = True):
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=chinese, strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BERT_SPECIALS])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def _write_vocab_txt(folder: Path, vocab: dict[str, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("".join(t + "\n" for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])), encoding="utf-8")


def write_wordpiece_tokenizer(folder, vocab_size: int = 256, do_lower_case: bool = True, model_max_length: int = 512) -> int:
    """A BERT-like WordPiece tokenizer (tokenizer.json + vocab.txt + configs) of exactly vocab_size tokens
    (at least 104: the corpus's characters and their ## forms; the rest is padded with [unusedN])."""
    folder = Path(folder)
    vocab = _wordpiece_vocab(vocab_size, do_lower_case)
    tok = _bert_tokenizer(vocab, do_lower_case)
    _write_vocab_txt(folder, vocab)
    specials = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]", "unk_token": "[UNK]"}
    config = {
        "clean_up_tokenization_spaces": True,
        "do_lower_case": do_lower_case,
        "model_max_length": model_max_length,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer",
        **specials,
    }
    return _save(folder, tok, config, specials)


def write_legacy_wordpiece(folder, vocab_size: int = 256, do_lower_case: bool = True, strip_accents=None) -> int:
    """An old BERT checkpoint's tokenizer: vocab.txt and a tokenizer_config.json with do_lower_case, nothing else."""
    folder = Path(folder)
    vocab = _wordpiece_vocab(vocab_size, do_lower_case)
    _write_vocab_txt(folder, vocab)
    config = {"do_lower_case": do_lower_case, "tokenizer_class": "BertTokenizer", "model_max_length": 512}
    if strip_accents is not None:
        config["strip_accents"] = strip_accents
    _write_json(folder / "tokenizer_config.json", config)
    return len(vocab)


# --- byte-level BPE (RoBERTa, GPT-2) ------------------------------------------------------------------


def _train_bpe(vocab_size: int, specials: list[str], add_prefix_space: bool):
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def write_bpe_tokenizer(folder, vocab_size: int = 400, style: str = "roberta", add_prefix_space: bool = False,
                        model_max_length: int = 512, extra_special: list[str] | None = None) -> int:
    """Byte-level BPE saved as tokenizer.json + configs (+ vocab.json/merges.txt as transformers also writes).

    style "roberta": <s> A </s></s> B </s> with RobertaProcessing, <mask> that strips the space on its left;
    style "gpt2": no specials added around the text, <|endoftext|> as bos/eos/unk.
    extra_special: more special added tokens (e.g. ChatML's <|im_start|>, <|im_end|>).
    """
    from tokenizers import AddedToken, processors

    folder = Path(folder)
    if style == "roberta":
        tok = _train_bpe(vocab_size, ROBERTA_SPECIALS, add_prefix_space)
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=True, add_prefix_space=add_prefix_space
        )
        specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
                    "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"}
        config = {"tokenizer_class": "RobertaTokenizer", "errors": "replace", "trim_offsets": True}
    elif style == "gpt2":
        tok = _train_bpe(vocab_size, [GPT2_EOS], add_prefix_space)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        specials = {"bos_token": GPT2_EOS, "eos_token": GPT2_EOS, "unk_token": GPT2_EOS}
        config = {"tokenizer_class": "GPT2Tokenizer", "errors": "replace"}
    else:
        raise ValueError(f"unknown BPE style {style!r}")
    if extra_special:
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in extra_special])
        config["additional_special_tokens"] = list(extra_special)
    config.update(add_prefix_space=add_prefix_space, clean_up_tokenization_spaces=False, model_max_length=model_max_length, **specials)
    folder.mkdir(parents=True, exist_ok=True)
    tok.model.save(str(folder))  # vocab.json + merges.txt, as transformers also writes them
    return _save(folder, tok, config, specials)


def write_legacy_bpe(folder, vocab_size: int = 400, style: str = "roberta", add_prefix_space: bool = False) -> int:
    """An old byte-level BPE checkpoint: vocab.json + merges.txt and a small tokenizer_config.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ROBERTA_SPECIALS if style == "roberta" else [GPT2_EOS]
    tok = _train_bpe(vocab_size, specials, add_prefix_space)
    tok.model.save(str(folder))
    config: dict = {"add_prefix_space": add_prefix_space, "model_max_length": 512}
    if style == "roberta":
        config["tokenizer_class"] = "RobertaTokenizer"
        # as transformers 4.x saved it: an AddedToken that strips the space on its left
        config["mask_token"] = {"__type": "AddedToken", **_added("<mask>", lstrip=True)}
        del config["mask_token"]["special"]
    else:
        config["tokenizer_class"] = "GPT2Tokenizer"
    _write_json(folder / "tokenizer_config.json", config)
    return tok.get_vocab_size(with_added_tokens=True)


# --- Unigram (XLM-R, T5) -----------------------------------------------------------------------------


def write_unigram_tokenizer(folder, vocab_size: int = 300, style: str = "xlm-roberta", extra_ids: int = 3,
                            model_max_length: int = 512) -> int:
    """A SentencePiece-like Unigram tokenizer (WhitespaceSplit + Metaspace), saved as tokenizer.json + configs.

    style "xlm-roberta": <s> A </s></s> B </s>, <mask> last; style "t5": A </s>, sentinels <extra_id_N>.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import Unigram

    folder = Path(folder)
    specials = ["<s>", "<pad>", "</s>", "<unk>"] if style == "xlm-roberta" else ["<pad>", "</s>", "<unk>"]
    tok = Tokenizer(Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)

    # The trained model plus the trailing tokens SentencePiece conversions put at the end of the vocab.
    state = json.loads(tok.to_str())
    pieces = state["model"]["vocab"]
    if style == "xlm-roberta":
        tail = ["<mask>"]
    elif style == "t5":
        tail = [f"<extra_id_{i}>" for i in reversed(range(extra_ids))]
    else:
        raise ValueError(f"unknown Unigram style {style!r}")
    pieces += [[t, 0.0] for t in tail]
    tok = Tokenizer(Unigram(vocab=[tuple(p) for p in pieces], unk_id=specials.index("<unk>"), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    ids = {t: tok.token_to_id(t) for t in specials + tail}
    if style == "xlm-roberta":
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])]
        )
        smap = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
                "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"}
        config = {"tokenizer_class": "XLMRobertaTokenizer", "add_prefix_space": True, **smap}
    else:
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tail])
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", ids["</s>"])]
        )
        smap = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "additional_special_tokens": tail}
        config = {"tokenizer_class": "T5Tokenizer", "extra_ids": extra_ids, **smap}
    config.update(clean_up_tokenization_spaces=False, model_max_length=model_max_length)
    return _save(folder, tok, config, smap)


# --- chat templates --------------------------------------------------------------------------------


def write_chat_template(folder, template: str, where: str = "config") -> None:
    """Store a chat template in tokenizer_config.json ("config") or as chat_template.jinja ("jinja")."""
    folder = Path(folder)
    if where == "jinja":
        (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
        return
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    config["chat_template"] = template
    _write_json(path, config)


# --- session fixtures ------------------------------------------------------------------------------


def _build(factory, name: str, fn, *args, **kw) -> Path:
    folder = factory.mktemp(name)
    fn(folder, *args, **kw)
    return folder


@pytest.fixture(scope="session")
def wordpiece_tokenizer_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_wordpiece", write_wordpiece_tokenizer)


@pytest.fixture(scope="session")
def bpe_tokenizer_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_bpe", write_bpe_tokenizer)


@pytest.fixture(scope="session")
def bpe_prefix_space_tokenizer_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_bpe_prefix", write_bpe_tokenizer, add_prefix_space=True)


@pytest.fixture(scope="session")
def gpt2_tokenizer_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_gpt2", write_bpe_tokenizer, style="gpt2")


@pytest.fixture(scope="session")
def unigram_tokenizer_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_unigram", write_unigram_tokenizer)


@pytest.fixture(scope="session")
def t5_tokenizer_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_t5", write_unigram_tokenizer, style="t5")


@pytest.fixture(scope="session")
def legacy_wordpiece_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_legacy_wp", write_legacy_wordpiece)


@pytest.fixture(scope="session")
def legacy_wordpiece_cased_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_legacy_wp_cased", write_legacy_wordpiece, do_lower_case=False)


@pytest.fixture(scope="session")
def legacy_roberta_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_legacy_roberta", write_legacy_bpe)


@pytest.fixture(scope="session")
def legacy_gpt2_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "tok_legacy_gpt2", write_legacy_bpe, style="gpt2", add_prefix_space=True)


@pytest.fixture(scope="session")
def chatml_tokenizer_dir(tmp_path_factory) -> Path:
    """GPT-2-like BPE with <|im_start|>/<|im_end|> and a ChatML template in chat_template.jinja."""
    folder = _build(tmp_path_factory, "tok_chatml", write_bpe_tokenizer, style="gpt2", extra_special=["<|im_start|>", "<|im_end|>"])
    write_chat_template(folder, CHATML_TEMPLATE, where="jinja")
    return folder


@pytest.fixture(scope="session")
def llama2_chat_tokenizer_dir(tmp_path_factory, unigram_tokenizer_dir) -> Path:
    """The Unigram tokenizer (<s>, </s>) with the Llama-2 chat template in tokenizer_config.json."""
    folder = tmp_path_factory.mktemp("tok_llama2_chat")
    shutil.copytree(unigram_tokenizer_dir, folder, dirs_exist_ok=True)
    write_chat_template(folder, LLAMA2_TEMPLATE, where="config")
    return folder


# Fixture names of every tokenizer kind, for parametrized tests (request.getfixturevalue(name)).
TOKENIZER_KINDS = [
    "wordpiece_tokenizer_dir",
    "bpe_tokenizer_dir",
    "bpe_prefix_space_tokenizer_dir",
    "gpt2_tokenizer_dir",
    "unigram_tokenizer_dir",
    "t5_tokenizer_dir",
    "legacy_wordpiece_dir",
    "legacy_wordpiece_cased_dir",
    "legacy_roberta_dir",
    "legacy_gpt2_dir",
    "chatml_tokenizer_dir",
    "minilm_dir",
]
