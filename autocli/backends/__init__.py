"""Backends: what runs a loaded task model's forward. torch (the module itself) or onnxruntime (autocli's own
TaskModel exported once to ONNX, cached beside the checkpoint, run by an ONNX Runtime session).

choose() decides `auto`; attach() puts an ONNX Runtime runner in the LoadedModel's `module` slot. Nothing here
imports onnxruntime: the runner (backends/ort.py) does, when it is asked for.
"""

from __future__ import annotations

import importlib.util

from autocli.errors import Unsupported

NAMES = ("auto", "torch", "onnxruntime")
# The model kinds whose forward ran faster under ONNX Runtime than torch eager here (bench/RESULTS.md, the
# onnxruntime section): `auto` picks it for them, on CPU in float32, once their graph is in the cache.
AUTO_KINDS = ("encoder", "vision", "audio")
# The kinds the exporter handles: one forward from the inputs to the task output.
KINDS = ("encoder", "vision", "audio")


def choose(requested: str, loaded, ckpt) -> str:
    """The backend that runs `loaded`: torch or onnxruntime. auto takes onnxruntime only where it measured
    faster, the extra is installed and the exported graph is already cached (the export costs seconds to
    minutes, paid by one explicit --backend onnxruntime run); otherwise torch, exactly as without the extra."""
    name = str(getattr(requested, "value", requested) or "auto")
    if name not in NAMES:
        raise Unsupported(f"unknown backend {name!r}", f"use {', '.join(NAMES)}")
    if name == "onnxruntime":
        refuse_unrunnable(loaded)
        return name
    if name == "torch" or not installed():
        return "torch"
    if _kind(loaded) not in AUTO_KINDS or why_not(loaded):
        return "torch"
    from autocli.backends.onnx_cache import cached_graph

    return "onnxruntime" if cached_graph(loaded, ckpt) is not None else "torch"


def installed() -> bool:
    """Whether onnxruntime can be imported, without importing it."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ValueError, ImportError):  # an entry of None in sys.modules: blocked
        return False


def why_not(loaded) -> str | None:
    """Why the onnxruntime backend cannot run this model (None: it can)."""
    if _kind(loaded) not in KINDS:
        return f"the onnxruntime backend runs encoder, vision and audio models, not {_kind(loaded)} ones"
    if _kind(loaded) == "vision" and not hasattr(getattr(loaded.module.backbone, "embeddings", None), "image_hw"):
        return f"the onnxruntime backend does not run {loaded.config.model_type} image models"
    if type(loaded.module).forward is not _task_forward():  # more inputs than the exporter feeds (document boxes...)
        return f"the onnxruntime backend does not run {loaded.config.model_type} models (their forward takes more inputs)"
    if loaded.device.type != "cpu":
        return f"the onnxruntime backend runs on the CPU, not {loaded.device.type}"
    if str(loaded.dtype) != "torch.float32":
        return f"the onnxruntime backend runs float32, not {str(loaded.dtype).replace('torch.', '')}"
    return None


def refuse_unrunnable(loaded) -> None:
    reason = why_not(loaded)
    if reason is not None:
        raise Unsupported(reason, "use --backend torch (or auto), or --device cpu --dtype float32")


def attach(loaded, ckpt, quiet: bool = False) -> None:
    """Run `loaded` through ONNX Runtime from now on: the graph is exported (or found in the cache) and its
    session takes the module's place; the torch module stays behind it for what is not a forward."""
    from autocli.backends.ort import OrtModule

    loaded.module = OrtModule.open(loaded, ckpt, quiet)
    loaded.backend = "onnxruntime"


def _task_forward():
    from autocli.models._task import TaskModel

    return TaskModel.forward


def _kind(loaded) -> str:
    return getattr(loaded.module, "kind", "?")
