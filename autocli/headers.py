"""safetensors headers without torch: an 8-byte little-endian length, then a JSON header.

Nothing in a header is trusted until parse_header() has checked it: the header length fits
the file and a sane bound, every tensor has a known dtype, a shape of non-negative integers
and offsets inside the data region whose length equals product(shape) x dtype size, and no
two tensors overlap (two names on exactly the same bytes are aliases: tied weights).
Remote headers (HTTP range reads, autocli/checkpoint/hub.py) are checked the same way.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from autocli.errors import InvalidCheckpoint

# The safetensors library's own bound on the JSON header.
MAX_HEADER_BYTES = 100 * 1024 * 1024
PREFIX_BYTES = 8  # the little-endian u64 header length

# Every dtype of the safetensors format, in bits per element (F4 and F6 pack below a byte).
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}
# Bytes per element for the whole-byte dtypes.
DTYPE_SIZES = {name: bits // 8 for name, bits in DTYPE_BITS.items() if bits % 8 == 0}
FLOAT_DTYPES = {name for name in DTYPE_BITS if name.startswith(("F", "BF", "C"))}

HINT = "the file is corrupt or truncated; re-download it"


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # offsets in the data region (after the 8 + header_len bytes)
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass
class SafetensorsHeader:
    file: str
    file_size: int
    header_len: int
    tensors: dict[str, TensorInfo]
    metadata: dict
    # name -> the first name stored on exactly the same bytes (tied weights saved once)
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def data_start(self) -> int:
        return PREFIX_BYTES + self.header_len

    @property
    def data_len(self) -> int:
        return self.file_size - self.data_start


def _bad(file: str, message: str) -> InvalidCheckpoint:
    return InvalidCheckpoint(f"{file}: {message}", HINT)


def check_prefix(prefix: bytes, file_size: int, file: str) -> int:
    """The header length from the first 8 bytes, checked against the file size and the bound."""
    if len(prefix) < PREFIX_BYTES or file_size < PREFIX_BYTES:
        raise _bad(file, f"file is {file_size} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", prefix[:PREFIX_BYTES])
    if n > MAX_HEADER_BYTES:
        raise _bad(file, f"header length {n:,} is over the {MAX_HEADER_BYTES:,}-byte limit")
    if PREFIX_BYTES + n > file_size:
        raise _bad(file, f"header length {n:,} is larger than the file ({file_size:,} bytes)")
    if n < 2:
        raise _bad(file, f"header length {n} is too short for a JSON object")
    return n


def _no_duplicates(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor(file: str, name: str, entry, data_len: int) -> TensorInfo:
    where = f"tensor {name!r}"
    if not isinstance(entry, dict):
        raise _bad(file, f"{where} is a JSON {type(entry).__name__}, not an object")
    dtype = entry.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _bad(file, f"{where} has unknown dtype {dtype!r}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _bad(file, f"{where} has shape {shape!r}, not a list of non-negative integers")
    offsets = entry.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise _bad(file, f"{where} has data_offsets {offsets!r}, not [start, end]")
    start, end = offsets
    if not 0 <= start <= end:
        raise _bad(file, f"{where} has data_offsets [{start}, {end}], not 0 <= start <= end")
    if end > data_len:
        raise _bad(file, f"{where} ends at byte {end:,} but the data region is {data_len:,} bytes (truncated file?)")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - start:
        raise _bad(file, f"{where}: {dtype} {shape} needs {bits / 8:,.0f} bytes but its offsets span {end - start:,}")
    return TensorInfo(name, dtype, tuple(shape), start, end)


def parse_header(header_bytes: bytes, file_size: int, file: str) -> SafetensorsHeader:
    """Parse and validate a header (the bytes after the 8-byte length) of a file of file_size bytes."""
    header_len = len(header_bytes)
    if header_len > MAX_HEADER_BYTES:
        raise _bad(file, f"header length {header_len:,} is over the {MAX_HEADER_BYTES:,}-byte limit")
    data_len = file_size - PREFIX_BYTES - header_len
    if data_len < 0:
        raise _bad(file, f"header length {header_len:,} is larger than the file ({file_size:,} bytes)")
    try:
        raw = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise _bad(file, "header is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise _bad(file, f"header is not valid JSON: {e.msg} (byte {e.pos})") from None
    except ValueError as e:  # a duplicate key: parsers would disagree on which one counts
        raise _bad(file, f"header has a {e}") from None
    except RecursionError:
        raise _bad(file, "header is nested too deeply") from None
    if not isinstance(raw, dict):
        raise _bad(file, f"header is a JSON {type(raw).__name__}, not an object")

    metadata = raw.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(file, "__metadata__ must map names to strings")
    tensors = {name: _tensor(file, name, entry, data_len) for name, entry in raw.items()}

    # Sorted by offsets, each tensor must start at or after the previous one's end.
    aliases: dict[str, str] = {}
    prev: TensorInfo | None = None
    for t in sorted((t for t in tensors.values() if t.end > t.start), key=lambda t: (t.start, t.end)):
        if prev is not None and (t.start, t.end) == (prev.start, prev.end):
            if (t.dtype, t.shape) != (prev.dtype, prev.shape):
                raise _bad(file, f"tensors {prev.name!r} and {t.name!r} share bytes with different dtype or shape")
            aliases[t.name] = aliases.get(prev.name, prev.name)
            continue
        if prev is not None and t.start < prev.end:
            raise _bad(file, f"tensor {t.name!r} [{t.start:,}, {t.end:,}] overlaps tensor {prev.name!r} [{prev.start:,}, {prev.end:,}]")
        prev = t
    return SafetensorsHeader(file, file_size, header_len, tensors, dict(metadata), aliases)


def read_local(path: str | os.PathLike, file: str | None = None) -> SafetensorsHeader:
    """Read and validate the header of a local safetensors file (reads only the header bytes)."""
    path = Path(path)
    file = file or path.name
    try:
        with open(path, "rb") as f:
            file_size = os.fstat(f.fileno()).st_size
            n = check_prefix(f.read(PREFIX_BYTES), file_size, file)
            header = f.read(n)
    except OSError as e:
        raise InvalidCheckpoint(f"cannot read {file}: {e.strerror}", f"check {path}") from None
    if len(header) != n:
        raise _bad(file, f"header is {n:,} bytes but only {len(header):,} could be read")
    return parse_header(header, file_size, file)
