"""Where an exported graph lives, what it was built from, and whether it may still be used.

One folder per checkpoint + task + inputs + opset + dtype: beside a Hub checkpoint, in its Hugging Face cache
folder (models--org--name/autocli-onnx/), and for a local folder under ~/.cache/autocli/onnx/ (AUTOCLI_CACHE
moves it). Its manifest.json records what the graph was built from: the weight files (name, size, mtime),
config.json's hash, the Hub commit, the model code's hash, the torch/onnx versions and the graph's own hash.
A folder whose manifest differs from the checkpoint and code at hand is stale: it is never run, and the
export replaces it. A folder is published whole (written beside, then renamed), so a reader never sees half.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

import autocli
from autocli.backends import onnx_fuse

GRAPH = "model.onnx"
MANIFEST = "manifest.json"
OPSET = 18
FORMAT = 1  # of the folder: bumped when its layout changes
MODELS = Path(__file__).resolve().parent.parent / "models"


def inputs_of(loaded) -> tuple[str, ...]:
    """The graph's inputs, in the TaskModel's argument order."""
    kind = loaded.module.kind
    if kind == "vision":
        return ("pixel_values",)
    if kind == "audio":
        return ("input_values", "attention_mask")
    return ("input_ids", "attention_mask", "token_type_ids") if loaded.uses_token_type_ids else ("input_ids", "attention_mask")


def built_from(loaded, ckpt) -> dict:
    """What the graph depends on: any change here makes a cached graph stale."""
    weights = [Path(p) for p in _weight_paths(ckpt)]
    return {
        "format": FORMAT,
        "checkpoint": _identity(ckpt),
        "commit": getattr(ckpt, "commit", None),
        "weights": [{"name": p.name, "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in weights],
        "config_sha256": _sha256(ckpt.path("config.json")),
        "model_type": loaded.config.model_type,
        "task": loaded.task,
        "inputs": list(inputs_of(loaded)),
        "dtype": str(loaded.dtype).replace("torch.", ""),
        "opset": OPSET,
        "fusion": onnx_fuse.recipe(loaded.module.kind),
        "code_sha256": code_hash(),
        "autocli": autocli.__version__,
        "torch": torch.__version__,
    }


def folder(loaded, ckpt) -> Path:
    """The cache folder of this checkpoint + task + inputs + opset + dtype (present or not)."""
    fields = built_from(loaded, ckpt)
    if getattr(ckpt, "is_local", True):
        root = cache_root() / "onnx" / _short(fields["checkpoint"])
    else:  # the Hub cache's snapshots/<commit>: the repo's folder is two levels up
        root = Path(ckpt.local_dir).parent.parent / "autocli-onnx" / str(fields["commit"])
    key = _short(json.dumps([fields["task"], fields["inputs"], fields["dtype"], fields["opset"]]))
    return root / f"{fields['model_type']}-{fields['task']}-{key}"


def cache_root() -> Path:
    env = os.environ.get("AUTOCLI_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "autocli"


def cached_graph(loaded, ckpt) -> Path | None:
    """The graph to run, if the cache holds one built from exactly this checkpoint and code."""
    where = folder(loaded, ckpt)
    return where / GRAPH if stale(where, built_from(loaded, ckpt)) is None else None


def stale(where: Path, expected: dict) -> str | None:
    """Why the folder cannot be used (None: it can): missing, another build's manifest, or a damaged graph."""
    try:
        manifest = json.loads((where / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no graph cached" if not where.exists() else "the manifest is missing or unreadable"
    if not isinstance(manifest, dict) or manifest.get("built_from") != expected:
        changed = [k for k in expected if not isinstance(manifest, dict) or (manifest.get("built_from") or {}).get(k) != expected[k]]
        return f"built from another {', '.join(changed) or 'manifest'}"
    files = manifest.get("files") or {}
    for name, meta in files.items():
        path = where / name
        if not path.is_file() or path.stat().st_size != meta.get("size"):
            return f"{name} is missing or has another size"
    if _sha256(where / GRAPH) != (files.get(GRAPH) or {}).get("sha256"):
        return f"{GRAPH} does not match its manifest"
    return None


def publish(staging: Path, where: Path, expected: dict) -> None:
    """Write the manifest into the finished staging folder and put it in `where`'s place, replacing a stale one."""
    files = {p.name: {"size": p.stat().st_size} for p in sorted(staging.iterdir()) if p.is_file()}
    files[GRAPH]["sha256"] = _sha256(staging / GRAPH)
    (staging / MANIFEST).write_text(json.dumps({"built_from": expected, "files": files}, indent=1), encoding="utf-8")
    old = None
    if where.exists():
        old = where.with_name(f"{where.name}.old-{os.getpid()}")
        os.replace(where, old)
    try:
        os.replace(staging, where)
    except OSError:  # another process published the same graph first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def staging_for(where: Path) -> Path:
    where.parent.mkdir(parents=True, exist_ok=True)
    staging = where.with_name(f"{where.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def code_hash() -> str:
    """The model code's hash: a graph traced from other code is another graph."""
    h = hashlib.sha256()
    for path in sorted(MODELS.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _identity(ckpt) -> str:
    """The Hub repo, or the local folder's absolute path (however the command line spelled it)."""
    local = getattr(ckpt, "local_dir", None)
    if getattr(ckpt, "is_local", True) and local is not None:
        return str(Path(local).resolve())
    return str(getattr(ckpt, "repo_id", None) or getattr(ckpt, "name", ckpt))


def _weight_paths(ckpt) -> list:
    if ckpt.weight_files():
        return list(ckpt.weight_paths())
    return [ckpt.path(n) for n in (ckpt.pickle_files() or [])]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
