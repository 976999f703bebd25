"""Beam search and the logits processors seq2seq generation adds, with transformers' math and order.

Processors run in transformers' order: repetition penalty -> no-repeat n-gram -> min length -> forced BOS
-> forced EOS (then, when sampling, tasks/sampling.py's warpers). They see the decoder's tokens so far,
start token included, as transformers' do.

beam_search() is transformers' vectorised beam search (generation/utils.py `_beam_search`): each step keeps
the best 2K (more with several EOS ids) continuations of all K beams, moves the finished ones (EOS or the
length limit) into a K-best list with their length penalty, continues with the best K unfinished, and stops
as early_stopping says (True: K finished; False: a heuristic bound; "never": the exact bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from autocli.errors import UsageError

NEG = -1.0e9  # transformers' "never choose this" score


@dataclass
class Processors:
    eos: list[int] = field(default_factory=list)
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_length: int = 0  # decoder tokens, start included, before EOS may come
    forced_bos_token_id: int | None = None
    forced_eos_token_id: list[int] | None = None
    max_length: int = 0  # decoder tokens, start included (forced EOS comes at max_length - 1)

    def __call__(self, seqs: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """seqs (N, L) decoder tokens so far, scores (N, V) -> processed scores."""
        L = seqs.shape[1]
        if self.repetition_penalty != 1.0:
            scores = repetition_penalty(seqs, scores, self.repetition_penalty)
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


def repetition_penalty(seqs: torch.Tensor, scores: torch.Tensor, penalty: float) -> torch.Tensor:
    seen = torch.gather(scores, 1, seqs)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return scores.scatter(1, seqs, seen)


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


@dataclass
class BeamSettings:
    num_beams: int
    length_penalty: float = 1.0
    early_stopping: bool | str = False  # True, False or "never"
    num_return_sequences: int = 1

    def check(self) -> None:
        if self.num_beams < 1:
            raise UsageError(f"--num-beams {self.num_beams} must be at least 1")
        if not 1 <= self.num_return_sequences <= self.num_beams:
            raise UsageError(f"--num-return-sequences {self.num_return_sequences} must be between 1 and --num-beams ({self.num_beams})",
                             "raise --num-beams or lower --num-return-sequences")
        if self.early_stopping not in (True, False, "never"):
            raise UsageError(f"early_stopping {self.early_stopping!r} is not true, false or \"never\"", "fix generation_config.json")


@dataclass
class Hypothesis:
    tokens: list[int]  # generated tokens (the start token not included)
    score: float  # sum of log-probabilities / length ** length_penalty


def beam_search(step: Callable[[torch.Tensor], torch.Tensor], reorder: Callable[[torch.Tensor], None], batch: int,
                start: int, max_new: int, eos: list[int], pad: int | None, s: BeamSettings,
                processors: Processors) -> list[list[Hypothesis]]:
    """step(tokens (B*K,)) -> logits (B*K, V) for the next token of each beam (its cache advanced);
    reorder(rows (B*K,)) makes beam row i continue from row rows[i]. Returns num_return_sequences
    hypotheses per batch row, best first."""
    B, K = batch, s.num_beams
    max_length = 1 + max_new  # decoder tokens, the start token included
    keep = max(2, 1 + len(eos)) * K
    top_mask = torch.arange(keep) < K
    fill = pad if pad else (eos[0] if eos else -1)  # transformers' `pad or eos[0]`: what unfinished slots hold
    running = torch.full((B, K, max_length), fill, dtype=torch.long)
    running[:, :, 0] = start
    sequences = running.clone()
    lengths = torch.zeros((B, K), dtype=torch.long)  # generated tokens of each kept hypothesis
    running_scores = torch.zeros((B, K))
    running_scores[:, 1:] = NEG  # all beams start equal: only the first one's continuations count
    beam_scores = torch.full((B, K), NEG)
    finished = torch.zeros((B, K), dtype=torch.bool)
    unsatisfied = torch.ones((B, 1), dtype=torch.bool)  # the running beams may still beat the finished ones
    eos_t = torch.tensor(eos, dtype=torch.long)
    offsets = torch.arange(B)[:, None] * K
    lp = s.length_penalty
    cur = 1
    tokens = running[:, :, 0].reshape(-1)
    while True:
        logits = step(tokens).float().cpu()  # (B*K, V)
        V = logits.shape[-1]
        logp = processors(running.view(B * K, -1)[:, :cur], torch.log_softmax(logits, dim=-1))
        logp = (logp.view(B, K, V) + running_scores[:, :, None]).view(B, K * V)
        top_scores, top_idx = torch.topk(logp, keep)  # (B, 2K)
        beam, tok = top_idx // V, top_idx % V
        cand = torch.take_along_dim(running, beam[:, :, None], dim=1)  # (B, 2K, L)
        cand[:, :, cur] = tok
        rows = beam + offsets  # the flat beam row each candidate continues
        hits = torch.isin(tok, eos_t) | (cur + 1 >= max_length)  # (B, 2K)

        # the best K unfinished candidates run on
        run_scores = top_scores + hits.float() * NEG
        nxt = torch.topk(run_scores, K)[1]
        running = torch.take_along_dim(cand, nxt[:, :, None], dim=1)
        running_scores = torch.take_along_dim(run_scores, nxt, dim=1)
        source = torch.take_along_dim(rows, nxt, dim=1)

        # finished candidates among the top K join the K best finished hypotheses
        done = hits & top_mask[None]
        fin_scores = top_scores / (cur ** lp)  # generated length: the start token does not count
        fin_scores = fin_scores + (finished.all(-1, keepdim=True) & (s.early_stopping is True)).float() * NEG
        fin_scores = fin_scores + (~unsatisfied).float() * NEG
        fin_scores = fin_scores + (~done).float() * NEG
        merged = torch.cat((beam_scores, fin_scores), dim=1)
        best = torch.topk(merged, K)[1]
        sequences = torch.take_along_dim(torch.cat((sequences, cand), dim=1), best[:, :, None], dim=1)
        beam_scores = torch.take_along_dim(merged, best, dim=1)
        finished = torch.take_along_dim(torch.cat((finished, done), dim=1), best, dim=1)
        lengths = torch.take_along_dim(torch.cat((lengths, torch.full((B, keep), cur)), dim=1), best, dim=1)

        cur += 1
        best_len = (max_length - 1) if s.early_stopping == "never" and lp > 0.0 else (cur - 1)
        best_running = running_scores[:, :1] / (best_len ** lp)
        worst_finished = torch.where(finished, beam_scores.min(dim=1, keepdim=True)[0], NEG)
        unsatisfied = unsatisfied & (best_running > worst_finished).any(-1, keepdim=True)
        go_on = bool(unsatisfied.any()) and not (bool(finished.all()) and s.early_stopping is True) and not bool(hits.all())
        if not go_on:
            break
        reorder(source.reshape(-1))
        tokens = running[:, :, cur - 1].reshape(-1)

    out = []
    for b in range(B):
        out.append([Hypothesis(sequences[b, j, 1:1 + int(lengths[b, j])].tolist(), float(beam_scores[b, j]))
                    for j in range(s.num_return_sequences)])
    return out
