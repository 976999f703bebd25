"""Beam search, transformers' vectorised algorithm (generation/utils.py `_beam_search`).

Each step keeps the best 2K (more with several EOS ids) continuations of all K beams, moves the finished
ones (EOS or the length limit) into a K-best list with their length penalty, continues with the best K
unfinished, and stops as early_stopping says (True: K finished; False: a heuristic bound; "never": the exact
bound). Scores are the processed log-probabilities (log-softmax, then the shared processors), which is also
what each token's log-probability is: transformers' beam `scores`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from autocli.tasks.processors import Processors

NEG = -1.0e9  # transformers' "never choose this" score


@dataclass
class BeamSettings:
    num_beams: int
    length_penalty: float = 1.0
    early_stopping: bool | str = False  # True, False or "never"
    num_return_sequences: int = 1

    def problems(self) -> list[tuple[str, bool, str, str | None]]:
        """(setting, is it wrong, message, hint) for each value that could be out of range."""
        return [
            ("num_beams", self.num_beams < 1, f"--num-beams {self.num_beams} must be at least 1", None),
            ("num_return_sequences", not 1 <= self.num_return_sequences <= max(self.num_beams, 1),
             f"--num-return-sequences {self.num_return_sequences} must be between 1 and --num-beams ({self.num_beams})",
             "raise --num-beams or lower --num-return-sequences"),
            ("early_stopping", self.early_stopping not in (True, False, "never"),
             f"early_stopping {self.early_stopping!r} is not true, false or \"never\"", "fix generation_config.json"),
        ]


@dataclass
class Hypothesis:
    tokens: list[int]  # generated tokens (the start token not included)
    score: float  # sum of log-probabilities / length ** length_penalty
    logprobs: list[float] = field(default_factory=list)  # per token, when asked for
    top: list[list[tuple[int, float]]] = field(default_factory=list)  # per token: the top-N (id, log-probability)


def _rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """t (B, M, ...) -> t[b, idx[b, j], ...] (B, J, ...)."""
    return torch.take_along_dim(t, idx.view(*idx.shape, *[1] * (t.dim() - 2)), dim=1)


class Beams:
    """The running beams and the K best finished hypotheses of B inputs; each is a set of per-token tracks
    (tokens, and with log-probabilities asked for, each token's and its top-N alternatives')."""

    def __init__(self, B: int, s: BeamSettings, prompt: list[int], max_length: int, fill: int, n_eos: int, top_n: int | None):
        K = s.num_beams
        self.B, self.K, self.s, self.max_length, self.top_n = B, K, s, max_length, top_n
        self.P = len(prompt)  # decoder tokens every beam starts with (the start token, or Whisper's prompt)
        self.keep = max(2, 1 + n_eos) * K
        self.run = {"tokens": torch.full((B, K, max_length), fill, dtype=torch.long)}  # (B, K, L)
        if top_n is not None:
            self.run["lp"] = torch.zeros((B, K, max_length))
            self.run["alt_ids"] = torch.zeros((B, K, max_length, top_n), dtype=torch.long)
            self.run["alt_lp"] = torch.zeros((B, K, max_length, top_n))
        self.run["tokens"][:, :, : self.P] = torch.tensor(prompt, dtype=torch.long)
        self.fin = {k: v.clone() for k, v in self.run.items()}
        self.lengths = torch.zeros((B, K), dtype=torch.long)  # generated tokens of each kept hypothesis
        self.run_scores = torch.zeros((B, K))
        self.run_scores[:, 1:] = NEG  # all beams start equal: only the first one's continuations count
        self.fin_scores = torch.full((B, K), NEG)
        self.finished = torch.zeros((B, K), dtype=torch.bool)
        self.unsatisfied = torch.ones((B, 1), dtype=torch.bool)  # the running beams may still beat the finished ones
        self.offsets = torch.arange(B)[:, None] * K

    def candidates(self, step_lp: torch.Tensor, cur: int):
        """step_lp (B*K, V) processed log-probabilities -> the top `keep` continuations: their total scores,
        tracks, and the flat beam row each continues."""
        B, K, V = self.B, self.K, step_lp.shape[-1]
        total = (step_lp.view(B, K, V) + self.run_scores[:, :, None]).view(B, K * V)
        top_scores, top_idx = torch.topk(total, self.keep)  # (B, 2K)
        beam, tok = top_idx // V, top_idx % V
        cand = {k: _rows(v, beam) for k, v in self.run.items()}  # (B, 2K, L, ...)
        cand["tokens"][:, :, cur] = tok
        if self.top_n is not None:
            cand["lp"][:, :, cur] = step_lp.view(B, K * V).gather(1, top_idx)
            alt_lp, alt_ids = torch.topk(step_lp, min(self.top_n, V))  # (B*K, N)
            cand["alt_ids"][:, :, cur, : alt_ids.shape[1]] = _rows(alt_ids.view(B, K, -1), beam)
            cand["alt_lp"][:, :, cur, : alt_lp.shape[1]] = _rows(alt_lp.view(B, K, -1), beam)
        return top_scores, cand, beam + self.offsets, tok

    def advance(self, top_scores, cand, rows, hits, cur: int) -> torch.Tensor:
        """Keep the best K unfinished candidates running and the K best finished; -> the rows they continue."""
        s, K = self.s, self.K
        run_scores = top_scores + hits.float() * NEG
        nxt = torch.topk(run_scores, K)[1]
        self.run = {k: _rows(v, nxt) for k, v in cand.items()}
        self.run_scores = torch.take_along_dim(run_scores, nxt, dim=1)
        source = torch.take_along_dim(rows, nxt, dim=1)

        done = hits & (torch.arange(self.keep) < K)[None]  # finished candidates among the top K
        scores = top_scores / ((cur - self.P + 1) ** s.length_penalty)  # generated length: the prompt does not count
        scores = scores + (self.finished.all(-1, keepdim=True) & (s.early_stopping is True)).float() * NEG
        scores = scores + (~self.unsatisfied).float() * NEG + (~done).float() * NEG
        merged = torch.cat((self.fin_scores, scores), dim=1)
        best = torch.topk(merged, K)[1]
        self.fin = {k: _rows(torch.cat((self.fin[k], cand[k]), dim=1), best) for k in self.fin}
        self.fin_scores = torch.take_along_dim(merged, best, dim=1)
        self.finished = torch.take_along_dim(torch.cat((self.finished, done), dim=1), best, dim=1)
        new_lengths = torch.full((self.B, self.keep), cur - self.P + 1)
        self.lengths = torch.take_along_dim(torch.cat((self.lengths, new_lengths), dim=1), best, dim=1)
        return source

    def go_on(self, cur: int, hits: torch.Tensor) -> bool:
        """cur: decoder tokens now (the prompt included). Whether any input may still improve."""
        s = self.s
        lp = s.length_penalty
        best_len = (self.max_length - self.P) if s.early_stopping == "never" and lp > 0.0 else (cur - self.P)
        best_running = self.run_scores[:, :1] / (best_len ** lp)
        worst_finished = torch.where(self.finished, self.fin_scores.min(dim=1, keepdim=True)[0], NEG)
        self.unsatisfied = self.unsatisfied & (best_running > worst_finished).any(-1, keepdim=True)
        all_done = bool(self.finished.all()) and s.early_stopping is True
        return bool(self.unsatisfied.any()) and not all_done and not bool(hits.all())

    def hypotheses(self) -> list[list[Hypothesis]]:
        out = []
        for b in range(self.B):
            row = []
            for j in range(self.s.num_return_sequences):
                n = int(self.lengths[b, j])
                at = slice(self.P, self.P + n)
                h = Hypothesis(self.fin["tokens"][b, j, at].tolist(), float(self.fin_scores[b, j]))
                if self.top_n is not None:
                    h.logprobs = self.fin["lp"][b, j, at].tolist()
                    ids, lps = self.fin["alt_ids"][b, j, at].tolist(), self.fin["alt_lp"][b, j, at].tolist()
                    h.top = [list(zip(i, v)) for i, v in zip(ids, lps)]
                row.append(h)
            out.append(row)
        return out


def beam_search(step: Callable[[torch.Tensor], torch.Tensor], reorder: Callable[[torch.Tensor], None], batch: int,
                start: int | list[int], max_new: int, eos: list[int], pad: int | None, s: BeamSettings,
                processors: Processors, top_n: int | None = None) -> list[list[Hypothesis]]:
    """step(tokens (B*K,)) -> logits (B*K, V) for the next token of each beam (its cache advanced);
    reorder(rows (B*K,)) makes beam row i continue from row rows[i]. `start`: the decoder's start token, or the
    prompt every beam starts with (its first step is then given the prompt's last token: the step function
    feeds the whole prompt). Returns num_return_sequences hypotheses per batch row, best first; top_n (not None)
    also records log-probabilities."""
    B, K = batch, s.num_beams
    prompt = [start] if isinstance(start, int) else list(start)
    max_length = len(prompt) + max_new  # decoder tokens, the prompt included
    fill = pad if pad else (eos[0] if eos else -1)  # transformers' `pad or eos[0]`: what unfinished slots hold
    beams = Beams(B, s, prompt, max_length, fill, len(eos), top_n)
    eos_t = torch.tensor(eos, dtype=torch.long)
    cur = len(prompt)
    tokens = beams.run["tokens"][:, :, cur - 1].reshape(-1)
    while True:
        logits = step(tokens).float().cpu()  # (B*K, V)
        step_lp = processors(beams.run["tokens"].view(B * K, -1)[:, :cur], torch.log_softmax(logits, dim=-1))
        top_scores, cand, rows, tok = beams.candidates(step_lp, cur)
        hits = torch.isin(tok, eos_t) | (cur + 1 >= max_length)  # (B, 2K)
        source = beams.advance(top_scores, cand, rows, hits, cur)
        cur += 1
        if not beams.go_on(cur, hits):
            break
        reorder(source.reshape(-1))
        tokens = beams.run["tokens"][:, :, cur - 1].reshape(-1)
    return beams.hypotheses()
