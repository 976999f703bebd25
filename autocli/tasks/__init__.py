"""Task runners: (model, tokenizer, items, options) -> a render.Batch of result dataclasses.

A task never prints. Progress and truncation warnings go to stderr through tasks/batching.py.
Nothing here imports torch at import time; the runners import it when they run.
"""

from __future__ import annotations

from dataclasses import dataclass

# Shared defaults of the encoder commands.
BATCH_SIZE = 32

# A tokenizer's model_max_length at or above this is transformers' "no limit" sentinel, not a limit.
NO_LIMIT = 1_000_000


@dataclass
class RunOptions:
    batch_size: int = BATCH_SIZE
    max_length: int | None = None  # tokens per forward row; None = the model's limit
    quiet: bool = False  # no progress bar, no warnings


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
):
    """Resolve a checkpoint and load its tokenizer and the model for `task` -> (ckpt, tokenizer, model)."""
    from autocli.checkpoint import Checkpoint
    from autocli.compat.weights import refuse_unloadable
    from autocli.config import refuse_remote_code
    from autocli.models import load_model
    from autocli.tokenizer import load_tokenizer

    ckpt = Checkpoint.resolve(spec, revision=revision, cache_dir=cache_dir, token=token, offline=offline)
    refuse_remote_code(ckpt)
    refuse_unloadable(ckpt)
    tokenizer = load_tokenizer(ckpt)
    model = load_model(
        ckpt, task, device=device, dtype=dtype, allow_random_head=allow_random_head, allow_pickle=allow_pickle
    )
    return ckpt, tokenizer, model
