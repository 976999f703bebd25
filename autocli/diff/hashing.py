"""Per-tensor content digests of local safetensors files: each tensor's stored bytes, read in bounded chunks."""

from __future__ import annotations

import hashlib

CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the tensor size


def _digest(f, offset: int, length: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    f.seek(offset)
    while length > 0:
        block = f.read(min(CHUNK, length))
        if not block:
            raise OSError("file ended inside a tensor")
        h.update(block)
        length -= len(block)
    return h.hexdigest()


def tensor_digests(ckpt) -> dict[str, str]:
    """name -> digest of its bytes, for every tensor of a local checkpoint (headers validated first)."""
    from autocli.errors import InvalidCheckpoint

    out = {}
    for name, path in zip(ckpt.weight_files(), ckpt.weight_paths()):
        header = ckpt.headers()[name]
        try:
            with open(path, "rb") as f:
                for t in sorted(header.tensors.values(), key=lambda t: t.start):
                    out[t.name] = _digest(f, header.data_start + t.start, t.nbytes)
        except OSError as e:
            raise InvalidCheckpoint(f"cannot read {name}: {e.strerror or e}", f"check {path}") from None
    return out
