"""`diff --outputs`: both checkpoints run on the same token ids, and how far apart their outputs are.

Both models read the ids of A's tokenizer, so the numbers measure the weights and the model code; tokenizer
differences are listed by the header diff (and gated by --require-same-tokenizer). Each input runs alone
(no padding). The head's outputs are compared as distributions over their last axis (labels, tags,
vocabulary; for QA, start and end over the positions); base checkpoints compare hidden states by |Δ| only. An
encoder-decoder LM is compared on its teacher-forced next-token distributions over the input shifted right (as
transformers' loss with labels = the input), and on its greedy continuations.
"""

from __future__ import annotations

from autocli import registry
from autocli.errors import Unsupported
from autocli.reports import OutputsDiff

# The tasks whose outputs diff compares, in the order a default is picked.
TASKS = ("causal-lm", "seq2seq-lm", "sequence-classification", "token-classification", "question-answering", "masked-lm", "base")


def pick_task(ckpts, task: str | None) -> str:
    """--task, else the first task both checkpoints declare that diff compares, else base."""
    if task is not None:
        wanted = registry.canonical_task(task)
        if wanted not in TASKS:
            raise Unsupported(f"diff --outputs does not compare {task!r} outputs", f"use one of: {', '.join(TASKS)}")
        return wanted
    declared = [set(registry.declared_tasks(c.config().architectures, registry.family(c.config().model_type))) for c in ckpts]
    return next((t for t in TASKS if all(t in d for d in declared)), "base")


def _distributions(out, task: str):
    """A head's output (1, ..., K) -> (N, K) rows of logits, one distribution per row."""
    if task == "question-answering":
        out = out.transpose(-1, -2)  # (1, 2, T): start and end over the positions
    return out.reshape(-1, out.shape[-1])


def _greedy(model, ids: list[int], new: int) -> list[int]:
    """The greedy continuation (a handful of tokens), each step recomputed in full: no cache to share."""
    import torch

    src, mask = torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)
    seq2seq = model.task == "seq2seq-lm"
    out = [int(model.config.raw.get("decoder_start_token_id") or 0)] if seq2seq else list(ids)
    start = len(out)
    with torch.inference_mode():
        for _ in range(new):
            if seq2seq:
                logits = model.module.logits(model.module.full_decode(src, mask, torch.tensor([out]))[:, -1])  # (1, V)
            else:
                logits = model(torch.tensor([out]), torch.ones(1, len(out), dtype=torch.long))[:, -1]  # (1, V)
            out.append(int(logits[0].argmax()))
    return out[start:]


def compare_outputs(specs: list[str], ckpts: list, texts: list[str], task: str | None, max_new_tokens: int,
                    shared) -> OutputsDiff:
    """Load both checkpoints (specs, resolved as ckpts) for one task and compare their outputs on texts."""
    import torch

    task = pick_task(ckpts, task)
    kinds = {registry.input_kind(c.config().model_type) for c in ckpts}
    if kinds != {"text"}:
        raise Unsupported(f"diff --outputs runs text checkpoints; this pair reads {' and '.join(sorted(kinds))}",
                          "drop --outputs: the header diff above it needs no inputs")
    lm = task in ("causal-lm", "seq2seq-lm")
    (_, tokenizer, a), (_, _, b) = (shared.load(s, task) for s in specs)
    worst, agree, kl, rows, same = 0.0, 0, 0.0, 0, 0
    for enc in tokenizer.encode_batch(texts, max_length=shared.max_length):
        ids, mask = torch.tensor([enc.ids]), torch.tensor([enc.attention_mask])
        types = torch.tensor([enc.type_ids])
        out_a, out_b = (m(ids, mask, types).float().cpu() for m in (a, b))
        worst = max(worst, float((out_a - out_b).abs().max()))
        if task != "base":
            pa, pb = _distributions(out_a, task), _distributions(out_b, task)
            agree += int((pa.argmax(-1) == pb.argmax(-1)).sum())
            la, lb = pa.double().log_softmax(-1), pb.double().log_softmax(-1)
            kl += float((la.exp() * (la - lb)).sum().clamp(min=0))  # KL(A || B), summed over the rows
            rows += pa.shape[0]
        if lm and max_new_tokens:
            same += _greedy(a, enc.ids, max_new_tokens) == _greedy(b, enc.ids, max_new_tokens)
    scored = task != "base" and rows > 0
    return OutputsDiff(
        task=task, inputs=len(texts), max_abs_diff=worst,
        top1_agreement=agree / rows if scored else None, mean_kl=kl / rows if scored else None,
        greedy_agreement=same / len(texts) if lm and max_new_tokens else None,
    )
