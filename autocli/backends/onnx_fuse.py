"""ONNX Runtime's transformer optimizer on an exported encoder graph: each layer's attention (q, k, v
projections, scores, mask, softmax, output) becomes one Attention node and dense + GELU one BiasGelu node.

The exporter writes attention as BERT's eager code does while it traces (models/_attention.py), which is the
pattern the optimizer matches; its padding mask needs one Unsqueeze per axis, where the exporter merges them.
LayerNormalization stays as it is: ONNX Runtime's SkipLayerNormalization (add + LayerNorm in one node) ran
slower here than the two nodes, so the session does not form it either (bench/RESULTS.md, onnxruntime section).
The fused graph is checked against torch like any other (backends/ort.py); RECIPE goes into the cache
manifest, so a graph fused otherwise is another graph.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
from pathlib import Path

# The model kinds whose graphs are fused, and ONNX Runtime's name for their layout.
MODEL_TYPES = {"encoder": "bert"}
# What fuse() does, recorded in the cache manifest: change it when the fusions change.
RECIPE = "attention+biasgelu, raw mask, no skip-layernorm, v1"
# Session-level fusions left out for a fused graph (see above).
DISABLED_IN_SESSION = ("SkipLayerNormFusion",)


def recipe(kind: str) -> dict | None:
    """What a graph of this kind is fused with (None: not fused), with the optimizer's version."""
    if kind not in MODEL_TYPES:
        return None
    return {"recipe": RECIPE, "model_type": MODEL_TYPES[kind], "onnxruntime": _version("onnxruntime")}


def fuse(graph: Path, kind: str) -> None:
    """Rewrite the exported graph (and its external weights) in place with ONNX Runtime's fusions."""
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    model = onnx.load(str(graph))
    _split_mask_unsqueeze(model)
    options = FusionOptions(MODEL_TYPES[kind])
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    options.enable_embed_layer_norm = False  # its mask output assumes right padding
    options.use_raw_attention_mask(True)  # any 0/1 mask, not only right padding: the sequence lengths are not assumed
    with _logging_off():
        try:
            fused = optimize_model(model, MODEL_TYPES[kind], num_heads=0, hidden_size=0, optimization_options=options, opt_level=0)
        except Exception:  # noqa: BLE001  a pattern it cannot handle: the exported graph is kept as it is, unfused
            return
    for old in (graph, graph.with_name(graph.name + ".data")):
        old.unlink(missing_ok=True)
    onnx.save_model(fused.model, str(graph), save_as_external_data=True, all_tensors_to_one_file=True, location=graph.name + ".data")


def _split_mask_unsqueeze(model) -> None:
    """attention_mask[:, None, None, :] as two one-axis Unsqueeze nodes, the form the attention fusion matches."""
    from onnx import helper, numpy_helper

    graph = model.graph
    axes_of = {t.name: numpy_helper.to_array(t).tolist() for t in graph.initializer}
    axes_of.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t).tolist() for n in graph.node
                    if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    nodes = []
    for node in graph.node:
        axes = axes_of.get(node.input[1]) if node.op_type == "Unsqueeze" and len(node.input) == 2 else None
        if node.input and node.input[0] == "attention_mask" and isinstance(axes, list) and len(axes) > 1 and axes == sorted(axes) and axes[0] >= 0:
            names = [f"{node.output[0]}_axis{a}" for a in axes]
            graph.initializer.extend(numpy_helper.from_array(_int64([a]), name) for a, name in zip(axes, names))
            heads = ["attention_mask"] + [f"{node.output[0]}_part{i}" for i in range(len(axes) - 1)] + [node.output[0]]
            nodes += [helper.make_node("Unsqueeze", [heads[i], names[i]], [heads[i + 1]]) for i in range(len(axes))]
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def _int64(values):
    import numpy as np

    return np.array(values, dtype=np.int64)


@contextlib.contextmanager
def _logging_off():
    """The optimizer logs each fusion it tries (under module names of its own): none of it is for the user."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
