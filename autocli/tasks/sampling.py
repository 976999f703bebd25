"""Choosing the next token: greedy or sampled, with transformers' warpers' math and order.

After the shared processors (tasks/processors.py), sampling applies temperature -> top-k -> top-p -> min-p,
then draws from the softmax; greedy takes the most likely token of the processed scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FILTERED = -float("inf")


@dataclass
class Sampling:
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50  # transformers' default when sampling; 0 turns it off
    top_p: float = 1.0
    min_p: float | None = None
    seed: int | None = None

    def problems(self) -> list[tuple[str, bool, str, str | None]]:
        """(setting, is it wrong, message, hint) for each value that could be out of range."""
        return [
            ("temperature", self.temperature < 0, f"--temperature {self.temperature} is negative", "use 0 for greedy, or a positive number"),
            ("top_k", self.top_k < 0, f"--top-k {self.top_k} is negative", "use 0 to turn top-k off"),
            ("top_p", not 0 < self.top_p <= 1, f"--top-p {self.top_p} is outside (0, 1]", "1 turns top-p off"),
            ("min_p", self.min_p is not None and not 0 <= self.min_p <= 1, f"--min-p {self.min_p} is outside [0, 1]", None),
        ]

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0


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
    """Greedy or seeded sampling over processed scores; `final` gives the scores the choice is made from
    (what transformers reports as a step's scores)."""

    def __init__(self, s: Sampling, device="cpu"):
        self.s = s
        self.generator = None
        if not s.greedy:
            self.generator = torch.Generator(device=device)
            if s.seed is not None:
                self.generator.manual_seed(s.seed)
            else:
                self.generator.seed()

    def final(self, scores: torch.Tensor) -> torch.Tensor:
        """Processed scores (B, V) -> the scores the token is chosen from (warped when sampling)."""
        return scores if self.s.greedy else warp(scores, self.s)

    def pick(self, scores: torch.Tensor) -> torch.Tensor:
        """final scores (B, V) -> next token ids (B,)."""
        if self.s.greedy:
            return scores.argmax(dim=-1)
        return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=self.generator).squeeze(1)
