"""Which files hold a checkpoint's weights, and whether its index and headers agree. No torch.

Functions of a Checkpoint's files (the `has` / `path` / `sizes` / `check_inside` interface); an index
is hostile until checked: every shard it names must be a plain file name inside the checkpoint.
"""

from __future__ import annotations

from autocli import headers as hdr
from autocli.checkpoint.names import HINT_REDOWNLOAD, INDEX, PICKLE_INDEX, PICKLE_SINGLE, SINGLE, pickle_like, plain_name
from autocli.config import read_json
from autocli.errors import InvalidCheckpoint

MAX_INDEX_BYTES = 64 * 1024 * 1024  # a weight_map of ~100k tensors is under 10 MiB
PICKLE_HINT = "pass --allow-pickle to load them (torch.load with weights_only=True), or convert them to safetensors"


def check_inside(files, name: str, what: str) -> None:
    """A weight file named by `what` must be a file inside the checkpoint."""
    if not plain_name(name):
        raise InvalidCheckpoint(f"{what} names {name!r}, which is not a file inside the checkpoint folder", "the index may be hostile; do not load it")
    files.check_inside(name)


def read_index(files, name: str, suffix: str) -> dict | None:
    """A parsed, validated weight index (name -> shard of `suffix` files), or None when there is none."""
    if not files.has(name):
        return None
    raw = read_json(files.path(name), name, MAX_INDEX_BYTES)
    wm = raw.get("weight_map") if isinstance(raw, dict) else None
    if not isinstance(wm, dict) or not wm:
        raise InvalidCheckpoint(f"{name} has no weight_map", "an index maps each tensor name to its shard file")
    for tensor, file in wm.items():
        if not isinstance(file, str):
            raise InvalidCheckpoint(f"{name}: weight_map[{tensor!r}] is {file!r}, not a file name", HINT_REDOWNLOAD)
        check_inside(files, file, name)
        if not file.endswith(suffix):
            raise InvalidCheckpoint(f"{name}: weight_map[{tensor!r}] names {file}, not a {suffix} file", HINT_REDOWNLOAD)
    return raw


def safetensors_files(files, index: dict | None, name: str) -> list[str]:
    """The safetensors files that hold the weights, shards in order."""
    if index:
        names = sorted(set(index["weight_map"].values()))
        for shard in names:
            if not files.has(shard):
                raise InvalidCheckpoint(f"{INDEX} names {shard}, which is missing from {name}", HINT_REDOWNLOAD)
    elif files.has(SINGLE):
        names = [SINGLE]
    else:
        names = sorted(n for n in files.sizes() if "/" not in n and n.endswith(".safetensors"))
    for shard in names:
        check_inside(files, shard, "the weights")
    return names


def pickle_files(files) -> list[str]:
    """pytorch_model.bin, its shards, or other top-level pickles (*.bin, *.pt, ...)."""
    index = read_index(files, PICKLE_INDEX, ".bin")
    if index:
        return sorted(set(index["weight_map"].values()))
    if files.has(PICKLE_SINGLE):
        return [PICKLE_SINGLE]
    return sorted(n for n in files.sizes() if pickle_like(n))


def check_index(found: dict[str, hdr.SafetensorsHeader], index: dict | None) -> None:
    """Each tensor in one file only, and where the index says it is."""
    where: dict[str, str] = {}
    for file, header in found.items():
        for tensor in header.tensors:
            if tensor in where:
                raise InvalidCheckpoint(f"tensor {tensor!r} is in both {where[tensor]} and {file}", HINT_REDOWNLOAD)
            where[tensor] = file
    for tensor, file in (index or {}).get("weight_map", {}).items():
        if where.get(tensor) != file:
            raise InvalidCheckpoint(f"{INDEX} puts {tensor!r} in {file}, but that file does not hold it", HINT_REDOWNLOAD)


def no_weights_error(name: str, pickles: list[str]) -> InvalidCheckpoint:
    if pickles:
        return InvalidCheckpoint(f"{name} has only pickle weights ({', '.join(pickles)})", PICKLE_HINT)
    return InvalidCheckpoint(f"{name} has no weights", "expected model.safetensors or model.safetensors.index.json")
