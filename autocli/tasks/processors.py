"""The one logits-processor stack, shared by greedy, sampled and beam-search decoding.

Processors run in transformers' order: repetition penalty -> no-repeat n-gram -> min length -> forced BOS
-> forced EOS (then, when sampling, tasks/sampling.py's warpers). They see the tokens so far: a decoder-only
model's (left-padded) prompt and output, or an encoder-decoder's decoder tokens with its start token, as
transformers' do. Greedy and sampling process logits; beam search processes log-probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Processors:
    eos: list[int] = field(default_factory=list)
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_length: int = 0  # tokens so far, a start token included, before EOS may come
    forced_bos_token_id: int | None = None
    forced_eos_token_id: list[int] | None = None
    max_length: int = 0  # tokens so far at the end (forced EOS comes at max_length - 1)

    def __call__(self, seqs: torch.Tensor, scores: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """seqs (N, L) tokens so far, scores (N, V), real (N, L) marks what is not padding -> processed scores."""
        L = seqs.shape[1]
        if self.repetition_penalty != 1.0:
            scores = repetition_penalty(scores, seen(seqs, scores.shape[1], real), self.repetition_penalty)
        if self.no_repeat_ngram_size > 0:
            scores = no_repeat_ngram(seqs, scores, self.no_repeat_ngram_size)
        if self.min_length > 0 and L < self.min_length and self.eos:
            scores = scores.clone()
            scores[:, [e for e in self.eos if e < scores.shape[1]]] = -float("inf")
        if self.forced_bos_token_id is not None and L == 1:
            scores = force(scores, [self.forced_bos_token_id])
        if self.forced_eos_token_id and L == self.max_length - 1:
            scores = force(scores, self.forced_eos_token_id)
        return scores


def seen(seqs: torch.Tensor, vocab: int, real: torch.Tensor | None = None) -> torch.Tensor:
    """seqs (N, L) -> (N, V) bool: the tokens each row holds; padding (real False) never counts."""
    ids = seqs.clamp(max=vocab) if real is None else torch.where(real.bool(), seqs.clamp(max=vocab), vocab)
    out = torch.zeros((seqs.shape[0], vocab + 1), dtype=torch.bool, device=seqs.device)  # column V: "not a token"
    return out.scatter_(1, ids, True)[:, :vocab]


def repetition_penalty(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """scores (N, V), seen (N, V) bool: tokens already in the row are pushed down."""
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, penalised, scores)


def no_repeat_ngram(seqs: torch.Tensor, scores: torch.Tensor, n: int) -> torch.Tensor:
    """Ban each token that would complete an n-gram already in the row."""
    L = seqs.shape[1]
    if L < n:
        return scores
    prefix = seqs[:, L + 1 - n:]  # (N, n-1): the n-gram the next token would complete
    windows = seqs.unfold(1, n, 1)  # (N, L-n+1, n)
    matches = (windows[..., :-1] == prefix.unsqueeze(1)).all(-1)  # (N, L-n+1)
    V = scores.shape[1]
    banned = scores.new_zeros((scores.shape[0], V + 1), dtype=torch.bool)  # column V: "no ban"
    banned.scatter_(1, torch.where(matches, windows[..., -1].clamp(max=V), V), True)
    return scores.masked_fill(banned[:, :V], -float("inf"))


def force(scores: torch.Tensor, ids: list[int]) -> torch.Tensor:
    out = torch.full_like(scores, -float("inf"))
    out[:, ids] = 0
    return out
