"""What the loader would refuse in the weights, seen in the safetensors headers alone: integer tensors where
floats go, embeddings whose shape disagrees with config.json, a backbone with a tensor or a layer missing."""

from __future__ import annotations

import re

from autocli.compat.facts import Shapes
from autocli.compat.lint import SEV_ERROR, Finding, _int, embedding_rows
from autocli.config import Config
from autocli.headers import FLOAT_DTYPES
from autocli.inspect import is_buffer

FINDING_NAMES = ("tensor-dtype", "tensor-shape", "missing-tensor")  # each one makes the loader refuse
SHOW = 3  # names quoted in one finding
# The repeated-layer containers of the families (`bert.encoder.layer.3.`, `model.layers.3.`, `h.3.`, `block.3.`).
LAYER_STACKS = ("layer", "layers", "h", "block")
LAYER_KEY = re.compile(r"^(?P<stack>(?:.+?\.)?(?:" + "|".join(LAYER_STACKS) + r"))\.(?P<index>\d+)\.(?P<rest>.+)$")


def _listed(items: list[str]) -> str:
    return ", ".join(items[:SHOW]) + (f", ... ({len(items)} in all)" if len(items) > SHOW else "")


def lint_dtypes(tensors: Shapes) -> list[Finding]:
    """Weights are floating point; an integer or bool one cannot be assigned to a float parameter."""
    bad = sorted(f"{n} ({d})" for n, (shape, d) in tensors.items() if d not in FLOAT_DTYPES and not is_buffer(n, tuple(shape)))
    if not bad:
        return []
    return [Finding("tensor-dtype", SEV_ERROR, f"{len(bad)} weight(s) are not floating point: {_listed(bad)}")]


def lint_embedding_shape(cfg: Config, tensors: Shapes) -> list[Finding]:
    """The input embedding matrix is (vocab_size, embedding_size or hidden_size), as the model is built."""
    emb = embedding_rows(tensors)
    if emb is None:
        return []
    name = emb[0]
    shape = tuple(tensors[name][0])
    vocab = _int(cfg.get("vocab_size"))
    width = _int(cfg.get("embedding_size")) or _int(cfg.get("hidden_size"))
    out = []
    if vocab is not None and shape[0] != vocab:
        out.append(Finding("tensor-shape", SEV_ERROR, f"{name} has {shape[0]:,} rows but config.json vocab_size is {vocab:,}"))
    if width is not None and shape[1] != width:
        out.append(Finding("tensor-shape", SEV_ERROR, f"{name} is {shape[1]:,} wide but config.json says {width:,} (hidden size)"))
    return out


def _stacks(tensors: Shapes) -> dict[str, dict[int, set[str]]]:
    """stack -> layer index -> the tensor names below it (buffers left out)."""
    stacks: dict[str, dict[int, set[str]]] = {}
    for name, (shape, _) in tensors.items():
        m = LAYER_KEY.match(name)
        if m and not is_buffer(name, tuple(shape)):
            stacks.setdefault(m["stack"], {}).setdefault(int(m["index"]), set()).add(m["rest"])
    return stacks


def _expected_layers(cfg: Config, stack: str) -> int | None:
    if "decoder" in stack.split("."):
        return _int(cfg.get("num_decoder_layers")) or _int(cfg.get("num_layers"))
    return _int(cfg.get("num_layers"))


def lint_layers(cfg: Config, tensors: Shapes) -> list[Finding]:
    """Every layer of a stack holds the same tensors, and the stack has the layers config.json counts.

    Layer 0 is compared with nothing: it may legitimately differ (T5 keeps the shared relative position bias
    there, ModernBERT's first layer has no attention norm); layers 1.. must agree with each other."""
    out = []
    for stack, layers in sorted(_stacks(tensors).items()):
        expected = _expected_layers(cfg, stack)
        if expected is not None and len(layers) < expected:
            out.append(Finding("missing-tensor", SEV_ERROR,
                               f"{stack} has {len(layers)} layer(s) in the weights but config.json says {expected}"))
        later = {i: names for i, names in layers.items() if i > 0}
        common = set().union(*later.values()) if later else set()
        gaps = [f"{stack}.{i}.{rest}" for i, names in sorted(later.items()) for rest in sorted(common - names)]
        if gaps:
            out.append(Finding("missing-tensor", SEV_ERROR, f"{len(gaps)} tensor(s) missing from layers that the other layers have: {_listed(gaps)}"))
    return out


def refuse_unloadable(ckpt) -> None:
    """Before a run loads the weights: a weight that is not floating point cannot become a parameter (exit 4,
    naming it, instead of torch's copy error)."""
    from autocli.errors import InvalidCheckpoint

    tensors = {n: (t.shape, t.dtype) for h in ckpt.headers().values() for n, t in h.tensors.items()}
    for finding in lint_dtypes(tensors):
        raise InvalidCheckpoint(finding.message, "the weights are quantized or corrupt; autocli loads float16/bfloat16/float32 weights")


def lint_weights(cfg: Config, fam, tensors: Shapes) -> list[Finding]:
    """Findings the loader turns into a refusal (only for families autocli builds: it knows their layout)."""
    if fam is None or not tensors:
        return []
    if fam.overrides:
        cfg = Config({**fam.overrides, **cfg.raw}, cfg.source)
    return lint_dtypes(tensors) + lint_embedding_shape(cfg, tensors) + lint_layers(cfg, tensors)
