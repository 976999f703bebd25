"""Choosing the next token: greedy or sampled, with transformers' logits processors' math and order.

Order as transformers' generate: repetition penalty (also when greedy), then, when sampling,
temperature -> top-k -> top-p -> min-p, then a draw from the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autocli.errors import UsageError

FILTERED = -float("inf")


@dataclass
class Sampling:
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50  # transformers' default when sampling; 0 turns it off
    top_p: float = 1.0
    min_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None

    def check(self) -> None:
        if self.temperature < 0:
            raise UsageError(f"--temperature {self.temperature} is negative", "use 0 for greedy, or a positive number")
        if self.top_k < 0:
            raise UsageError(f"--top-k {self.top_k} is negative", "use 0 to turn top-k off")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p {self.top_p} is outside (0, 1]", "1 turns top-p off")
        if self.min_p is not None and not 0 <= self.min_p <= 1:
            raise UsageError(f"--min-p {self.min_p} is outside [0, 1]")
        if not self.repetition_penalty > 0:
            raise UsageError(f"--repetition-penalty {self.repetition_penalty} must be positive", "1 turns it off")

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0


def repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """logits (B, V), seen (B, V) bool: tokens already in the row (prompt and output) are pushed down."""
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


def top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k)[0][..., -1, None]  # (B, 1)
    return logits.masked_fill(logits < kth, FILTERED)


def top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    sorted_logits, order = torch.sort(logits, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= (1 - p)
    drop[..., -1:] = False  # always keep the most likely token
    return logits.masked_fill(drop.scatter(1, order, drop), FILTERED)


def min_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    probs = torch.softmax(logits, dim=-1)
    drop = probs < p * probs.amax(dim=-1, keepdim=True)
    drop.scatter_(-1, probs.argmax(dim=-1, keepdim=True), False)
    return logits.masked_fill(drop, FILTERED)


def warp(logits: torch.Tensor, s: Sampling) -> torch.Tensor:
    """The sampling-only processors, in transformers' order."""
    if s.temperature != 1.0:
        logits = logits / s.temperature
    if s.top_k:
        logits = top_k(logits, s.top_k)
    if s.top_p < 1.0:
        logits = top_p(logits, s.top_p)
    if s.min_p is not None:
        logits = min_p(logits, s.min_p)
    return logits


class Chooser:
    """Per-request state: which tokens each row has seen (for the penalty) and the seeded generator."""

    def __init__(self, s: Sampling, batch: int, vocab: int, device="cpu"):
        self.s = s
        self.seen = torch.zeros(batch, vocab, dtype=torch.bool, device=device) if s.repetition_penalty != 1.0 else None
        self.generator = None
        if not s.greedy:
            self.generator = torch.Generator(device=device)
            if s.seed is not None:
                self.generator.manual_seed(s.seed)
            else:
                self.generator.seed()

    def observe(self, ids: torch.Tensor, real: torch.Tensor | None = None) -> None:
        """ids (B, T) entered the rows; real (B, T) marks which of them are not padding."""
        if self.seen is None:
            return
        ids = ids.clamp(0, self.seen.shape[1] - 1)
        mark = torch.ones_like(ids, dtype=torch.int32) if real is None else real.to(torch.int32)
        counts = torch.zeros(self.seen.shape, dtype=torch.int32, device=self.seen.device).scatter_add_(1, ids, mark)
        self.seen |= counts > 0  # (B, V); padding never counts as seen

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (B, V) -> next token ids (B,)."""
        logits = logits.float()
        if self.seen is not None:
            logits = repetition_penalty(logits, self.seen[:, : logits.shape[-1]], self.s.repetition_penalty)
        if self.s.greedy:
            return logits.argmax(dim=-1)
        probs = torch.softmax(warp(logits, self.s), dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
