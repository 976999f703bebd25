"""Task runners: (model, tokenizer, items, options) -> result records (autocli/results.py), one per
input, yielded in input order as each window of inputs is done.

A task never prints. Progress and truncation warnings go to stderr through tasks/batching.py.
Nothing here imports torch at import time; the runners import it when they run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from autocli.tokenizer import NO_LIMIT

# Shared defaults of the encoder commands (the CLI options take theirs from here).
BATCH_SIZE = 32


@dataclass
class RunOptions:
    batch_size: int = BATCH_SIZE
    max_length: int | None = None  # tokens per forward row; None = the model's limit
    quiet: bool = False  # no progress bar, no warnings
    logits: bool = False  # add the raw head outputs to each record


def token_limit(model, tokenizer) -> int | None:
    """The most tokens one row may hold: the tokenizer's model_max_length and the model's positions."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < NO_LIMIT:
        limits.append(tok_max)
    positions = getattr(model, "max_positions", None)
    if positions is None:
        positions = model.config.get("context_length")
    if isinstance(positions, int) and 0 < positions < NO_LIMIT:
        limits.append(positions)
    return min(limits) if limits else None


def row_limit(model, tokenizer, max_length: int | None) -> int | None:
    """--max-length, capped at what the model can take."""
    limit = token_limit(model, tokenizer)
    if max_length is None:
        return limit
    return max_length if limit is None else min(max_length, limit)


def load(
    spec: str,
    task: str,
    *,
    revision: str | None = None,
    cache_dir=None,
    token: str | None = None,
    offline: bool = False,
    device: str = "auto",
    dtype: str = "auto",
    allow_random_head: bool = False,
    allow_pickle: bool = False,
    tokenizer_source: str | None = None,
    max_length: int | None = None,
    pair: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    backend: str = "torch",
):
    """Resolve a checkpoint and load its tokenizer (or tokenizer_source's) and the model for `task`
    -> (ckpt, tokenizer, model). An unusable --max-length (for text pairs when `pair`) is refused before
    the model loads. An image or audio checkpoint gives its processor in the tokenizer's place, and the text
    task names its own (classification of a text -> of an image or a clip).
    quiet: no warnings; verbose: one stderr line saying what was loaded from where, and how long it took.
    backend: what runs the forward (autocli.backends: auto, torch, onnxruntime)."""
    import time

    from autocli.compat.weights import refuse_unloadable
    from autocli.models import load_model

    start = time.perf_counter()
    where = dict(revision=revision, cache_dir=cache_dir, token=token, offline=offline, quiet=quiet)
    ckpt = resolve(spec, **where)
    refuse_unloadable(ckpt)
    kind = input_kind(ckpt)
    if kind == "text":
        tokenizer = tokenizer_of(ckpt, tokenizer_source, **where)
        check_max_length(tokenizer, max_length, pair)
    elif kind == "document":  # the tokenizer is inside the processor; --max-length truncates
        from autocli.errors import UsageError
        from autocli.preprocess import load_processor
        from autocli.tasks.document import refuse_not_run

        if tokenizer_source is not None:
            raise UsageError("--tokenizer is for text checkpoints: a document checkpoint's processor has its own", "drop --tokenizer")
        refuse_not_run(ckpt, task)
        tokenizer = load_processor(ckpt, ckpt.config().model_type)
        check_max_length(tokenizer.tokenizer, max_length, pair)
    else:
        from autocli.errors import UsageError
        from autocli.preprocess import load_processor

        from autocli.models import check_task

        task = MEDIA_TASKS.get(kind, {}).get(task, task)
        check_task(ckpt.config(), task, spec)  # a text command on an image model is that, not a flag to drop
        for given, flag in ((tokenizer_source, "--tokenizer"), (max_length, "--max-length")):
            if given is not None:
                raise UsageError(f"{flag} is for text; this checkpoint reads {kind} files", f"drop {flag}")
        tokenizer = load_processor(ckpt, ckpt.config().model_type)
    model = load_model(
        ckpt, task, device=device, dtype=dtype, allow_random_head=allow_random_head, allow_pickle=allow_pickle,
        backend=backend, quiet=quiet,
    )
    if verbose:
        print(f"{describe_load(ckpt, model, tokenizer, tokenizer_source)} in {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return ckpt, tokenizer, model


# A text task's name -> the task for a checkpoint that reads images or audio.
MEDIA_TASKS = {
    "image": {"sequence-classification": "image-classification"},
    "audio": {"sequence-classification": "audio-classification"},
}


def input_kind(ckpt) -> str:
    """"text", "image", "audio" or "document": what the checkpoint's model reads (its family's kind)."""
    from autocli import registry

    return registry.input_kind(ckpt.config().model_type)


def describe_load(ckpt, model, tokenizer, tokenizer_source: str | None = None) -> str:
    """For -v: which model was loaded from where, on what device in what dtype, and with which tokenizer."""
    runs_on = f"{getattr(model, 'device', '?')}, {getattr(model, 'dtype', '?')}, {getattr(model, 'backend', 'torch')}".replace("torch.", "")
    return f"loaded the {model.task} model from {ckpt.where} ({runs_on}), {describe_tokenizer(tokenizer, tokenizer_source)}"


def describe_tokenizer(tokenizer, tokenizer_source: str | None = None) -> str:
    """For -v: which tokenizer file was read, and from which checkpoint when it was borrowed."""
    if hasattr(tokenizer, "input"):
        return f"the {tokenizer.input} processor ({type(tokenizer).__name__})"
    return f"the tokenizer ({tokenizer.source}" + (f" of {tokenizer_source})" if tokenizer_source else ")")


def resolve(spec: str, **where):
    """The checkpoint behind a spec; remote code refused before anything else reads it."""
    from autocli.checkpoint import Checkpoint
    from autocli.config import refuse_remote_code

    ckpt = Checkpoint.resolve(spec, **where)
    refuse_remote_code(ckpt)
    return ckpt


def tokenizer_of(ckpt, tokenizer_source: str | None = None, **where):
    """The checkpoint's tokenizer, or that of tokenizer_source (another folder or Hub id: for checkpoints
    that ship weights only)."""
    from autocli.tokenizer import load_tokenizer

    return load_tokenizer(ckpt if tokenizer_source is None else resolve(tokenizer_source, **where))


def load_tokenizer_for(spec: str, tokenizer_source: str | None = None, **where):
    """-> (the checkpoint, the tokenizer to use with it)."""
    ckpt = resolve(spec, **where)
    return ckpt, tokenizer_of(ckpt, tokenizer_source, **where)


def check_max_length(tokenizer, max_length: int | None, pair: bool = False) -> None:
    """--max-length must leave room for one text token besides the special tokens: a usage error otherwise."""
    from autocli.errors import UsageError

    specials = tokenizer.num_special_tokens(pair)
    if max_length is not None and max_length <= specials:
        what = "a text pair" if pair else "one text"
        raise UsageError(f"--max-length {max_length} leaves no room for text: the tokenizer adds {specials} special tokens to {what}",
                         f"use --max-length {specials + 1} or more")
