"""Weights: mmap'd tensors from disk -> a model built on the meta device, with a report by name.

The flow is gpt-fast's: build the module on `meta` (no allocation), read safetensors through mmap,
match names real checkpoints spell differently, then `load_state_dict(assign=True)` so the module's
parameters *are* the mmap'd tensors (no second copy unless a dtype cast or a device move needs one).
"""

from __future__ import annotations

import contextlib
import pickle
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from autocli.errors import InvalidCheckpoint, Unsupported

SHOW = 5  # key names quoted in one error message


@dataclass
class LoadReport:
    prefix: str = ""  # backbone prefix the checkpoint's keys carried ("bert." or "")
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # expected by the model, absent (before any random init)
    unexpected: list[str] = field(default_factory=list)  # in the checkpoint, not used by this model/task
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (name, expected, found)
    tied: list[str] = field(default_factory=list)  # filled from the weight they are tied to
    renamed: list[tuple[str, str]] = field(default_factory=list)  # legacy spelling -> name used
    random: list[str] = field(default_factory=list)  # initialised randomly (--allow-random-head)


@dataclass
class LoadSpec:
    """What the family tells the loader about one (model, task)."""

    name: str  # checkpoint name for messages
    prefix: str  # backbone attribute / checkpoint prefix, without the dot ("bert")
    task: str
    head_prefixes: tuple[str, ...] = ()  # top-level keys proving the task's trained head (registry)
    head_trained: bool = True  # registry says the checkpoint carries this task's head
    ties: dict = field(default_factory=dict)  # registry Family.tied, when the config ties embeddings
    init_std: float = 0.02
    allow_random_head: bool = False
    instead: tuple[str, str] | None = None  # (what the checkpoint is for, how to run that): said when the head is missing


# --- building --------------------------------------------------------------------------------------

_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "kaiming_uniform_",
                   "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "orthogonal_")


@contextlib.contextmanager
def empty_model():
    """Build modules on `meta` with torch.nn.init switched off: the weights come from the checkpoint, and a
    random init on meta costs seconds of torch imports (its meta kernels load torch._refs) for nothing."""
    saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS}
    for name in saved:
        setattr(torch.nn.init, name, _keep)
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


def _keep(tensor, *args, **kwargs):
    return tensor


# --- reading -------------------------------------------------------------------------------------

def read_tensors(paths: list[Path], allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """All tensors of a (possibly sharded) checkpoint as CPU tensors backed by the files' mmap."""
    state: dict[str, torch.Tensor] = {}
    for path in paths:
        part = _read_one(Path(path), allow_pickle)
        for k, t in part.items():
            if k in state:
                raise InvalidCheckpoint(f"tensor {k!r} appears in more than one weight file ({Path(path).name})", "the shards overlap; re-save the checkpoint")
            state[k] = t
    return state


def _read_one(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise InvalidCheckpoint(f"{path.name} cannot be read as safetensors: {e}", "the file is corrupt or truncated; download it again") from None
    if not allow_pickle:
        raise InvalidCheckpoint(
            f"{path.name} is a pickle file; autocli loads only safetensors by default",
            "pickle can run code when loaded: convert the checkpoint to safetensors, or pass --allow-pickle if you trust it",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: not the user's concern
            try:
                obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                obj = torch.load(str(path), map_location="cpu", weights_only=True)  # legacy (non-zip) format cannot mmap
    except pickle.UnpicklingError as e:  # torch's advice here is the unsafe weights_only=False: never repeat it
        found = re.search(r"(GLOBAL [\w.]+|operand \d+)", str(e))
        raise InvalidCheckpoint(
            f"{path.name} holds more than tensors ({found.group(1) if found else 'objects a state dict never has'}); "
            "unpickling it could run code, so it must not be trusted",
            "get the weights as safetensors from a source you trust; autocli never unpickles arbitrary objects",
        ) from None
    except Exception as e:  # torch raises many kinds for a corrupt file
        raise InvalidCheckpoint(f"{path.name} cannot be read as a PyTorch pickle: {str(e).splitlines()[0]}", "the file is corrupt or truncated") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise InvalidCheckpoint(f"{path.name} does not hold a name -> tensor mapping", "not a model state dict")
    return obj


# --- matching names ------------------------------------------------------------------------------

LEGACY_SUFFIXES = ((".gamma", ".weight"), (".beta", ".bias"))  # TF-era LayerNorm spellings
STALE_BUFFERS = ("position_ids", "token_type_ids")  # non-persistent in current transformers, saved by old ones
# Buffers old transformers saved with decoder weights: causal-mask tables and rotary frequencies (dropped only
# where the model has no weight of that name).
STALE_SUFFIXES = (".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias", "rotary_emb.inv_freq")


def match_names(state: dict, expected: dict, prefix: str, report: LoadReport) -> dict:
    """Map checkpoint names onto the model's: add the backbone prefix when absent, fix legacy spellings,
    drop stale buffers. What matches nothing is left as is (and reported as unexpected)."""
    out = {}
    pre = prefix + "."
    used_prefix = False
    for key, tensor in state.items():
        name = key
        for candidate in _spellings(key):
            if candidate in expected:
                name = candidate
                break
            if pre + candidate in expected:
                name = pre + candidate
                break
        if name.startswith(pre) and key.startswith(pre):
            used_prefix = True
        if name not in expected and (key.rsplit(".", 1)[-1] in STALE_BUFFERS or key.endswith(STALE_SUFFIXES)):
            continue
        if name != key and name.split(".")[-1] != key.split(".")[-1]:
            report.renamed.append((key, name))
        if name in out:
            raise InvalidCheckpoint(f"the checkpoint holds {name!r} twice (as {key!r} too)", "re-save the checkpoint with one spelling")
        out[name] = tensor
    report.prefix = pre if used_prefix else ""
    return out


def _spellings(key: str):
    yield key
    for old, new in LEGACY_SUFFIXES:
        if key.endswith(old):
            yield key[: -len(old)] + new


def apply_ties(state: dict, ties: dict, expected: dict, report: LoadReport) -> None:
    """Tied weights as transformers ties them (registry Family.tied): the weight takes the embedding's tensor,
    also over a saved copy; a checkpoint holding only the weight gives it to the absent embedding."""
    for target, sources in ties.items():
        sources = (sources,) if isinstance(sources, str) else tuple(sources)
        if target not in expected:
            continue
        source = next((s for s in sources if s in state), None)
        if source is not None:
            state[target] = state[source]
            report.tied.append(target)
        elif target in state:
            for s in sources:
                if s in expected:
                    state[s] = state[target]
                    report.tied.append(s)


def fold_alias(state: dict, name: str, alias: str, prefer_alias: bool) -> None:
    """Two checkpoint spellings of one tensor (BERT's `cls.predictions.bias` and `...decoder.bias`)."""
    if alias not in state:
        return
    value = state.pop(alias)
    if name not in state or prefer_alias:
        state[name] = value


# --- loading -------------------------------------------------------------------------------------

def load_into(module: nn.Module, state: dict, spec: LoadSpec, *, device: torch.device, dtype: torch.dtype) -> LoadReport:
    """Assign checkpoint tensors to a meta-device module; refuse what would silently go wrong. The backbone is
    checked before the head: weights of another architecture are reported as that, not as a missing head."""
    report = LoadReport()
    expected = {k: v for k, v in module.state_dict(keep_vars=True).items()}
    state = match_names(state, expected, spec.prefix, report)
    apply_ties(state, spec.ties, expected, report)
    heads = {k for k in expected if _is_head(k, spec)}
    missing_body = sorted(k for k in expected if k not in heads and k not in state)
    if missing_body:
        other = f"the weight files are incomplete, or {spec.instead[0]}: {spec.instead[1]}" if spec.instead else ""
        raise InvalidCheckpoint(f"{spec.name}: {len(missing_body)} backbone weight(s) missing: {_names(missing_body)}",
                                other or "the weight files are incomplete or belong to another architecture")
    if not spec.head_trained:
        _untrained_head(state, heads, spec, report)
    report.unexpected = sorted(k for k in state if k not in expected)
    report.missing = sorted(k for k in expected if k not in state)
    _check_tensors(state, expected, spec, report)
    missing_head = [k for k in report.missing if k in heads]
    if missing_head:
        if not spec.allow_random_head:
            _refuse_head(spec, missing_head)
        _random_init(module, missing_head, state, spec.init_std)
        report.random = missing_head
        print(f"warning: {spec.name}: the {spec.task} head is randomly initialised ({_names(missing_head)}); its outputs mean nothing",
              file=sys.stderr)

    assign, done = {}, {}  # done: one cast per source tensor, so tied names stay one tensor
    for k in expected:
        t = state[k]
        if id(t) not in done:
            u = t.to(dtype) if t.is_floating_point() and t.dtype != dtype else t
            done[id(t)] = u.to(device) if u.device != device else u
        assign[k] = done[id(t)]
    module.load_state_dict(assign, strict=True, assign=True)
    return report


def _untrained_head(state: dict, heads: set, spec: LoadSpec, report: LoadReport) -> None:
    """The registry says the checkpoint has no trained head for this task: refuse, or drop another task's
    head weights (one classifier.* serves several tasks) before a random head takes their place."""
    own = spec.head_prefixes or ("\0",)
    if not spec.allow_random_head:
        present = sorted(k for k in state if k in heads and k not in report.tied and k.startswith(own))
        if present:
            raise Unsupported(
                f"checkpoint {spec.name} has no trained {spec.task} head: its {_names(present)} belong to the head its architectures declare"
                + _instead(spec), _hint(spec))
        _refuse_head(spec, sorted(k for k in heads if k not in state))
    for k in heads:
        if k.startswith(own):
            state.pop(k, None)


def _check_tensors(state: dict, expected: dict, spec: LoadSpec, report: LoadReport) -> None:
    """Shapes as config.json describes them, and floating-point tensors where the model has floating-point weights."""
    report.mismatched = [(k, tuple(expected[k].shape), tuple(state[k].shape)) for k in sorted(state)
                         if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if report.mismatched:
        k, want, got = report.mismatched[0]
        more = f" (and {len(report.mismatched) - 1} more)" if len(report.mismatched) > 1 else ""
        raise InvalidCheckpoint(
            f"{spec.name}: weight {k} has shape {list(got)} but config.json describes {list(want)}{more}",
            "config.json and the weights disagree (num_labels, vocab_size, hidden_size?); fix one of them",
        )
    wrong = [k for k in sorted(state) if k in expected and expected[k].is_floating_point() and not state[k].is_floating_point()]
    if wrong:
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise InvalidCheckpoint(
            f"{spec.name}: weight {wrong[0]} is stored as {str(state[wrong[0]].dtype).removeprefix('torch.')}, "
            f"not as floating point{more}",
            "the weight files are corrupt or quantised in a format autocli does not run; use a float16/bfloat16/float32 checkpoint",
        )


def _is_head(key: str, spec: LoadSpec) -> bool:
    # Everything outside the backbone, plus the backbone's pooler (only built for tasks that use it).
    pre = spec.prefix + "."
    return not key.startswith(pre) or key.startswith(pre + "pooler")


def _refuse_head(spec: LoadSpec, keys: list[str]):
    reason = f"; {spec.instead[0]}" if spec.instead else "; they would be random"
    raise Unsupported(f"checkpoint {spec.name} has no trained {spec.task} head (weights {_names(keys)} are missing){reason}", _hint(spec))


def _instead(spec: LoadSpec) -> str:
    return f"; {spec.instead[0]}" if spec.instead else ""


def _hint(spec: LoadSpec) -> str:
    if spec.instead:
        return f"{spec.instead[1]} (or --allow-random-head for an untrained {spec.task} head)"
    return f"pick a checkpoint fine-tuned for {spec.task}, or pass --allow-random-head"


def _names(keys: list[str]) -> str:
    more = f", ... ({len(keys)} in all)" if len(keys) > SHOW else ""
    return ", ".join(keys[:SHOW]) + more


def _random_init(module: nn.Module, keys: list[str], state: dict, std: float) -> None:
    """Fixed-seed init as transformers does for a fresh head: normal(0, std) matrices, zero biases, unit norms."""
    gen = torch.Generator().manual_seed(0)
    shapes = {k: v.shape for k, v in module.state_dict(keep_vars=True).items()}
    for k in keys:
        shape = shapes[k]
        if k.endswith("bias"):
            state[k] = torch.zeros(shape)
        elif len(shape) == 1:
            state[k] = torch.ones(shape)  # norm weights
        else:
            state[k] = torch.randn(shape, generator=gen) * std
