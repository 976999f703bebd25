"""Run a checkpoint: config -> family module -> model on `meta` -> weights assigned -> LoadedModel.

The registry row (autocli.registry.FAMILIES) says which tasks a family has and everything about its key
names (prefix, head keys, ties, renames); the family module (autocli/models/<module>.py) only the math:
  Args (a _args.ConfigArgs)             from_config(Config) reads it; refuses values it cannot honour
  HEADS: {task: Head}                   how to build each task's head modules and read its output
  build(Args, task) -> TaskModel        forward(input_ids, attention_mask, token_type_ids) -> task output
  sanitize(state, Args) -> state        real layout differences only (optional)
  uses_token_type_ids(Args), max_length(Args)   optional: by default token types where Args.type_vocab_size > 1,
                                        and Args.max_position_embeddings tokens (None: no limit)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch

from autocli import registry
from autocli.config import Config
from autocli.errors import InvalidCheckpoint, Unsupported, UsageError
from autocli.models._args import check_types
from autocli.models._weights import LoadReport, LoadSpec, empty_model, load_into, read_tensors

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CONFIG_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
                 "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "half": torch.float16}


@dataclass
class LoadedModel:
    module: torch.nn.Module  # eval(), on device, in dtype
    config: Config
    family: str
    task: str
    device: torch.device
    dtype: torch.dtype
    report: LoadReport
    uses_token_type_ids: bool
    max_positions: int | None = None  # longest row the position embeddings allow
    vocab_size: int | None = None  # ids must be below it
    type_vocab_size: int | None = None  # token type ids must be below it
    backend: str = "torch"  # what runs `module`'s forward (autocli.backends)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, *, pixel_values=None, input_values=None,
                 input_features=None):
        """Task output for token ids (multiple-choice takes (B, C, T) -> (B, C)), or for what a vision or audio
        processor gives: pixel_values (B, C, H, W), input_values (B, S) with their attention_mask, or log-mel
        input_features (B, M, F)."""
        values = next((v for v in (pixel_values, input_values, input_features) if v is not None), None)
        if values is not None:
            return self._features(values, attention_mask)
        with torch.inference_mode():
            ids = torch.as_tensor(input_ids, dtype=torch.long, device=self.device)
            mask = torch.ones_like(ids) if attention_mask is None else torch.as_tensor(attention_mask, device=self.device)
            types = None
            if token_type_ids is not None and self.uses_token_type_ids:
                types = torch.as_tensor(token_type_ids, dtype=torch.long, device=self.device)
            lead = ids.shape[:-1]
            if self.task == "multiple-choice":
                if ids.dim() != 3:
                    raise UsageError(f"multiple-choice input must be (batch, choices, tokens), got {tuple(ids.shape)}")
                ids, mask = ids.flatten(0, 1), mask.flatten(0, 1)  # (B*C, T)
                types = types.flatten(0, 1) if types is not None else None
            elif ids.dim() != 2:
                raise UsageError(f"input must be (batch, tokens), got {tuple(ids.shape)}")
            self._check(ids, types)
            out = self.module(ids, mask, types)
            if self.task == "multiple-choice":
                out = out.view(*lead)  # (B, C)
            return out

    def _features(self, values, attention_mask):
        with torch.inference_mode():
            x = torch.as_tensor(values, device=self.device).to(self.dtype)
            mask = None if attention_mask is None else torch.as_tensor(attention_mask, device=self.device).long()
            if x.numel() == 0:
                raise UsageError("empty input: nothing to run", "pass at least one image or audio sample per row")
            return self.module(x, mask)

    def frames_mask(self, attention_mask):
        """An audio model's attention mask over input samples (B, S) -> its mask over output frames (B, T)."""
        return self.module.backbone.frames_mask(torch.as_tensor(attention_mask, device=self.device))

    def _check(self, ids: torch.Tensor, types: torch.Tensor | None) -> None:
        """Inputs an embedding lookup would crash on, as errors that say what to change."""
        T = ids.shape[-1]
        if T == 0 or ids.numel() == 0:
            raise UsageError("empty input: no tokens to run", "pass at least one token per row")
        if self.max_positions is not None and T > self.max_positions:
            raise UsageError(f"{T} tokens is more than this model's {self.max_positions} positions",
                             f"truncate with --max-length {self.max_positions}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or (self.vocab_size is not None and hi >= self.vocab_size):
            bad = lo if lo < 0 else hi
            raise InvalidCheckpoint(f"token id {bad} is outside the model's vocabulary (0..{(self.vocab_size or 0) - 1})",
                                    "the tokenizer and config.json vocab_size disagree")
        if types is not None and self.type_vocab_size is not None and (int(types.min()) < 0 or int(types.max()) >= self.type_vocab_size):
            raise InvalidCheckpoint(f"token type ids go up to {int(types.max())}, the model has {self.type_vocab_size} type(s)",
                                    "the tokenizer and config.json type_vocab_size disagree")


def load_model(ckpt, task: str, *, device="auto", dtype="auto", allow_random_head=False, allow_pickle=False,
               backend="torch", quiet=False) -> LoadedModel:
    """Load a resolved autocli.checkpoint.Checkpoint for one task; backend (autocli.backends.NAMES) says what
    runs its forward."""
    config = ckpt.config()
    pickles = [] if ckpt.weight_files() or not allow_pickle else list(ckpt.pickle_files() or [])
    # Pickle only where there are no safetensors at all, and only when asked; weight_paths() refuses otherwise.
    paths = [ckpt.path(n) for n in pickles] if pickles else list(ckpt.weight_paths())
    loaded = _load(config, paths, _name(ckpt), task, device, dtype, allow_random_head, allow_pickle)
    if backend != "torch":
        from autocli import backends

        if backends.choose(backend, loaded, ckpt) == "onnxruntime":
            backends.attach(loaded, ckpt, quiet)
    return loaded


def load_model_from_dir(folder, task: str, *, device="auto", dtype="auto", allow_random_head=False, allow_pickle=False,
                        backend="torch") -> LoadedModel:
    """Load a local checkpoint folder for one task (the resolver's validation included)."""
    from autocli.checkpoint import Checkpoint

    return load_model(Checkpoint.resolve(str(folder)), task, device=device, dtype=dtype,
                      allow_random_head=allow_random_head, allow_pickle=allow_pickle, backend=backend, quiet=True)


# --- the common path -----------------------------------------------------------------------------

def _load(config: Config, paths, name: str, task: str, device, dtype, allow_random_head: bool, allow_pickle: bool) -> LoadedModel:
    task_name = registry.canonical_task(task) or task
    fam, mod = _family(config, task, task_name, name)
    if fam.overrides:
        config = Config({**fam.overrides, **config.raw}, config.source)
    config.check_dimensions()
    args = _read_args(mod, config)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev, config)

    with empty_model():
        module = mod.build(args, task_name)
    state = _renamed(fam, read_tensors(list(paths), allow_pickle=allow_pickle))
    sanitize = getattr(mod, "sanitize", None)
    if sanitize is not None:
        state = sanitize(state, args)
    tied = getattr(args, "tie_word_embeddings", registry.ties_embeddings(fam, config.raw))
    trained = registry.trained_heads(fam, state, config.architectures, config.raw)
    spec = LoadSpec(
        name=name,
        prefix=fam.prefix,
        task=task_name,
        head_prefixes=tuple(fam.heads.get(task_name, ())),
        head_trained=task_name in trained,
        ties=dict(fam.tied) if tied else {},
        init_std=_init_std(config.raw.get("initializer_range")),
        allow_random_head=allow_random_head,
        instead=_instead(config, fam, trained, task_name, name),
    )
    report = load_into(module, state, spec, device=dev, dtype=dt)
    report.files = [Path(p).name for p in paths]
    module.eval().requires_grad_(False)
    # defaults: token types where the config has more than one, as many tokens as position embeddings
    uses_types = bool(mod.uses_token_type_ids(args)) if hasattr(mod, "uses_token_type_ids") else getattr(args, "type_vocab_size", 0) > 1
    max_len = mod.max_length(args) if hasattr(mod, "max_length") else getattr(args, "max_position_embeddings", None)
    return LoadedModel(
        module=module,
        config=config,
        family=config.model_type,
        task=task_name,
        device=dev,
        dtype=dt,
        report=report,
        uses_token_type_ids=uses_types,
        max_positions=None if max_len is None else max_len - registry.position_offset(fam, config.raw),
        vocab_size=getattr(args, "vocab_size", None),
        type_vocab_size=getattr(args, "type_vocab_size", None) if uses_types else None,
    )


def check_task(config: Config, task: str, name: str) -> registry.Family:
    """The registry row, when it has `task` (the row decides which tasks exist); else what the checkpoint is for."""
    fam = registry.family(config.model_type)
    if fam is None:
        raise Unsupported(
            f"model_type {config.model_type!r} is not supported",
            f"autocli runs: {', '.join(registry.supported_families())}",
        )
    task_name = registry.canonical_task(task) or task
    if task_name not in fam.heads:
        listed = f"tasks for {config.model_type}: {', '.join(fam.heads)}"
        declared = registry.declared_tasks(config.architectures, fam)
        use = _instead(config, fam, set(declared), task_name, name)
        raise Unsupported(f"{config.model_type} has no {task} head in autocli", f"{use[0]}: {use[1]}; {listed}" if use else listed)
    return fam


def _family(config: Config, task: str, task_name: str, name: str):
    """The registry row and the family module."""
    fam = check_task(config, task, name)
    return fam, importlib.import_module(f"autocli.models.{fam.module}")


def _instead(config: Config, fam, trained: set[str], task: str, name: str) -> tuple[str, str] | None:
    """What the checkpoint is for, when it lacks `task`'s head but carries another (a CLIP checkpoint asked to
    classify without labels classifies zero-shot)."""
    use = registry.other_use(trained, registry.declared_tasks(config.architectures, fam), task)
    if use is None:
        return None
    what, how = registry.TASK_USES[use]
    return f"this {config.model_type} checkpoint {what}", how.replace("MODEL", name)


def _read_args(mod, config: Config):
    try:
        args = mod.Args.from_config(config)
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as e:
        # from_config only reads config.json: a value of the wrong type or shape there (a string where a size
        # goes, a list where an object goes) fails here, whatever check the family did not think of
        raise InvalidCheckpoint(f"{config.source}: a setting has the wrong type or value ({type(e).__name__}: {e})",
                                "fix config.json") from e
    check_types(args, config.source)  # derived values too
    return args


def _renamed(fam: registry.Family, state: dict) -> dict:
    """Older head names as our modules spell them (Family.renames); a key already spelled so wins."""
    out = {}
    for key, tensor in state.items():
        new = registry.renamed(fam, key)
        out[key if new in state else new] = tensor
    return out


def _init_std(value) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    return float(value) if ok else 0.02


def _name(ckpt) -> str:
    for attr in ("spec", "name", "repo_id", "root", "folder", "path"):
        value = getattr(ckpt, attr, None)
        if value is not None and not callable(value):
            return str(value)
    return str(ckpt)


def resolve_device(name) -> torch.device:
    name = str(getattr(name, "value", name) or "auto")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise Unsupported("--device cuda: no CUDA device is available to this torch", "use --device cpu (or auto)")
        return torch.device(name)
    if name == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise Unsupported("--device mps: Apple's MPS backend is not available here", "use --device cpu (or auto)")
        return torch.device("mps")
    raise UsageError(f"unknown device {name!r}", "use auto, cpu, cuda or mps")


def resolve_dtype(name, device: torch.device, config: Config) -> torch.dtype:
    """auto: float32 on CPU (bf16/fp16 matmuls there are far slower), the checkpoint's dtype on a GPU."""
    name = str(getattr(name, "value", name) or "auto")
    if name == "auto":
        if device.type == "cpu":
            return torch.float32
        declared = config.dtype
        dt = CONFIG_DTYPES.get(declared) if isinstance(declared, str) else None
        if dt is torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return dt or torch.float32
    if name not in DTYPES:
        raise UsageError(f"unknown dtype {name!r}", "use auto, float32, bfloat16 or float16")
    return DTYPES[name]
