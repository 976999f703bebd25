"""Causal LM: loss, perplexity and bits per byte over a text, with transformers' strided sliding window.

The text is tokenized as one stream (with the special tokens the tokenizer adds, as `tokenizer(text)` does)
and read in windows of --max-length tokens that start --stride tokens apart, as in transformers'
"Perplexity of fixed-length models": each window scores only the tokens the previous window did not reach,
with the tokens before them as context. A window's loss is exactly transformers' loss on that window with
the other labels set to -100. The total is token-weighted: the sum of every scored token's negative
log-likelihood over the number of scored tokens, each token scored at most once (the stream's first token,
and with --stride equal to the window each window's first, have no context and are not scored). The
guide's own loop weights each window's mean by its target count minus one, which is one off for every
overlapping window after the first; the sum here has no such bias.

bits per byte = total NLL (nats) / ln 2 / UTF-8 bytes of the text: comparable across tokenizers.
Logits are computed only at the scored positions, a chunk at a time, never (window, vocab) at once; the
last decoder layer runs its queries and MLP only from the batch's first scored position on. The projections
run on the kernels generation picks (autocli.kernels).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from autocli.errors import UsageError
from autocli.evaluate import EvalOptions, Outcome
from autocli.evaluate.data import read_text
from autocli.results import error_record
from autocli.tasks import row_limit

METRICS = ("loss", "perplexity", "bits_per_byte")
# Positions whose logits exist at once: (CHUNK, vocab) float32 (200 MB for a 50k vocab at 1024).
CHUNK = 512
# The default window when the model allows longer ones (a 128k-position model would otherwise attend over
# the whole file at once); --max-length sets any length up to the positions.
DEFAULT_WINDOW = 4096


class Window(NamedTuple):
    begin: int  # the window is tokens [begin, end) of the stream
    end: int
    first: int  # it scores tokens [first, end): those no earlier window scored (never token 0)


def strided_windows(n: int, size: int, stride: int) -> list[Window]:
    """transformers' loop: windows start every `stride` tokens; each scores from the previous window's end."""
    out, prev_end = [], 0
    for begin in range(0, n, stride):
        end = min(begin + size, n)
        out.append(Window(begin, end, max(prev_end, begin + 1)))
        prev_end = end
        if end == n:
            break
    return out


def settings(model, tokenizer, options: EvalOptions) -> tuple[int, int]:
    """(window size, stride): --max-length capped at the model's positions (the tokenizer's model_max_length
    only when the model names none: a stream is cut into windows, never truncated), by default the positions up
    to DEFAULT_WINDOW; --stride (default: half the window)."""
    positions = model.max_positions or model.config.get("context_length")
    if positions is None:
        size = row_limit(model, tokenizer, options.max_length or DEFAULT_WINDOW)
    else:
        size = min(options.max_length or min(positions, DEFAULT_WINDOW), positions)
    if size is None:
        raise UsageError("the model names no length limit", "give --max-length N")
    if size < 2:
        raise UsageError(f"a {size}-token window predicts nothing", "use --max-length 2 or more")
    stride = options.stride if options.stride is not None else max(1, size // 2)
    if not 1 <= stride <= size:
        raise UsageError(f"--stride {stride} must be between 1 and the window ({size} tokens)",
                         "a stride over the window would leave tokens unscored")
    return size, stride


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    text, rows, bad = read_text(path, options.limit)
    ids = tokenizer.encode(text, truncation=False).ids if text else []
    if len(ids) < 2:
        raise UsageError(f"{path} holds {len(ids)} token(s): perplexity needs at least 2", "give a longer text")
    size, stride = settings(model, tokenizer, options)
    wins = strided_windows(len(ids), size, stride)
    sums = window_nll(model, ids, wins, options)
    total, count = sum(s for s, _ in sums), sum(w.end - w.first for w in wins)
    loss = total / count
    n_bytes = len(text.encode("utf-8"))
    metrics = {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else math.inf,
               "bits_per_byte": total / math.log(2) / n_bytes}
    details = {"tokens": len(ids), "scored_tokens": count, "bytes": n_bytes, "windows": len(wins),
               "max_length": size, "stride": stride}
    predictions = [{"window": k, "begin": w.begin, "end": w.end, "scored": w.end - w.first, "loss": s / (w.end - w.first)}
                   for k, (w, (s, _)) in enumerate(zip(wins, sums))]
    errors = [error_record(item.index, item.error) for item in bad]
    return Outcome(metrics, rows, errors, details, predictions)


def window_nll(model, ids: list[int], wins: list[Window], options: EvalOptions) -> list[tuple[float, int]]:
    """(sum of NLL, scored tokens) per window, windows run in batches."""
    from autocli.evaluate import in_batches
    from autocli.tasks.batching import Row, pad

    rows = [Row(ids[w.begin : w.end]) for w in wins]

    def run(batch):
        input_ids, mask, _ = pad([rows[i] for i in batch], 0, model.device)  # (B, T) each
        picks = [(r, wins[i].first - wins[i].begin, wins[i].end - wins[i].begin) for r, i in enumerate(batch)]
        return [(nll.sum().item(), nll.numel()) for nll in scored_nll(model.module, input_ids, mask, picks)]

    return in_batches(model, [len(r.ids) for r in rows], options, run)


def scored_nll(module, input_ids, mask, picks: list[tuple[int, int, int]]) -> list:
    """NLL of tokens [lo, hi) of row r for each pick (r, lo, hi), from the logits at positions [lo-1, hi-1)."""
    import torch

    from autocli.evaluate.losses import token_nll
    from autocli.models._task import Inputs

    start = 0
    if module.kind == "decoder":  # the last layer and the LM head only where a token is scored
        module.lay_out(next(module.parameters()))
        start = min(lo for _, lo, _ in picks) - 1
        states, head = module.hidden(Inputs(input_ids, mask), start), module.logits  # (B, T - start, H)
    else:
        states, head = module(input_ids, mask), (lambda x: x)  # (B, T, V)
    sel = torch.cat([states[r, lo - 1 - start : hi - 1 - start] for r, lo, hi in picks])  # (N, H)
    targets = torch.cat([input_ids[r, lo:hi] for r, lo, hi in picks])  # (N,)
    nll = torch.cat([token_nll(head(sel[a : a + CHUNK]), targets[a : a + CHUNK]) for a in range(0, len(targets), CHUNK)])
    return list(nll.split([hi - lo for _, lo, hi in picks]))
