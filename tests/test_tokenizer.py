"""autocli.tokenizer against transformers' AutoTokenizer (the oracle) on the same folders."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from autocli import tokenizer as tk
from autocli.errors import InvalidCheckpoint, NotReachable, Unsupported, UsageError
from autocli.tokenizer import load_tokenizer, load_tokenizer_from_dir
from tests import fx_tokenizers as fx

TEXTS = [
    "Hello world!",
    "  extra   spaces   everywhere  ",
    "café crème brûlée, naïve jalapeño",
    "ÀÉÎÕÜ Ångström Ødegaard",
    "東京は日本の首都です。北京",
    "emoji 🙂🚀 and 👩‍👩‍👧 family",
    "",
    " ",
    "Don't stop: it's 3.14, isn't it?",
    "The [MASK] is <mask> and <s> too </s>",
    "tab\tnewline\nreturn\r end",
    "a\u0301 combining and \u00a0nbsp\u200bzero-width",
    "supercalifragilisticexpialidocious " * 12,
]
PAIRS = [
    ("Where is the café?", "The café is in Zürich, next to the station 🚉."),
    ("東京", "  spaced   out  "),
    ("", "only the second text"),
]
MAX_LENGTHS = (4, 7, 16)


@pytest.fixture(scope="module")
def oracle():
    """transformers' AutoTokenizer per folder, loaded once."""
    import transformers

    transformers.logging.set_verbosity_error()
    cache: dict[Path, object] = {}

    def get(folder: Path):
        if folder not in cache:
            cache[folder] = transformers.AutoTokenizer.from_pretrained(str(folder))
        return cache[folder]

    return get


@pytest.fixture(params=fx.TOKENIZER_KINDS)
def kind_dir(request) -> Path:
    return request.getfixturevalue(request.param)


# ---- parity with transformers ------------------------------------------------------------------------


def test_ids_match_transformers(kind_dir, oracle):
    ours, ref = load_tokenizer_from_dir(kind_dir), oracle(kind_dir)
    assert ref.is_fast
    for text in TEXTS:
        assert ours.encode(text).ids == ref(text)["input_ids"], text
        assert ours.encode(text, add_special_tokens=False).ids == ref(text, add_special_tokens=False)["input_ids"], text
        for n in MAX_LENGTHS:
            got = ours.encode(text, max_length=n)
            assert got.ids == ref(text, max_length=n, truncation=True)["input_ids"], (text, n)
            assert len(got.ids) <= n


def test_pairs_match_transformers(kind_dir, oracle):
    ours, ref = load_tokenizer_from_dir(kind_dir), oracle(kind_dir)
    for a, b in PAIRS:
        want = ref(a, b, return_token_type_ids=True)
        got = ours.encode(a, b)
        assert got.ids == want["input_ids"], (a, b)
        assert got.type_ids == want["token_type_ids"], (a, b)
        for n in (8, 12):
            got = ours.encode(a, b, max_length=n)
            assert got.ids == ref(a, b, max_length=n, truncation="longest_first")["input_ids"], (a, b, n)


def test_offsets_match_transformers(kind_dir, oracle):
    ours, ref = load_tokenizer_from_dir(kind_dir), oracle(kind_dir)
    for text in TEXTS[:12]:
        want = [tuple(o) for o in ref(text, return_offsets_mapping=True)["offset_mapping"]]
        assert ours.encode(text).offsets == want, text
    a, b = PAIRS[0]
    assert ours.encode(a, b).offsets == [tuple(o) for o in ref(a, b, return_offsets_mapping=True)["offset_mapping"]]


def test_vocab_specials_and_limits_match_transformers(kind_dir, oracle):
    ours, ref = load_tokenizer_from_dir(kind_dir), oracle(kind_dir)
    assert ours.vocab_size == len(ref)
    want = ref.special_tokens_map
    assert {f"{role}_token": tok for role, tok in ours.special.items() if f"{role}_token" in want} == want
    for role in ("pad", "mask", "cls", "sep", "bos", "eos", "unk"):
        if f"{role}_token" in want:
            assert getattr(ours, f"{role}_id") == getattr(ref, f"{role}_token_id"), role
    assert ours.model_max_length == (ref.model_max_length if ref.model_max_length < 1e29 else None)
    for i in (0, 1, ours.vocab_size - 1):
        assert ours.id_to_token(i) == ref.convert_ids_to_tokens(i)
        assert ours.token_to_id(ours.id_to_token(i)) == i


def test_decode_matches_transformers(kind_dir, oracle):
    ours, ref = load_tokenizer_from_dir(kind_dir), oracle(kind_dir)
    for text in ("Hello world, it's a café 🙂 !", TEXTS[4], TEXTS[9]):
        ids = ref(text)["input_ids"]
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=True)
        assert ours.decode(ids, skip_special_tokens=False) == ref.decode(ids)


def test_batch_equals_single(kind_dir):
    tok = load_tokenizer_from_dir(kind_dir)
    texts = [t for t, _ in PAIRS]
    pairs = [p for _, p in PAIRS]
    assert [e.ids for e in tok.encode_batch(texts)] == [tok.encode(t).ids for t in texts]
    assert [e.ids for e in tok.encode_batch(texts, pairs, max_length=9)] == [tok.encode(t, p, max_length=9).ids for t, p in PAIRS]
    assert [e.ids for e in tok.encode_batch(texts, pairs, max_length=9, truncation=False)] == [tok.encode(t, p).ids for t, p in PAIRS]
    with pytest.raises(UsageError):
        tok.encode_batch(texts, pairs[:1])


# ---- legacy folders and config variants -----------------------------------------------------------------


def _parity(folder: Path, texts=TEXTS, pairs=PAIRS):
    import transformers

    transformers.logging.set_verbosity_error()
    ours, ref = load_tokenizer_from_dir(folder), transformers.AutoTokenizer.from_pretrained(str(folder))
    for text in texts:
        assert ours.encode(text).ids == ref(text)["input_ids"], text
    for a, b in pairs:
        assert ours.encode(a, b).ids == ref(a, b)["input_ids"], (a, b)
    assert ours.vocab_size == len(ref)
    return ours, ref


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("changes", [
    {"do_lower_case": True, "strip_accents": False},
    {"do_lower_case": False, "strip_accents": True},
    {"do_lower_case": True, "tokenize_chinese_chars": False},
    {"unk_token": "[PAD]"},
])
def test_legacy_vocab_txt_honours_config(tmp_path, changes):
    fx.write_legacy_wordpiece(tmp_path)
    _edit_config(tmp_path, **changes)
    ours, _ = _parity(tmp_path)
    assert ours.kind == "WordPiece" and ours.source == "vocab.txt"


def test_legacy_vocab_txt_lowercases_by_default(tmp_path):
    fx.write_legacy_wordpiece(tmp_path)
    _edit_config(tmp_path, do_lower_case=None)
    ours, _ = _parity(tmp_path)
    assert ours.encode("HELLO").ids == ours.encode("hello").ids


def test_legacy_cased_vocab_keeps_case(legacy_wordpiece_cased_dir, legacy_wordpiece_dir):
    cased, uncased = load_tokenizer_from_dir(legacy_wordpiece_cased_dir), load_tokenizer_from_dir(legacy_wordpiece_dir)
    assert uncased.encode("The Fox").tokens == uncased.encode("the fox").tokens
    assert cased.encode("The Fox").tokens != cased.encode("the fox").tokens


@pytest.mark.parametrize("style,changes", [
    ("roberta", {}),
    ("roberta", {"add_prefix_space": True}),
    ("gpt2", {"add_bos_token": True}),
    ("gpt2", {"add_bos_token": True, "add_eos_token": True}),
])
def test_legacy_bpe_styles(tmp_path, style, changes):
    fx.write_legacy_bpe(tmp_path, style=style)
    _edit_config(tmp_path, **changes)
    ours, ref = _parity(tmp_path)
    assert ours.kind == "BPE" and ours.source == "vocab.json + merges.txt"
    if style == "roberta":
        assert ours.encode("hi").ids[0] == ours.token_to_id("<s>") and ours.encode("hi").ids[-1] == ours.token_to_id("</s>")


@pytest.mark.parametrize("style,model_type", [("roberta", "roberta"), ("gpt2", "gpt2")])
def test_legacy_bpe_without_tokenizer_config(tmp_path, style, model_type):
    """No tokenizer_config.json: the style comes from the vocab (<s>/</s> or not); transformers from config.json."""
    fx.write_legacy_bpe(tmp_path, style=style)
    (tmp_path / "tokenizer_config.json").unlink()
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    ours, ref = _parity(tmp_path)
    assert ours.special.get("cls") == ("<s>" if style == "roberta" else None)


def test_special_tokens_map_alone_names_the_specials(tmp_path):
    """An old checkpoint: no added_tokens_decoder, so special_tokens_map.json decides (as in transformers)."""
    fx.write_wordpiece_tokenizer(tmp_path)
    _edit_config(tmp_path, added_tokens_decoder=None, mask_token=None, cls_token=None)
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"mask_token": "[MASK]", "cls_token": {"content": "[CLS]"}}))
    ours, ref = _parity(tmp_path)
    assert ours.special["mask"] == "[MASK]" and ours.special["cls"] == "[CLS]"


def test_added_tokens_from_config_are_added(tmp_path):
    """tokenizer_config.json may add tokens tokenizer.json lacks, or change their flags: transformers applies both."""
    fx.write_bpe_tokenizer(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["added_tokens_decoder"]["400"] = fx._added("<ent>", special=False, normalized=True)
    config["added_tokens_decoder"]["4"]["lstrip"] = False
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours, _ = _parity(tmp_path, texts=TEXTS + ["an <ent> here", "a <mask> there"])
    assert ours.token_to_id("<ent>") == 400


def test_bare_tokenizer_json_infers_well_known_specials(tmp_path, oracle):
    fx.write_wordpiece_tokenizer(tmp_path)
    for name in ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        (tmp_path / name).unlink()
    ours = load_tokenizer_from_dir(tmp_path)
    assert ours.special == {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"}
    assert ours.encode("hello world").ids == oracle(tmp_path)("hello world")["input_ids"]


def test_model_max_length_sentinel_is_none(tmp_path):
    fx.write_wordpiece_tokenizer(tmp_path)
    _edit_config(tmp_path, model_max_length=int(1e30))
    assert load_tokenizer_from_dir(tmp_path).model_max_length is None
    _edit_config(tmp_path, model_max_length=384, padding_side="left")
    tok = load_tokenizer_from_dir(tmp_path)
    assert tok.model_max_length == 384 and tok.padding_side == "left"


def test_baked_in_padding_and_truncation_are_off(minilm_dir):
    """MiniLM's tokenizer.json pads and truncates to 128; encode does neither unless asked."""
    tok = load_tokenizer_from_dir(minilm_dir)
    assert len(tok.encode("word " * 300).ids) == 302
    assert len(tok.encode("short").ids) == 3
    assert tok.inner.padding is None and tok.inner.truncation is None


def test_load_through_checkpoint(minilm_dir):
    from autocli.checkpoint import Checkpoint

    via_ckpt = load_tokenizer(Checkpoint.resolve(str(minilm_dir)))
    via_dir = load_tokenizer(minilm_dir)
    assert via_ckpt.encode("Hello there!").ids == via_dir.encode("Hello there!").ids == [101, 7592, 2045, 999, 102]
    assert via_ckpt.special == via_dir.special and via_ckpt.kind == "WordPiece"


# ---- encodings ---------------------------------------------------------------------------------------------


def test_offsets_index_the_original_text(kind_dir):
    tok = load_tokenizer_from_dir(kind_dir)
    for text in TEXTS:
        enc = tok.encode(text)
        for (s, e), seq, tid in zip(enc.offsets, enc.sequence_ids, enc.ids):
            assert 0 <= s <= e <= len(text)
            if seq is None:
                assert (s, e) == (0, 0)


def test_pair_offsets_index_their_own_text(wordpiece_tokenizer_dir):
    tok = load_tokenizer_from_dir(wordpiece_tokenizer_dir)
    a, b = "the fox", "jumps over"
    enc = tok.encode(a, b)
    spans = [(seq, a[s:e] if seq == 0 else b[s:e]) for (s, e), seq in zip(enc.offsets, enc.sequence_ids) if seq is not None]
    assert "".join(t for seq, t in spans if seq == 0) == "thefox"
    assert "".join(t for seq, t in spans if seq == 1) == "jumpsover"
    first_b = enc.sequence_ids.index(1)
    assert enc.type_ids == [0] * first_b + [1] * (len(enc.ids) - first_b)
    assert enc.special_tokens_mask[0] == 1 and enc.attention_mask == [1] * len(enc.ids)


def test_truncation_reports_and_keeps_specials(minilm_dir):
    tok = load_tokenizer_from_dir(minilm_dir)
    enc = tok.encode("one two three four five six", max_length=5)
    assert enc.truncated and len(enc.ids) == 5 and enc.ids[0] == tok.cls_id and enc.ids[-1] == tok.sep_id
    assert enc.overflowing and all(not o.overflowing for o in enc.overflowing)
    assert not tok.encode("one", max_length=5).truncated
    assert not tok.encode("one two three four five six", max_length=5, truncation=False).truncated
    # truncation state does not leak into the next call
    assert len(tok.encode("one two three four five six").ids) == 8


def test_stride_overlaps_windows(minilm_dir):
    tok = load_tokenizer_from_dir(minilm_dir)
    enc = tok.encode("one two three four five six seven", max_length=6, stride=2)
    first, second = enc.ids[1:-1], enc.overflowing[0].ids[1:-1]
    assert first[-2:] == second[:2]


def test_max_length_below_special_tokens_is_refused(minilm_dir):
    """tokenizers (and transformers) silently skip such truncation; autocli says so instead."""
    tok = load_tokenizer_from_dir(minilm_dir)
    with pytest.raises(UsageError, match="special tokens"):
        tok.encode("hello world", max_length=1)
    with pytest.raises(UsageError, match="special tokens"):
        tok.encode("a", "b", max_length=2)
    assert tok.encode("hello world", max_length=1, add_special_tokens=False).ids == [7592]
    with pytest.raises(UsageError, match="stride"):
        tok.encode("hello world", max_length=4, stride=2)


def test_non_text_inputs_are_usage_errors(minilm_dir):
    tok = load_tokenizer_from_dir(minilm_dir)
    with pytest.raises(UsageError, match="UTF-8"):
        tok.encode("ab\udcff")
    with pytest.raises(UsageError, match="strings"):
        tok.encode(5)
    with pytest.raises(UsageError, match="UTF-8"):
        tok.encode_batch(["ok", "\ud800"])


def test_decode_refuses_unknown_ids(minilm_dir):
    tok = load_tokenizer_from_dir(minilm_dir)
    for bad in ([tok.vocab_size], [-1], [True], ["7"]):
        with pytest.raises(UsageError, match="out of range"):
            tok.decode(bad)
    assert tok.decode([101, 7592, 102]) == "hello"


# ---- bad folders --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"{not json", "not a valid tokenizer"),
    (b"[1, 2]", "not a valid tokenizer"),
    (b'{"version": "1.0", "model": {"type": "Nope"}}', "not a valid tokenizer"),
    (b'{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}', "not a valid tokenizer"),
])
def test_invalid_tokenizer_json(tmp_path, content, match):
    (tmp_path / "tokenizer.json").write_bytes(content)
    with pytest.raises(InvalidCheckpoint, match=match) as info:
        load_tokenizer_from_dir(tmp_path)
    assert info.value.exit_code == 4 and info.value.hint


def test_no_tokenizer_files(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(InvalidCheckpoint, match="no tokenizer files") as info:
        load_tokenizer_from_dir(tmp_path)
    assert "tokenizer.json" in info.value.hint and "vocab.txt" in info.value.hint and "merges.txt" in info.value.hint


@pytest.mark.parametrize("name,config", [
    ("spm.model", None),
    ("sentencepiece.bpe.model", {"tokenizer_class": "AlbertTokenizer"}),
    ("tokenizer.model", {}),
])
def test_sentencepiece_only_without_a_converter_is_unsupported(tmp_path, name, config):
    """A SentencePiece model that no converter of autocli handles (DeBERTa-v2's is in autocli/tokenizer/spm.py)."""
    (tmp_path / name).write_bytes(b"\x0a\x05hello")
    if config is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(Unsupported, match=name) as info:
        load_tokenizer_from_dir(tmp_path)
    assert info.value.exit_code == 5 and info.value.hint


def test_vocab_json_without_merges(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 0}')
    with pytest.raises(InvalidCheckpoint, match="merges.txt"):
        load_tokenizer_from_dir(tmp_path)


@pytest.mark.parametrize("config", [b"[]", b"{bad", "\xff".encode("latin-1")])
def test_invalid_tokenizer_config(tmp_path, minilm_dir, config):
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path)
    (tmp_path / "tokenizer_config.json").write_bytes(config)
    with pytest.raises(InvalidCheckpoint, match="tokenizer_config.json"):
        load_tokenizer_from_dir(tmp_path)


def test_bad_added_tokens_decoder(tmp_path, minilm_dir):
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": {"x": {"content": "[X]"}}}))
    with pytest.raises(InvalidCheckpoint, match="not an integer"):
        load_tokenizer_from_dir(tmp_path)


def test_oversized_files_are_refused(tmp_path, minilm_dir, monkeypatch):
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path)
    from autocli.tokenizer import files

    monkeypatch.setattr(files, "MAX_TOKENIZER_BYTES", 1000)
    with pytest.raises(InvalidCheckpoint, match="limit"):
        load_tokenizer_from_dir(tmp_path)


def test_legacy_unk_token_must_be_in_vocab(tmp_path):
    fx.write_legacy_wordpiece(tmp_path)
    _edit_config(tmp_path, unk_token="[NOT-THERE]")
    with pytest.raises(InvalidCheckpoint, match="NOT-THERE"):
        load_tokenizer_from_dir(tmp_path)


def test_corrupt_legacy_files(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1}')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na c\n")
    with pytest.raises(InvalidCheckpoint, match="not a valid tokenizer"):
        load_tokenizer_from_dir(tmp_path)
    folder = tmp_path / "wp"
    folder.mkdir()
    (folder / "vocab.txt").write_bytes(b"")
    with pytest.raises(InvalidCheckpoint, match="empty"):
        load_tokenizer_from_dir(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(NotReachable):
        load_tokenizer_from_dir(tmp_path / "nope")


# ---- chat templates --------------------------------------------------------------------------------------------

CHAT = [
    {"role": "user", "content": "Hi there 🙂"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me a joke about <tokens> & \"quotes\"."},
]
TOOLS = [{"type": "function", "function": {"name": "now", "description": "The time <now> & \"then\"", "parameters": {}}}]


@pytest.mark.parametrize("folder", ["chatml_tokenizer_dir", "llama2_chat_tokenizer_dir"])
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_chat_rendering_matches_transformers(request, oracle, folder, generation_prompt):
    folder = request.getfixturevalue(folder)
    ours, ref = load_tokenizer_from_dir(folder), oracle(folder)
    system = "Be brief.\nAnswer in English."
    got = ours.render_chat(CHAT, add_generation_prompt=generation_prompt, system=system)
    want = ref.apply_chat_template([{"role": "system", "content": system}] + CHAT, tokenize=False,
                                   add_generation_prompt=generation_prompt)
    assert got == want
    assert ours.render_chat(CHAT, add_generation_prompt=generation_prompt) == ref.apply_chat_template(
        CHAT, tokenize=False, add_generation_prompt=generation_prompt)
    # the rendered text tokenizes like transformers' tokenize=True
    assert ours.encode(got, add_special_tokens=False).ids == ref.apply_chat_template(
        [{"role": "system", "content": system}] + CHAT, add_generation_prompt=generation_prompt, return_dict=False)


def test_chat_tools_use_plain_tojson(chatml_tokenizer_dir, oracle):
    ours, ref = load_tokenizer_from_dir(chatml_tokenizer_dir), oracle(chatml_tokenizer_dir)
    got = ours.render_chat(CHAT, tools=TOOLS)
    assert got == ref.apply_chat_template(CHAT, tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert '"The time <now> & \\"then\\""' in got


def test_chat_template_sources(chatml_tokenizer_dir, llama2_chat_tokenizer_dir, minilm_dir):
    assert load_tokenizer_from_dir(chatml_tokenizer_dir).chat_template == fx.CHATML_TEMPLATE  # chat_template.jinja
    assert load_tokenizer_from_dir(llama2_chat_tokenizer_dir).chat_template == fx.LLAMA2_TEMPLATE  # tokenizer_config
    assert load_tokenizer_from_dir(minilm_dir).chat_template is None


def test_several_named_templates(tmp_path, chatml_tokenizer_dir):
    shutil.copytree(chatml_tokenizer_dir, tmp_path, dirs_exist_ok=True)
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text("TOOLS {{ tools | length }}")
    tok = load_tokenizer_from_dir(tmp_path)
    assert set(tok.chat_template) == {"default", "tool_use"}
    assert tok.render_chat(CHAT, tools=TOOLS) == "TOOLS 1"
    assert tok.render_chat(CHAT).startswith("<|im_start|>user")
    with pytest.raises(UsageError, match="no chat template named"):
        tok.render_chat(CHAT, template_name="rag")


def test_list_of_named_templates_in_config(tmp_path, minilm_dir):
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": [{"name": "default", "template": "D{{ messages | length }}"}, {"name": "rag", "template": "R"}]}))
    tok = load_tokenizer_from_dir(tmp_path)
    assert tok.render_chat(CHAT) == "D3" and tok.render_chat(CHAT, template_name="rag") == "R"


def test_chat_without_template_is_unsupported(minilm_dir):
    with pytest.raises(Unsupported, match="no chat template") as info:
        load_tokenizer_from_dir(minilm_dir).render_chat(CHAT)
    assert info.value.hint


def test_template_exception_is_a_usage_error(llama2_chat_tokenizer_dir):
    tok = load_tokenizer_from_dir(llama2_chat_tokenizer_dir)
    with pytest.raises(UsageError, match="Conversation roles must alternate"):
        tok.render_chat([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


def _with_template(tmp_path, minilm_dir, template: str):
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path)
    (tmp_path / "chat_template.jinja").write_text(template)
    return load_tokenizer_from_dir(tmp_path)


def test_template_globals(tmp_path, minilm_dir):
    tok = _with_template(tmp_path, minilm_dir, "{{ strftime_now('%Y') }}|{{ bos_token }}|{{ cls_token }}|{{ custom }}"
                         "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.role }}{% endfor %}"
                         "{% set ns = namespace(n=0) %}{% set ns.n = 2 %}{{ ns.n }}{{ dict(a=1) | tojson }}"
                         "{% generation %}G{% endgeneration %}")
    year = str(datetime.now().year)
    assert tok.render_chat(CHAT, custom="X") in (f"{year}||[CLS]|Xuser2{{\"a\": 1}}G", f"{int(year) + 1}||[CLS]|Xuser2{{\"a\": 1}}G")


@pytest.mark.parametrize("template", [
    "{{ messages.append(1) }}",
    "{% set ns = namespace() %}{% set ns._x = 1 %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
])
def test_template_sandbox(tmp_path, minilm_dir, template):
    tok = _with_template(tmp_path, minilm_dir, template)
    with pytest.raises((InvalidCheckpoint, UsageError)):
        tok.render_chat(CHAT)


def test_template_syntax_error_is_invalid_checkpoint(tmp_path, minilm_dir):
    tok = _with_template(tmp_path, minilm_dir, "{% for m in messages %}")
    with pytest.raises(InvalidCheckpoint, match="does not parse"):
        tok.render_chat(CHAT)


@pytest.mark.parametrize("messages", [[], "hi", [{"content": "no role"}], ["hi"], [{"role": "user", "content": b"bytes"}]])
def test_bad_messages(chatml_tokenizer_dir, messages):
    with pytest.raises(UsageError):
        load_tokenizer_from_dir(chatml_tokenizer_dir).render_chat(messages)


def test_none_fields_are_dropped(chatml_tokenizer_dir):
    tok = load_tokenizer_from_dir(chatml_tokenizer_dir)
    assert tok.render_chat([{"role": "user", "content": "x", "tool_calls": None}]) == tok.render_chat([{"role": "user", "content": "x"}])
