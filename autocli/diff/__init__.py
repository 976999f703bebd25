"""diff: what differs between two checkpoints, from their configs and weight headers. No torch.

Each side is read the way `inspect` and `compat` read one checkpoint (their code, not a copy): the
config keys that change the math, architectures, the heads present and each task's verdict, the
tensors (collapsed by layer pattern as `inspect --tensors` collapses them), tied weights, and the
tokenizer, generation and preprocessor configs. When both sides are local folders, each tensor's
stored bytes are hashed too (read in bounded chunks), so a changed weight shows as `content`.

The JSON document (schema "autocli.diff/1") is described by `autocli diff --schema` (diff/schema.py).
"""

from __future__ import annotations

from autocli import compat, registry
from autocli.checkpoint import Checkpoint
from autocli.diff.hashing import tensor_digests
from autocli.diff.sidefiles import changes, config_changes, dtype_change, generation_view, preprocessor_view, tokenizer_view
from autocli.errors import AutocliError
from autocli.inspect import inspect
from autocli.inspect.weights import collapse
from autocli.reports import Change, DiffResult, DiffSide, InspectResult, TensorChange

__all__ = ["TENSOR_CHANGES", "diff", "differences", "gate_failures", "tensor_changes"]

TENSOR_CHANGES = ("added", "removed", "reshaped", "retyped", "content")


class _Side:
    """One checkpoint as inspect and compat see it, plus its tensors."""

    def __init__(self, ckpt: Checkpoint):
        self.ckpt = ckpt
        self.report: InspectResult = inspect(ckpt)
        self.raw = ckpt.config().raw
        self.tensors = {n: t for h in (ckpt.headers() if self.report.weights.format == "safetensors" else {}).values()
                        for n, t in h.tensors.items()}
        try:
            self.verdicts = {t: v.verdict for t, v in compat.assess(ckpt.name, compat.gather(ckpt), list(registry.TASKS)).verdicts.items()}
        except AutocliError as e:  # an unreadable side file: every verdict says so
            self.verdicts = {t: f"error: {e.message}" for t in registry.TASKS}

    def ties(self) -> list[list[str]]:
        """Sorted [name, name] pairs that share one tensor: stored once (aliases), tied by the config, or a head
        the family ties to its embeddings without storing it."""
        pairs = {tuple(sorted(p)) for p in (self.report.parameters.tied if self.report.parameters else [])}
        fam = registry.family(self.report.model_type)
        if fam is not None:
            stored = registry.canonical_keys(fam, self.tensors)
            for head in registry.tied_keys(fam, self.tensors, self.raw) - stored:
                pairs.add(tuple(sorted((registry.tie_sources(fam.tied[head])[0], head))))
        return [list(p) for p in sorted(pairs)]

    def side(self) -> DiffSide:
        return DiffSide(self.ckpt.name, "local" if self.ckpt.is_local else "hub", self.ckpt.commit)


def _signature(t) -> dict | None:
    return None if t is None else {"shape": list(t.shape), "dtype": t.dtype}


def _tensor_kind(ta, tb, da, db) -> str | None:
    if ta is None or tb is None:
        return "added" if ta is None else "removed"
    if ta.shape != tb.shape:
        return "reshaped"
    if ta.dtype != tb.dtype:
        return "retyped"
    return "content" if da is not None and db is not None and da.get(ta.name) != db.get(tb.name) else None


def tensor_changes(a: dict, b: dict, digests_a: dict | None = None, digests_b: dict | None = None) -> list[TensorChange]:
    """name -> TensorInfo of each side (and optional name -> content digest) -> the changes, collapsed by layer."""
    entries = []
    for name in a.keys() | b.keys():
        kind = _tensor_kind(a.get(name), b.get(name), digests_a, digests_b)
        if kind:
            sig_a, sig_b = _signature(a.get(name)), _signature(b.get(name))
            key = (kind, repr(sig_a), repr(sig_b))
            entries.append((name, key, (sig_a, sig_b)))
    out = [TensorChange(kind, name, count, members[0][1][0], members[0][1][1])
           for name, (kind, _, _), count, members in collapse(entries)]
    return sorted(out, key=lambda c: TENSOR_CHANGES.index(c.change))


def _pair(key: str, a, b) -> Change | None:
    return None if a == b else Change(key, a, b)


def diff(a: Checkpoint, b: Checkpoint, hashes: bool = True) -> DiffResult:
    """Everything that differs between two checkpoints, without loading either; hashes: compare the stored
    bytes of every tensor when both are local folders."""
    sa, sb = _Side(a), _Side(b)
    hashed = hashes and a.is_local and b.is_local and bool(sa.tensors) and bool(sb.tensors)
    da, db = (tensor_digests(a), tensor_digests(b)) if hashed else (None, None)
    ra, rb = sa.report, sb.report
    result = DiffResult(
        a=sa.side(), b=sb.side(), identical=False, hashed=hashed,
        config=config_changes(sa.raw, sb.raw),
        dtype=dtype_change(sa.raw, sb.raw),
        architectures=_pair("architectures", ra.architectures, rb.architectures),
        heads=_pair("heads", ra.heads_in_weights, rb.heads_in_weights),
        tasks=[Change(t, sa.verdicts[t], sb.verdicts[t]) for t in registry.TASKS if sa.verdicts[t] != sb.verdicts[t]],
        tensors=tensor_changes(sa.tensors, sb.tensors, da, db),
        ties=_pair("ties", sa.ties(), sb.ties()),
        tokenizer=changes(tokenizer_view(a, ra), tokenizer_view(b, rb)),
        generation=changes(generation_view(ra), generation_view(rb)),
        preprocessor=changes(preprocessor_view(ra), preprocessor_view(rb)),
    )
    result.identical = not differences(result)
    return result


def differences(r: DiffResult) -> list[str]:
    """Every difference as one short stable string (`section:key`), in report order: what tests and gates read."""
    out = [f"config:{c.key}" for c in r.config]
    out += [f"{name}" for name in ("dtype", "architectures", "heads", "ties") if getattr(r, name) is not None]
    out += [f"task:{c.key}" for c in r.tasks]
    out += [f"tensor:{c.change}:{c.name}" for c in r.tensors]
    out += [f"{section}:{c.key}" for section in ("tokenizer", "generation", "preprocessor") for c in getattr(r, section)]
    return out


def gate_failures(r: DiffResult, max_kl: float | None, same_tokenizer: bool, same_heads: bool) -> list[str]:
    """The gates that fail, each named with what failed."""
    out = []
    if max_kl is not None and r.outputs is not None and not (r.outputs.mean_kl is not None and r.outputs.mean_kl <= max_kl):
        out.append(f"--max-kl {max_kl:g}: mean KL divergence is {r.outputs.mean_kl}")
    if same_tokenizer and r.tokenizer:
        out.append(f"--require-same-tokenizer: {', '.join(c.key for c in r.tokenizer[:5])}"
                   + (f" and {len(r.tokenizer) - 5} more differ" if len(r.tokenizer) > 5 else " differ"))
    if same_heads and r.heads is not None:
        out.append(f"--require-same-heads: A has {r.heads.a}, B has {r.heads.b}")
    return out
