"""SentencePiece-only tokenizer folders (spm.model, as microsoft/deberta-v3-* ship them).

autocli reads the .model protobuf itself; the `sentencepiece` package trains the test models and
parses them as the oracle for the reader, and transformers' tokenizer on the same folder is the oracle
for the ids.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import assert_one_line_error
from tests.fx_deberta import SPM_VARIANTS

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Héllo wörld, crème brûlée à Zürich; naïve façade.",
    "Ünïcödé: straße, Æsir, ﬁnal, ＡＢＣ full-width, ①②③ circled, e\u0301 combining.",
    "东京是日本的首都。こんにちは世界。한국어 문장.",
    "Emoji 😀🤗🚀 and 👍🏽 and 🇫🇷 flags.",
    "   leading, trailing and    inner   runs of spaces   ",
    "tabs\tnewlines\nand\r\ncarriage returns",
    "Special tokens inline: [CLS] x [SEP] y [MASK] z [UNK] [PAD] <usr> <ctl> [M]",
    "UPPER lower MiXeD 123 4,567.89 !?",
    "",
    " ",
]
PAIR = "Is this the second sequence?"


def _reference(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


@pytest.mark.parametrize("name", list(SPM_VARIANTS))
def test_ids_equal_transformers(spm_dirs, name):
    from autocli.tokenizer import load_tokenizer_from_dir

    folder = spm_dirs[name]
    ref = _reference(folder)
    ours = load_tokenizer_from_dir(folder)
    assert ours.source == "spm.model"
    assert ours.vocab_size == len(ref)
    for text in TEXTS:
        want = ref(text, return_offsets_mapping=True)
        got = ours.encode(text)
        assert got.ids == want["input_ids"], (text, ref.convert_ids_to_tokens(want["input_ids"]), got.tokens)
        assert got.offsets == [tuple(o) for o in want["offset_mapping"]], text
        want = ref(text, PAIR)
        got = ours.encode(text, PAIR)
        assert got.ids == want["input_ids"] and got.type_ids == want["token_type_ids"], text
    batch = ours.encode_batch(TEXTS)
    assert [e.ids for e in batch] == ref(TEXTS)["input_ids"]


@pytest.mark.parametrize("name", list(SPM_VARIANTS))
def test_special_tokens_and_decode(spm_dirs, name):
    from autocli.tokenizer import load_tokenizer_from_dir

    ref = _reference(spm_dirs[name])
    ours = load_tokenizer_from_dir(spm_dirs[name])
    for role in ("cls", "sep", "pad", "unk", "mask"):
        want = getattr(ref, f"{role}_token")
        assert ours.special.get(role) == want, role
        assert ours.token_to_id(want) == ref.convert_tokens_to_ids(want), role
    for text in TEXTS[:5]:
        ids = ref(text)["input_ids"]
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=True)


def test_reader_equals_the_protobuf(spm_dirs):
    """Every field autocli reads, against sentencepiece's own protobuf parse of the same file."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    from autocli.tokenizer.spm import read_model

    for folder in spm_dirs.values():
        path = folder / "spm.model"
        want = pb.ModelProto()
        want.ParseFromString(path.read_bytes())
        got = read_model(path)
        assert [(p.piece, p.score, p.type) for p in got.pieces] == [(p.piece, p.score, p.type) for p in want.pieces]
        t, n = want.trainer_spec, want.normalizer_spec
        for attr in ("model_type", "byte_fallback", "unk_id", "bos_id", "eos_id", "pad_id", "unk_piece", "bos_piece", "eos_piece", "pad_piece"):
            assert getattr(got, attr) == getattr(t, attr), attr
        assert got.precompiled_charsmap == n.precompiled_charsmap and got.normalizer_name == n.name
        assert (got.add_dummy_prefix, got.remove_extra_whitespaces, got.escape_whitespaces) == (
            n.add_dummy_prefix, n.remove_extra_whitespaces, n.escape_whitespaces)


def test_negative_ids_and_defaults():
    """pad_id -1 travels as a 10-byte varint; absent fields keep the proto's defaults."""
    from autocli.tokenizer.spm import parse_model

    piece = b"\x0a\x03\x0a\x01a"  # pieces { piece: "a" }
    trainer = b"\x12\x0c" + b"\xd8\x02" + b"\xff" * 9 + b"\x01"  # trainer_spec { pad_id: -1 } (field 43)
    m = parse_model(piece + trainer)
    assert m.pad_id == -1 and m.unk_id == 0 and m.bos_id == 1 and m.model_type == 1 and m.add_dummy_prefix
    assert [(p.piece, p.score, p.type) for p in m.pieces] == [("a", 0.0, 1)]


@pytest.mark.parametrize("data,match", [
    (b"", "no pieces"),
    (b"\x0a\x05hel", "past the end"),
    (b"\x0a\x03\x12\x01a", "wire type"),  # score as bytes
    (b"\x0a\x02\x0a\x01", "past the end"),
    (b"\x0b", "wire type 3"),
    (b"\x0a\x03\x0a\x01\xff", "UTF-8"),
    (b"\x08" + b"\xff" * 11, "varint"),
])
def test_malformed_models_are_invalid(tmp_path, data, match):
    from autocli.errors import InvalidCheckpoint
    from autocli.tokenizer import load_tokenizer_from_dir

    (tmp_path / "spm.model").write_bytes(data)
    (tmp_path / "config.json").write_text('{"model_type": "deberta-v2"}')
    with pytest.raises(InvalidCheckpoint, match=match) as info:
        load_tokenizer_from_dir(tmp_path)
    assert info.value.exit_code == 4 and "spm.model" in info.value.message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=10_000))
def test_hostile_bytes_never_crash(spm_dirs, data, cut):
    """Random bytes, and real models cut short or with bytes spliced in: parsed or refused, nothing else."""
    from autocli.tokenizer.spm import _Malformed, parse_model

    real = (spm_dirs["deberta-v3"] / "spm.model").read_bytes()
    for blob in (data, real[:cut], real[:cut] + data + real[cut:]):
        try:
            parse_model(blob)
        except _Malformed:
            pass


def test_other_tokenizer_classes_are_refused(tmp_path, spm_dirs):
    from autocli.errors import Unsupported
    from autocli.tokenizer import load_tokenizer_from_dir

    (tmp_path / "spiece.model").write_bytes((spm_dirs["deberta-v3"] / "spm.model").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    with pytest.raises(Unsupported, match="T5Tokenizer") as info:
        load_tokenizer_from_dir(tmp_path)
    assert info.value.exit_code == 5 and "tokenizer.json" in info.value.hint


def test_tokenize_cli_on_an_spm_folder(cli, spm_dirs):
    ref = _reference(spm_dirs["deberta-v3"])
    res = cli(["tokenize", spm_dirs["deberta-v3"], TEXTS[1], "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.dumps(ref(TEXTS[1])["input_ids"]) in json.dumps(res.json())


def test_no_sentencepiece_or_protobuf_at_run_time(spm_dirs):
    code = (
        "import sys; from autocli.tokenizer import load_tokenizer_from_dir; "
        f"t = load_tokenizer_from_dir({str(spm_dirs['deberta-v3'])!r}); assert t.encode('hello').ids; "
        "bad = [m for m in sys.modules if m.startswith(('sentencepiece', 'google.protobuf', 'transformers'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_spm_gives_one_line_error(cli, tmp_path):
    (tmp_path / "spm.model").write_bytes(b"\x0a\x05hel")
    (tmp_path / "config.json").write_text('{"model_type": "deberta-v2"}')
    res = cli(["tokenize", tmp_path, "hello"])
    assert_one_line_error(res, 4)
