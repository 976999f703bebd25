"""safetensors headers without torch: parsing, and every validation failure."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autocli import headers as hdr
from autocli.errors import InvalidCheckpoint
from tests.conftest import assert_one_line_error
from tests.fx_hub import safetensors_bytes, write_safetensors


def _entry(dtype, shape, start, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


def _write(tmp_path, header: dict, data: bytes, name="model.safetensors", pad=True):
    path = tmp_path / name
    path.write_bytes(safetensors_bytes(header, data, pad))
    return path


def _fails(tmp_path, header, data, *words):
    with pytest.raises(InvalidCheckpoint) as e:
        hdr.read_local(_write(tmp_path, header, data))
    for w in words:
        assert w in e.value.message, e.value.message
    assert e.value.message.startswith("model.safetensors: ")
    assert "re-download" in e.value.hint
    return e.value


def test_reads_what_the_safetensors_library_wrote(tmp_path):
    from safetensors import safe_open

    tensors = {
        "a.weight": np.zeros((3, 4), np.float32),
        "b.bias": np.ones(5, np.float16),
        "c.ids": np.arange(7, dtype=np.int64),
        "d.mask": np.array([True, False]),
        "e.scalar": np.array(2.0, np.float64),
        "f.empty": np.zeros((0, 3), np.float32),
    }
    path = write_safetensors(tmp_path / "m.safetensors", tensors, {"format": "pt", "note": "x"})
    h = hdr.read_local(path)
    assert h.file == "m.safetensors" and h.file_size == path.stat().st_size
    assert h.metadata == {"format": "pt", "note": "x"}
    assert set(h.tensors) == set(tensors)
    assert h.tensors["a.weight"].dtype == "F32" and h.tensors["a.weight"].shape == (3, 4)
    assert h.tensors["b.bias"].dtype == "F16" and h.tensors["c.ids"].dtype == "I64"
    assert h.tensors["d.mask"].dtype == "BOOL" and h.tensors["e.scalar"].shape == ()
    assert h.tensors["f.empty"].numel == 0
    raw = path.read_bytes()
    with safe_open(str(path), "np") as f:
        for name in tensors:
            t = h.tensors[name]
            got = np.frombuffer(raw[h.data_start + t.start : h.data_start + t.end], dtype=tensors[name].dtype)
            assert np.array_equal(got.reshape(t.shape), f.get_tensor(name))


def test_dtype_table():
    assert hdr.DTYPE_SIZES["BF16"] == 2 and hdr.DTYPE_SIZES["F8_E4M3"] == 1 and hdr.DTYPE_SIZES["I64"] == 8
    assert "F4" not in hdr.DTYPE_SIZES and hdr.DTYPE_BITS["F4"] == 4


def test_sub_byte_dtype_and_aliases(tmp_path):
    header = {
        "packed": _entry("F4", [4, 2], 0, 4),  # 8 four-bit values = 4 bytes
        "emb": _entry("F32", [2], 4, 12),
        "head": _entry("F32", [2], 4, 12),  # the same bytes: a tied weight stored once
    }
    h = hdr.read_local(_write(tmp_path, header, bytes(12)))
    assert h.aliases == {"head": "emb"}


def test_truncated_file(tmp_path):
    header = {"w": _entry("F32", [4, 4], 0, 64)}
    e = _fails(tmp_path, header, bytes(40), "'w'", "truncated")
    assert "64" in e.message


def test_file_shorter_than_the_length_prefix(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(InvalidCheckpoint, match="too short"):
        hdr.read_local(tmp_path / "model.safetensors")


def test_header_length_larger_than_the_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 5000) + b'{"a": 1}')
    with pytest.raises(InvalidCheckpoint, match="larger than the file"):
        hdr.read_local(path)


def test_header_length_over_the_bound(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", hdr.MAX_HEADER_BYTES + 1) + b"{}")
    with pytest.raises(InvalidCheckpoint, match="limit"):
        hdr.read_local(path)
    with pytest.raises(InvalidCheckpoint, match="limit"):
        hdr.check_prefix(struct.pack("<Q", 2**63), 2**64 - 1, "x")


def test_overlapping_offsets(tmp_path):
    header = {"a": _entry("F32", [4], 0, 16), "b": _entry("F32", [4], 8, 24)}
    _fails(tmp_path, header, bytes(24), "overlaps", "'a'", "'b'")


def test_same_bytes_with_a_different_shape_is_refused(tmp_path):
    header = {"a": _entry("F32", [4], 0, 16), "b": _entry("F16", [8], 0, 16)}
    _fails(tmp_path, header, bytes(16), "share bytes")


def test_out_of_range_offsets(tmp_path):
    _fails(tmp_path, {"a": _entry("F32", [4], 16, 32)}, bytes(16), "'a'", "data region")
    _fails(tmp_path, {"a": _entry("F32", [4], 16, 0)}, bytes(16), "'a'", "start <= end")
    _fails(tmp_path, {"a": _entry("F32", [4], -16, 0)}, bytes(16), "'a'")


def test_wrong_byte_length(tmp_path):
    _fails(tmp_path, {"a": _entry("F32", [2, 3], 0, 16)}, bytes(24), "'a'", "needs 24 bytes", "span 16")


def test_unknown_dtype(tmp_path):
    _fails(tmp_path, {"a": _entry("F128", [2], 0, 32)}, bytes(32), "'a'", "unknown dtype 'F128'")
    for dtype in ([], {}, None, 4):
        _fails(tmp_path, {"a": _entry(dtype, [2], 0, 8)}, bytes(8), "'a'", "unknown dtype")


@pytest.mark.parametrize("shape", [[-1, 4], [2.0], ["2"], [True], "4", None])
def test_bad_shape(tmp_path, shape):
    _fails(tmp_path, {"a": _entry("F32", shape, 0, 0)}, b"", "'a'", "shape")


@pytest.mark.parametrize("offsets", [[0], [0, 1, 2], ["0", "4"], [0.0, 4.0], None])
def test_bad_offsets(tmp_path, offsets):
    _fails(tmp_path, {"a": {"dtype": "U8", "shape": [4], "data_offsets": offsets}}, bytes(4), "'a'", "data_offsets")


@pytest.mark.parametrize(
    "text, words",
    [
        (b"not json at all", ["not valid JSON"]),
        (b'["a", "list"]', ["not an object"]),
        (b'{"a": 1, "a": 2}', ["duplicate key"]),
        (b"\xff\xfe{}", ["not UTF-8"]),
        (b'{"a": 5}', ["'a'", "not an object"]),
        (b'{"__metadata__": {"k": 1}}', ["__metadata__"]),
        (b"[" * 100000 + b"]" * 100000, ["nested too deeply"]),
    ],
)
def test_bad_header_json(tmp_path, text, words):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(InvalidCheckpoint) as e:
        hdr.read_local(path)
    for w in words:
        assert w in e.value.message


def test_parse_header_checks_the_file_size():
    header = json.dumps({"a": _entry("U8", [4], 0, 4)}).encode()
    assert hdr.parse_header(header, 8 + len(header) + 4, "x").tensors["a"].nbytes == 4
    with pytest.raises(InvalidCheckpoint, match="truncated"):
        hdr.parse_header(header, 8 + len(header) + 3, "x")
    with pytest.raises(InvalidCheckpoint, match="larger than the file"):
        hdr.parse_header(header, len(header), "x")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=200))
def test_garbage_is_refused_cleanly(raw, size):
    """Whatever the bytes, the reader answers with a header or an InvalidCheckpoint, nothing else."""
    try:
        hdr.parse_header(raw, size, "fuzz.safetensors")
    except InvalidCheckpoint:
        pass


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.fixed_dictionaries({
    "dtype": st.one_of(st.sampled_from(["F32", "U8", "BF16", "X"]), st.lists(st.integers(), max_size=1)),
    "shape": st.lists(st.integers(-1, 4), max_size=3),
    "data_offsets": st.lists(st.integers(-2, 40), min_size=2, max_size=2),
}), max_size=4), st.integers(0, 48))
def test_random_headers_are_valid_or_refused(header, data_len):
    text = json.dumps(header).encode()
    try:
        h = hdr.parse_header(text, 8 + len(text) + data_len, "fuzz")
    except InvalidCheckpoint:
        return
    spans = sorted((t.start, t.end) for n, t in h.tensors.items() if t.end > t.start and n not in h.aliases)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert all(t.end <= data_len for t in h.tensors.values())


# ---- through the CLI: one line, a hint, exit 4 ---------------------------------------------------------------


def _folder(tmp_path, blob: bytes):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (tmp_path / "model.safetensors").write_bytes(blob)
    return tmp_path


@pytest.mark.parametrize(
    "blob, words",
    [
        (safetensors_bytes({"w": _entry("F32", [4, 4], 0, 64)}, bytes(10)), "truncated"),
        (struct.pack("<Q", 10**6) + b"{}", "larger than the file"),
        (safetensors_bytes({"a": _entry("F32", [4], 0, 16), "b": _entry("F32", [4], 4, 20)}, bytes(20)), "overlaps"),
        (safetensors_bytes({"a": _entry("F32", [4], 0, 16)}, bytes(8)), "data region"),
        (safetensors_bytes({"a": _entry("BF16", [4], 0, 16)}, bytes(16)), "needs 8 bytes"),
        (safetensors_bytes({"a": _entry("Q4", [4], 0, 2)}, bytes(2)), "unknown dtype"),
        (struct.pack("<Q", 6) + b"nojson", "not valid JSON"),
    ],
)
def test_cli_refuses_corrupt_weights(cli, tmp_path, blob, words):
    res = cli(["inspect", _folder(tmp_path, blob)])
    assert_one_line_error(res, 4)
    assert words in res.stderr and "model.safetensors" in res.stderr and "re-download" in res.stderr
