"""The onnxruntime backend: autocli's TaskModel exported with torch.onnx.export (batch and length axes dynamic),
checked against the torch forward once, cached (backends/onnx_cache.py), and run by an ONNX Runtime session
whose threads are torch's. OrtModule stands where the torch module stood: called the same way, it returns
torch tensors; anything else (the backbone's frame arithmetic, the config) is read from the torch module.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import warnings

import torch

from autocli.backends import onnx_cache, onnx_fuse
from autocli.errors import Unsupported
from autocli.extras import need

# The exported graph must give the torch forward's outputs within this (the parity tolerance) on its check.
EXPORT_ATOL = 1e-4


class OrtModule:
    def __init__(self, session, torch_module, inputs: tuple[str, ...]):
        self.session, self.torch_module, self.inputs = session, torch_module, inputs

    @classmethod
    def open(cls, loaded, ckpt, quiet: bool = False) -> "OrtModule":
        ort = need("onnxruntime", "onnx")
        graph = onnx_cache.cached_graph(loaded, ckpt)
        if graph is None:
            graph = export(loaded, ckpt, quiet)
        return cls(session(ort, graph, loaded.module.kind), loaded.module, onnx_cache.inputs_of(loaded))

    def __call__(self, first, attention_mask=None, token_type_ids=None):
        """The TaskModel's forward: (input_ids | pixel_values | input_values, attention_mask, token_type_ids)."""
        if not self.fits(first):  # the torch forward takes it, or says why it cannot
            return self.torch_module(first, attention_mask, token_type_ids)
        given = {self.inputs[0]: first, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if given["attention_mask"] is None and "attention_mask" in self.inputs:
            given["attention_mask"] = torch.ones(first.shape[:2], dtype=torch.long)  # (B, T): every position real
        if given["token_type_ids"] is None and "token_type_ids" in self.inputs:
            given["token_type_ids"] = torch.zeros_like(first)
        feed = {name: _numpy(given[name], name) for name in self.inputs}
        return torch.from_numpy(self.session.run(None, feed)[0])

    def fits(self, first) -> bool:
        """Whether the graph takes this input: images of the traced size, clips long enough for one frame."""
        if self.inputs[0] == "pixel_values":
            return tuple(first.shape[1:]) == _image_shape(self.torch_module)
        if self.inputs[0] == "input_values":
            return first.shape[-1] >= self.torch_module.backbone.min_samples
        return True

    def __getattr__(self, name):
        if name == "torch_module":  # not set yet (a copy being built): no module to ask
            raise AttributeError(name)
        return getattr(self.torch_module, name)


def session(ort, graph, kind: str):
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the threads torch would have used
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings are about graph fusions, not the user's inputs
    disabled = list(onnx_fuse.DISABLED_IN_SESSION) if onnx_fuse.recipe(kind) else []
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)


def export(loaded, ckpt, quiet: bool = False):
    """Export the TaskModel, check it against torch, publish it in the cache -> the graph's path."""
    need("onnxscript", "onnx")
    where = onnx_cache.folder(loaded, ckpt)
    expected = onnx_cache.built_from(loaded, ckpt)
    if not quiet:
        reason = onnx_cache.stale(where, expected)
        print(f"note: exporting the {loaded.task} model to ONNX ({reason}); the graph is cached in {where}", file=sys.stderr)
    staging = onnx_cache.staging_for(where)
    names = onnx_cache.inputs_of(loaded)
    sample = example_inputs(loaded, names)
    try:
        with _quiet_export(), torch.no_grad():
            try:
                torch.onnx.export(loaded.module, sample, str(staging / onnx_cache.GRAPH), input_names=list(names), output_names=["output"],
                                  dynamic_shapes=_dynamic(sample), opset_version=onnx_cache.OPSET, dynamo=True, external_data=True,
                                  verbose=False)
            except Exception as e:  # the tracer's refusals have no common type: say which model, not its stack
                first = (re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines() or [type(e).__name__])[0][:200]
                raise Unsupported(f"this {loaded.config.model_type} model could not be exported to ONNX ({first})",
                                  "use --backend torch") from None
            if onnx_fuse.recipe(loaded.module.kind):
                onnx_fuse.fuse(staging / onnx_cache.GRAPH, loaded.module.kind)
        verify(loaded, staging / onnx_cache.GRAPH, sample, names)
    except Exception:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    onnx_cache.publish(staging, where, expected)
    return where / onnx_cache.GRAPH


def example_inputs(loaded, names) -> tuple:
    """Inputs to trace with: 2 rows (a size of 1 would be fixed into the graph), the second one padded."""
    seed = torch.Generator().manual_seed(0)
    if names[0] == "pixel_values":
        return torch.randn(2, *_image_shape(loaded.module), generator=seed), None
    if names[0] == "input_values":
        n = 4 * loaded.module.backbone.min_samples
        values = torch.randn(2, n, generator=seed)  # (2, S)
        mask = torch.ones(2, n, dtype=torch.long)
        mask[1, n // 2:] = 0
        return values, mask
    T = min(16, loaded.max_positions or 16)
    ids = (torch.arange(2 * T).view(2, T) * 7) % max(1, min(loaded.vocab_size or 1000, 1000))  # (2, T)
    mask = torch.ones(2, T, dtype=torch.long)
    mask[1, T // 2:] = 0
    return ids, mask, (torch.zeros(2, T, dtype=torch.long) if "token_type_ids" in names else None)


def _image_shape(module) -> tuple[int, int, int]:
    """(C, H, W) of the images the vision model was configured for."""
    emb = module.backbone.embeddings
    return (emb.patch_embeddings.projection.in_channels, *emb.image_hw)


def verify(loaded, graph, sample, names) -> None:
    """The graph on other shapes than traced must give the torch forward's outputs: refuse it otherwise."""
    ort = need("onnxruntime", "onnx")
    runner = OrtModule(session(ort, graph, loaded.module.kind), loaded.module, names)
    check = _reshaped(sample)
    with torch.inference_mode():
        want = loaded.module(*check)
    got = runner(*check)
    diff = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
    if not diff <= EXPORT_ATOL:
        raise Unsupported(f"the exported ONNX graph of this {loaded.config.model_type} model differs from its torch forward "
                          f"(max |diff| {diff:.3g})", "use --backend torch")


def _reshaped(sample) -> tuple:
    """The sample with another batch size (and, for tokens and audio, another length): dynamic axes at work."""
    first = sample[0]
    if first.dim() == 4:
        return torch.cat([first, first.flip(0), first]), None
    T = max(2, first.shape[1] - 3)
    rows = [t[:, :T] if t is not None else None for t in sample]
    return tuple(torch.cat([t, t.flip(0), t]) if t is not None else None for t in rows)


def _dynamic(sample) -> tuple:
    """Batch and length axes free (images: the batch only), per argument of the forward."""
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    axes = [None if t is None else {0: batch} if t.dim() == 4 else {0: batch, 1: length} for t in sample]
    return tuple(axes)


@contextlib.contextmanager
def _quiet_export():
    """The exporter's progress lines and reports would land among the records and the one-line errors: kept apart."""
    levels = {name: logging.getLogger(name).level for name in ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "torch.fx", "onnxscript")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        chatter = io.StringIO()
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _numpy(tensor, name: str):
    t = torch.as_tensor(tensor)
    if name == "attention_mask":
        t = t != 0  # 0/1, as the fused graph's Attention nodes read it (any nonzero value marks a real position)
    if name != "pixel_values" and name != "input_values":
        t = t.long()
    return t.detach().cpu().contiguous().numpy()
