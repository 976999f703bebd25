"""Hostile and broken inputs: every reader either succeeds or raises an AutocliError.

Hypothesis feeds random and mutated safetensors headers, configs, index files and tokenizer
files to the readers; never another exception, never a hang (a deadline per example and an
alarm per test). The batch input reader keeps one record per line, in order, whatever the bytes.
"""

from __future__ import annotations

import io

import json
import math
import signal
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from autocli import compat, config, headers, inputs
from autocli.checkpoint import Checkpoint
from autocli.errors import AutocliError
from tests.conftest import assert_one_line_error
from tests.fx_hub import write_safetensors

SETTINGS = settings(
    max_examples=200,
    deadline=2000,  # ms per example: a reader that loops shows up here
    database=None,
    derandomize=True,  # the same examples on every run: a suite that passes does not flake
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
TEST_SECONDS = 120  # a hang that the deadline cannot interrupt ends the test here


@pytest.fixture(autouse=True)
def _alarm():
    def hang(signum, frame):
        raise TimeoutError(f"test ran over {TEST_SECONDS}s: a reader hangs")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def succeeds(fn, *args, **kw):
    """fn's result, or None when it refused with an AutocliError; any other exception fails the test."""
    try:
        return fn(*args, **kw)
    except AutocliError as e:
        assert e.message and 1 <= e.exit_code <= 7 and e.exit_code != 1, e
        return None


# ---- strategies --------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)
names = st.sampled_from(["a", "b.weight", "__metadata__", "", "../x", "classifier.weight", "é"]) | st.text(max_size=10)
DTYPES = sorted(headers.DTYPE_BITS)


@st.composite
def valid_headers(draw):
    """A well-formed header dict and its data length: consecutive tensors of whole bytes."""
    n = draw(st.integers(0, 5))
    out, offset = {}, 0
    for i in range(n):
        dtype = draw(st.sampled_from([d for d in DTYPES if headers.DTYPE_BITS[d] % 8 == 0]))
        shape = draw(st.lists(st.integers(0, 4), max_size=3))
        size = math.prod(shape) * headers.DTYPE_BITS[dtype] // 8
        out[f"t{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if draw(st.booleans()):
        out["__metadata__"] = {"format": "pt"}
    return out, offset


MUTATIONS = ("value", "delete", "offset", "dtype", "shape", "add", "metadata")


@st.composite
def mutated_headers(draw):
    header, data_len = draw(valid_headers())
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(MUTATIONS))
        tensors = [k for k in header if k != "__metadata__"]
        if kind == "add" or not tensors:
            header[draw(names)] = draw(json_values)
            continue
        entry = header[draw(st.sampled_from(tensors))]
        if not isinstance(entry, dict):
            continue
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        if kind == "value":
            entry[field] = draw(json_values)
        elif kind == "delete":
            entry.pop(field, None)
        elif kind == "offset" and isinstance(entry.get("data_offsets"), list) and entry["data_offsets"]:
            i = draw(st.integers(0, len(entry["data_offsets"]) - 1))
            entry["data_offsets"][i] += draw(st.integers(-16, 16) | st.sampled_from([2**63, -(2**63), 2**64]))
        elif kind == "dtype":
            entry["dtype"] = draw(st.sampled_from(DTYPES + ["F128", "f32", ""]))
        elif kind == "shape":
            entry["shape"] = draw(st.lists(st.integers(-2, 2**40), max_size=4))
        elif kind == "metadata":
            header["__metadata__"] = draw(json_values)
    return header, data_len


def header_bytes(header: dict) -> bytes:
    return json.dumps(header, allow_nan=True).encode()


def check_parsed(parsed: headers.SafetensorsHeader, file_size: int) -> None:
    """What a successful parse promises: every tensor inside the data region, sized by its shape."""
    data_len = file_size - 8 - parsed.header_len
    spans = []
    for t in parsed.tensors.values():
        assert t.dtype in headers.DTYPE_BITS
        assert 0 <= t.start <= t.end <= data_len
        assert math.prod(t.shape) * headers.DTYPE_BITS[t.dtype] == 8 * (t.end - t.start)
        if t.end > t.start and t.name not in parsed.aliases:
            spans.append((t.start, t.end))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans


# ---- safetensors headers -------------------------------------------------------------------------------


@SETTINGS
@given(raw=st.binary(max_size=300), file_size=st.integers(0, 2**64))
def test_parse_header_random_bytes(raw, file_size):
    parsed = succeeds(headers.parse_header, raw, file_size, "x.safetensors")
    if parsed is not None:
        check_parsed(parsed, file_size)


@SETTINGS
@given(header=st.dictionaries(names, json_values, max_size=5), slack=st.integers(-8, 64))
def test_parse_header_random_json(header, slack):
    raw = header_bytes(header)
    file_size = max(0, 8 + len(raw) + slack)
    parsed = succeeds(headers.parse_header, raw, file_size, "x.safetensors")
    if parsed is not None:
        check_parsed(parsed, file_size)


@SETTINGS
@given(case=mutated_headers(), slack=st.integers(-4, 4))
@example(case=({"t0": {"dtype": [], "shape": [], "data_offsets": [0, 2]}}, 2), slack=0)
@example(case=({"t0": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "t1": {"dtype": {}, "shape": [1], "data_offsets": [4, 8]}}, 8), slack=0)
@example(case=({"t0": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}}, 4), slack=0)
@example(case=({"t0": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, 4), slack=0)
@example(case=({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12), slack=0)
@example(case=({"__metadata__": {"format": 1}}, 0), slack=0)
def test_parse_header_mutated(case, slack):
    header, data_len = case
    raw = header_bytes(header)
    file_size = max(0, 8 + len(raw) + data_len + slack)
    parsed = succeeds(headers.parse_header, raw, file_size, "x.safetensors")
    if parsed is not None:
        check_parsed(parsed, file_size)


@SETTINGS
@given(case=valid_headers())
def test_valid_headers_parse(case):
    header, data_len = case
    raw = header_bytes(header)
    parsed = headers.parse_header(raw, 8 + len(raw) + data_len, "x.safetensors")
    assert set(parsed.tensors) == set(header) - {"__metadata__"}


@SETTINGS
@given(case=mutated_headers(), cut=st.integers(0, 400), flip=st.integers(0, 400))
def test_read_local_truncated_and_corrupt_files(case, cut, flip, tmp_path_factory):
    header, data_len = case
    raw = header_bytes(header)
    blob = bytearray(struct.pack("<Q", len(raw)) + raw + b"\0" * data_len)
    if flip < len(blob):
        blob[flip] ^= 0xFF
    blob = bytes(blob[: max(cut, 0)] if cut < len(blob) else blob)
    path = tmp_path_factory.getbasetemp() / "hardening-model.safetensors"
    path.write_bytes(blob)
    parsed = succeeds(headers.read_local, path)
    if parsed is not None:
        check_parsed(parsed, len(blob))


# ---- configs -----------------------------------------------------------------------------------------

BERT_CONFIG = {
    "model_type": "bert", "architectures": ["BertForTokenClassification"], "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 37, "vocab_size": 99, "max_position_embeddings": 64,
    "pad_token_id": 0, "id2label": {"0": "O", "1": "B-X", "2": "I-X"}, "num_labels": 3, "problem_type": None,
    "tie_word_embeddings": True, "text_config": {"hidden_size": 8}, "auto_map": None, "torch_dtype": "float32",
}


def use_config(cfg: config.Config) -> None:
    """Everything the commands read from a Config; each is a value or an AutocliError."""
    for name in config.ALIASES:
        cfg.get(name)
    _ = (cfg.model_type, cfg.architectures, cfg.num_kv_heads, cfg.head_dim, cfg.dtype, cfg.is_encoder_decoder)
    succeeds(lambda: cfg.id2label)
    succeeds(lambda: cfg.num_labels)


@st.composite
def mutated_configs(draw):
    raw = json.loads(json.dumps(BERT_CONFIG))
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(sorted(raw)) | st.text(max_size=8))
        if draw(st.booleans()):
            raw[key] = draw(json_values | st.integers(-(2**64), 2**64))
        else:
            raw.pop(key, None)
    return raw


@SETTINGS
@given(raw=json_values | mutated_configs())
def test_config_readers(raw):
    cfg = succeeds(config.parse_config, raw)
    if cfg is None:
        return
    use_config(cfg)
    try:
        cfg.check_dimensions()
    except AutocliError:
        return
    for name, limit in config.LIMITS.items():  # what passing the check promises
        value = cfg.get(name)
        assert value is None or (type(value) is int and 0 < value <= limit), (name, value)


@SETTINGS
@given(raw=mutated_configs(), rows=st.integers(0, 5), tok=st.none() | json_values)
def test_compat_assess_survives_hostile_configs(raw, rows, tok):
    tensors = {"bert.embeddings.word_embeddings.weight": ((99, 32), "F32"), "classifier.weight": ((rows, 32), "F32")}
    facts = compat.Facts(config=raw, files=["model.safetensors"], shards={"model.safetensors": tensors}, tokenizer_config=tok)
    report = succeeds(compat.assess, "x", facts, list(compat.registry.TASKS))
    if report is not None:
        assert list(report.verdicts) == list(compat.registry.TASKS)
        assert all(v.verdict in compat.VERDICTS for v in report.verdicts.values())
        assert all(f.name in compat.FINDINGS and f.severity in ("error", "warning", "info") for f in report.findings)


@SETTINGS
@given(text=st.text(max_size=200) | st.sampled_from(["{", '{"model_type": "bert"', "\ufeff{}", "[]", "1e999", '{"a": ' * 5000]))
def test_read_json_never_crashes(text, tmp_path_factory):
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as d:
        path = Path(d) / "config.json"
        path.write_text(text, encoding="utf-8")
        raw = succeeds(config.read_json, path, "config.json")
        if raw is not None:
            succeeds(config.parse_config, raw)


# ---- index files ------------------------------------------------------------------------------------------

SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
shard_names = st.sampled_from([*SHARDS, "../x.safetensors", "/etc/passwd", "sub/../../x.safetensors", "a\x00.safetensors",
                               "C:/x.safetensors", "model.safetensors", "nope.safetensors", "x.bin", ""]) | st.text(max_size=12)


@st.composite
def index_files(draw):
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    weight_map = {"a": SHARDS[0], "b": SHARDS[1]}
    for _ in range(draw(st.integers(0, 3))):
        weight_map[draw(st.sampled_from(["a", "b", "c"]) | st.text(max_size=6))] = draw(shard_names | json_values)
    return {"metadata": draw(json_values), "weight_map": weight_map}


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shards")
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))
    write_safetensors(folder / SHARDS[0], {"a": np.zeros(4, np.float32)})
    write_safetensors(folder / SHARDS[1], {"b": np.zeros(4, np.float16)})
    outside = folder.parent / "x.safetensors"
    write_safetensors(outside, {"c": np.zeros(4, np.float32)})
    return folder


@SETTINGS
@given(index=index_files())
def test_index_readers(index, shard_dir):
    (shard_dir / "model.safetensors.index.json").write_text(json.dumps(index, allow_nan=True))
    ckpt = Checkpoint.resolve(str(shard_dir))
    files = succeeds(ckpt.weight_files)
    if files is not None:
        root = shard_dir.resolve()
        assert all((shard_dir / f).resolve().is_relative_to(root) for f in files), files
        succeeds(ckpt.headers)
    report = succeeds(lambda: compat.assess("x", compat.gather(Checkpoint.resolve(str(shard_dir))), list(compat.registry.TASKS)))
    if report is not None:
        assert all(v.verdict in compat.VERDICTS for v in report.verdicts.values())


def test_index_symlink_escape_is_refused(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    outside = write_safetensors(tmp_path / "secret.safetensors", {"a": np.zeros(2, np.float32)})
    (folder / "model-00001-of-00001.safetensors").symlink_to(outside)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-00001-of-00001.safetensors"}}))
    ckpt = Checkpoint.resolve(str(folder))
    assert succeeds(ckpt.weight_files) is None


# ---- tokenizer files -----------------------------------------------------------------------------------

GOOD_TOKENIZER = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": None,
    "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2}, "unk_token": "[UNK]"},
}


@st.composite
def mutated_tokenizers(draw):
    tok = json.loads(json.dumps(GOOD_TOKENIZER))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "model", "vocab", "added"]))
        if where == "top":
            tok[draw(st.sampled_from(sorted(tok)))] = draw(json_values)
        elif where == "model" and isinstance(tok.get("model"), dict):
            tok["model"][draw(st.sampled_from(["type", "vocab", "unk_token", "merges"]))] = draw(json_values)
        elif where == "vocab" and isinstance(tok.get("model"), dict) and isinstance(tok["model"].get("vocab"), dict):
            tok["model"]["vocab"][draw(st.text(max_size=5))] = draw(st.integers(-3, 2**40) | json_values)
        elif where == "added" and isinstance(tok.get("added_tokens"), list):
            tok["added_tokens"].append({"id": draw(st.integers(-3, 2**40) | json_values), "content": draw(st.text(max_size=4) | json_values)})
    return tok


tokenizer_configs = st.none() | json_values | st.fixed_dictionaries(
    {},
    optional={
        "model_max_length": json_values | st.integers(-5, 2**70),
        "added_tokens_decoder": st.dictionaries(st.text(max_size=4) | st.integers(0, 9).map(str), json_values, max_size=3),
        "unk_token": json_values,
        "pad_token": json_values | st.sampled_from(["[UNK]", "hello"]),
        "do_lower_case": json_values,
        "chat_template": json_values,
        "padding_side": json_values,
        "truncation_side": json_values,
    },
)


@SETTINGS
@given(tok=mutated_tokenizers() | json_values, tcfg=tokenizer_configs)
def test_compat_tokenizer_facts(tok, tcfg):
    n = succeeds(compat.tokenizer_json_vocab, tok)
    assert n is None or n > 0
    m = succeeds(compat.added_tokens_bound, tcfg, tok if isinstance(tok, dict) else None)
    assert m is None or m > 0


@SETTINGS
@given(tok=mutated_tokenizers(), tcfg=tokenizer_configs, text=st.text(max_size=20))
def test_tokenizer_loader(tok, tcfg, text, tmp_path_factory):
    from autocli.tokenizer import load_tokenizer_from_dir

    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as d:
        folder = Path(d)
        (folder / "tokenizer.json").write_text(json.dumps(tok, allow_nan=True))
        if tcfg is not None:
            (folder / "tokenizer_config.json").write_text(json.dumps(tcfg, allow_nan=True))
        tokenizer = succeeds(load_tokenizer_from_dir, folder)
        if tokenizer is not None:
            enc = succeeds(tokenizer.encode, text)
            if enc is not None:
                assert all(isinstance(i, int) for i in enc.ids)
                succeeds(tokenizer.decode, list(enc.ids))


# ---- batch inputs ------------------------------------------------------------------------------------

line_bytes = st.binary(max_size=30) | st.sampled_from([b"", b"\xff\xfe", b"a\x00b", b"caf\xc3\xa9", b"\xc3", b" ", b"\xef\xbb\xbfbom"])


class _Piped(io.BytesIO):
    """stdin as a pipe: bytes, read line by line, not a terminal."""

    def isatty(self) -> bool:
        return False


@SETTINGS
@given(lines=st.lists(line_bytes.filter(lambda b: b"\n" not in b), max_size=12), crlf=st.lists(st.booleans(), max_size=12), jsonl=st.booleans())
def test_read_inputs_one_item_per_line(lines, crlf, jsonl):
    ends = [b"\r\n" if (crlf[i] if i < len(crlf) else False) else b"\n" for i in range(len(lines))]
    data = b"".join(l + e for l, e in zip(lines, ends))
    if not lines:  # no input at all is a usage error
        with pytest.raises(inputs.UsageError):
            inputs.read_inputs(None, jsonl=jsonl, stdin=_Piped(data))
        return
    items = list(inputs.read_inputs(None, jsonl=jsonl, stdin=_Piped(data)))
    assert [it.index for it in items] == list(range(len(lines)))
    for it, raw in zip(items, lines):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and it.index == 0 and text.startswith("\ufeff"):
            text = text[1:]  # a byte-order mark is not content
        if b"\x00" in raw or text is None or not text.strip():
            assert it.error is not None
        elif not jsonl:
            assert it.error is None and it.text == text
        assert it.error is None or isinstance(it.error, AutocliError)


HOSTILE_LINES = [b"hello world", b"caf\xff broken", b"nul\x00byte", b"", b"crlf line\r", b"last"]


def test_tokenize_keeps_one_record_per_hostile_line(cli, wordpiece_tokenizer_dir):
    data = b"\n".join(HOSTILE_LINES) + b"\n"
    res = cli(["tokenize", wordpiece_tokenizer_dir, "--format", "jsonl"], input=data)
    assert res.exit_code == 7, res.stderr
    records = res.jsonl()
    assert [r["index"] for r in records] == list(range(len(HOSTILE_LINES)))
    assert [i for i, r in enumerate(records) if "error" in r] == [1, 2]  # invalid UTF-8, NUL byte
    assert records[4]["text"] == "crlf line" and records[3]["text"] == ""  # CR dropped; an empty text is a text
    assert "Traceback" not in res.stderr
    # --count: one output line per input too, failures as empty lines
    res = cli(["tokenize", wordpiece_tokenizer_dir, "--count"], input=data)
    assert res.exit_code == 7 and len(res.stdout.split("\n")) == len(HOSTILE_LINES) + 1


def _big_line_input(size: int) -> bytes:
    # one long word: WordPiece makes it a single [UNK], so the test measures the reader, not the tokenizer
    return b"first\n" + b"x" * size + b"\r\nlast\n"


def test_read_inputs_ten_megabyte_line():
    items = list(inputs.read_inputs(None, stdin=_Piped(_big_line_input(10 * 1024 * 1024))))
    assert [it.index for it in items] == [0, 1, 2] and not any(it.error for it in items)
    assert len(items[1].text) == 10 * 1024 * 1024 and items[2].text == "last"


@pytest.mark.parametrize("size", [1024 * 1024, pytest.param(10 * 1024 * 1024, marks=pytest.mark.slow)])
def test_tokenize_long_line(cli, wordpiece_tokenizer_dir, size):
    res = cli(["tokenize", wordpiece_tokenizer_dir, "--count", "--no-special-tokens"], input=_big_line_input(size))
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == "1" and all(int(n) > 0 for n in lines[:3])  # the long line is one [UNK]


def test_line_over_the_limit_is_an_error_record(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 100)

    items = list(inputs.read_inputs(None, stdin=_Piped(b"ok\n" + b"x" * 101 + b"\nok\n")))
    assert [it.index for it in items] == [0, 1, 2]
    assert [it.error is not None for it in items] == [False, True, False]


@pytest.mark.parametrize("change, code, words", [
    ({"num_attention_heads": 7}, 4, "not a multiple of"),
    ({"hidden_size": 10**9}, 4, "out of range"),
    ({"hidden_act": "swishy"}, 5, "not supported"),
    ({"max_position_embeddings": 4}, 4, "has shape"),
])
def test_inconsistent_or_hostile_config_on_a_real_checkpoint(cli, minilm_dir, tmp_path, change, code, words):
    """Each refused before any forward pass, as one line with a hint: invalid (4) or unsupported (5)."""
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(minilm_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    res = cli(["embed", str(folder), "hello"])
    assert_one_line_error(res, code)
    assert words in res.stderr


@pytest.mark.parametrize("variant", ["t5", "umt5", "bart", "mbart"])
def test_every_config_field_of_the_wrong_type_is_refused_by_name(seq2seq_root, variant, tmp_path):
    """Each numeric or string field of config.json set to a value of another type: an AutocliError (a
    one-line error with exit 4 or 5 in the CLI), never an exception from deep in the model code."""
    import shutil

    from autocli.errors import AutocliError
    from autocli.models import load_model_from_dir
    from tests.fx_seq2seq import build_seq2seq

    folder = build_seq2seq(seq2seq_root, variant, "seq2seq-lm")
    config = json.loads((folder / "config.json").read_text())
    fields = [k for k, v in config.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
              and k not in ("model_type", "transformers_version", "dtype", "torch_dtype")]
    assert len(fields) > 10
    for field in fields:
        for bad in (None, "x" if not isinstance(config[field], str) else 7, [1]):
            case = tmp_path / f"{field}-{type(bad).__name__}"
            shutil.copytree(folder, case)
            (case / "config.json").write_text(json.dumps({**config, field: bad}))
            try:
                load_model_from_dir(case, "seq2seq-lm")
            except AutocliError:
                pass
            shutil.rmtree(case)
