"""The step loop: source -> processors -> chooser -> per-row state, for every model that generates.

A source owns the model's side of one batch: its cache, the first logits (decoder-only: the prompts'
prefill; encoder-decoder: the encoder, then the decoder's start token), the logits after each chosen token,
and the tokens so far that the processors read.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from autocli.errors import Unsupported
from autocli.tasks.gen_settings import GenerationSettings, beams, processors, sampling
from autocli.tasks.gen_text import RowState, TextStream, token_logprob
from autocli.tasks.generate import BatchResult, Sequence, Stats, is_seq2seq, new_token_budget, peak_memory
from autocli.tasks.sampling import Chooser


class CausalSource:
    """Decoder-only: left-padded prompts, one prefill call, then one decode call per token."""

    def __init__(self, model, rows: list[list[int]], pad: int, budget: int):
        self.module, device = model.module, model.device
        B, T = len(rows), max(len(r) for r in rows)
        self.ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows], dtype=torch.long, device=device)  # (B, T)
        self.mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=device)  # (B, T)
        self.seqs = torch.full((B, T + budget), pad, dtype=torch.long, device=device)  # (B, T + new) prompt, then output
        self.seqs[:, :T] = self.ids
        self.real = torch.zeros((B, T + budget), dtype=torch.bool, device=device)  # (B, T + new) not padding
        self.real[:, :T] = self.mask.bool()
        self.length, self.budget = T, budget
        self.prompt_tokens = int(self.mask.sum())
        self.ready_at = 0.0

    def first(self) -> torch.Tensor:
        self.cache = self.module.new_cache(self.ids.shape[0], self.length + self.budget)
        logits = self.module.prefill(self.ids, self.mask, self.cache)  # (B, V)
        self.ready_at = time.perf_counter()
        return logits

    def next(self, tokens: torch.Tensor) -> torch.Tensor:
        self.seqs[:, self.length] = tokens
        self.real[:, self.length] = True
        self.length += 1
        return self.module.decode(tokens, self.cache)  # (B, V)

    def history(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.seqs[:, : self.length], self.real[:, : self.length]


class EncoderDecoderSource:
    """Encoder-decoder: right-padded inputs, the encoder once, then one decoder call per token, each row
    repeated `expand` times (beams)."""

    def __init__(self, model, rows: list[list[int]], pad: int, start: int, budget: int, expand: int = 1):
        self.module, self.device = model.module, model.device
        B, S = len(rows), max(len(r) for r in rows)
        self.ids = torch.tensor([r + [pad] * (S - len(r)) for r in rows], dtype=torch.long, device=self.device)  # (B, S)
        self.mask = torch.tensor([[1] * len(r) + [0] * (S - len(r)) for r in rows], dtype=torch.long, device=self.device)
        self.seqs = torch.full((B, 1 + budget), start, dtype=torch.long, device=self.device)  # (B, 1 + new) decoder tokens
        self.length, self.budget, self.expand = 1, budget, expand
        self.prompt_tokens = int(self.mask.sum())
        self.ready_at = 0.0

    def open(self) -> None:
        enc = self.module.encode(self.ids, self.mask)  # (B, S, H)
        self.cache = self.module.new_cache(enc, self.mask, self.expand, self.budget)
        self.ready_at = time.perf_counter()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.module.step(tokens.to(self.device), self.cache)  # (N, V)

    def first(self) -> torch.Tensor:
        self.open()
        return self.step(self.seqs[:, 0])

    def next(self, tokens: torch.Tensor) -> torch.Tensor:
        self.seqs[:, self.length] = tokens
        self.length += 1
        return self.step(tokens)

    def history(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.seqs[:, : self.length], None


def run_batch(model, tokenizer, rows: list[list[int]], s: GenerationSettings, *, logprobs: int | None = None,
              echo: bool = False, on_text: Callable[[int, str], None] | None = None) -> BatchResult:
    """Token id rows -> per row its sequences (best first) and the batch's Stats. on_text(row, delta) is
    called as each row's text grows (beam search: once, when the search ends, since a beam's text can change)."""
    seq2seq = is_seq2seq(model)
    if seq2seq and echo:
        raise Unsupported("--echo is for decoder-only models: an encoder-decoder's output does not continue its input")
    pad, eos = s["pad_token_id"], set(s["eos_token_id"])
    if seq2seq:
        budget = new_token_budget(model, s, 1)  # the decoder's positions count its start token
        budgets = [budget] * len(rows)
        if beams(s).num_beams > 1:
            return _beam_batch(model, tokenizer, rows, s, budget, logprobs, on_text)
        source = EncoderDecoderSource(model, rows, pad, int(s["decoder_start_token_id"]), budget)
    else:
        budgets = [new_token_budget(model, s, len(r)) for r in rows]  # per row: positions are per row
        source = CausalSource(model, rows, pad, max(budgets))
    states = [RowState(tokenizer, list(s["stop_strings"]), eos, n, echo=r if echo else None) for r, n in zip(rows, budgets)]
    with torch.inference_mode():
        t0 = time.perf_counter()
        ttft = _loop(source, states, s, logprobs, on_text, t0)
        t_end = time.perf_counter()
    for b, state in enumerate(states):
        _emit(on_text, b, state.finish())
    new = sum(len(st.ids) for st in states)
    stats = Stats(prompts=len(rows), prompt_tokens=source.prompt_tokens, prefill_s=source.ready_at - t0, ttft_s=ttft,
                  new_tokens=max(new - len(rows), 0), decode_s=t_end - t0 - ttft, peak_memory_bytes=peak_memory(model.device),
                  encoder_decoder=seq2seq)
    return BatchResult([[Sequence(st.text, st.ids, st.reason, logprobs=st.logprobs if logprobs is not None else None)]
                        for st in states], stats)


def _loop(source, states: list[RowState], s: GenerationSettings, logprobs: int | None, on_text, t0: float,
          extra: Callable | None = None) -> float:
    """Greedy or sampled decoding until every row finished or the budget ran out; -> time to first token.
    Finished rows are fed padding, as transformers does. extra(seqs, scores, real) -> scores: a model's own
    processors (Whisper's), after the shared stack as transformers appends custom processors."""
    pad = s["pad_token_id"]
    stack = processors(s, max_length=source.seqs.shape[1])
    if extra is not None:
        shared = stack

        def stack(seqs, scores, real):
            return extra(seqs, shared(seqs, scores, real), real)
    chooser = Chooser(sampling(s), source.seqs.device)
    live = torch.ones(len(states), dtype=torch.bool, device=source.seqs.device)
    logits = source.first()  # (B, V)
    ttft = None
    for step in range(source.budget):
        seqs, real = source.history()
        scores = chooser.final(stack(seqs, logits.float(), real))  # (B, V)
        tokens = torch.where(live, chooser.pick(scores), pad)  # (B,)
        listed = tokens.tolist()
        ttft = ttft if ttft is not None else time.perf_counter() - t0
        chosen, top = _logprobs(scores, tokens, logprobs) if logprobs is not None else (None, None)
        for b, tok in enumerate(listed):
            state = states[b]
            if state.done:
                continue
            _emit(on_text, b, state.push(tok, None if chosen is None else chosen[b], None if top is None else top[b]))
            if state.done:
                live[b] = False
        if all(st.done for st in states) or step == source.budget - 1:
            break
        logits = source.next(tokens)
    return ttft or 0.0


def _logprobs(scores: torch.Tensor, tokens: torch.Tensor, n: int) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """scores (B, V) the choice was made from -> each row's chosen log-probability and top-n (id, log-probability)."""
    lp = torch.log_softmax(scores, dim=-1)  # (B, V)
    chosen = lp.gather(1, tokens[:, None]).squeeze(1).tolist()
    if n == 0:
        return chosen, [[] for _ in chosen]
    values, ids = torch.topk(lp, min(n, lp.shape[-1]))  # (B, n)
    return chosen, [list(zip(i, v)) for i, v in zip(ids.tolist(), values.tolist())]


def _emit(on_text, row: int, delta: str) -> None:
    if delta and on_text is not None:
        on_text(row, delta)


def _beam_batch(model, tokenizer, rows, s: GenerationSettings, budget: int, logprobs: int | None, on_text) -> BatchResult:
    """Beam search over the same source and processors; each row's hypotheses decoded when the search ends."""
    from autocli.tasks.beam import beam_search

    settings = beams(s)
    pad, eos = s["pad_token_id"], list(s["eos_token_id"])
    source = EncoderDecoderSource(model, rows, pad, int(s["decoder_start_token_id"]), budget, expand=settings.num_beams)
    ttft = None
    with torch.inference_mode():
        t0 = time.perf_counter()
        source.open()

        def step(tokens):
            nonlocal ttft
            logits = source.step(tokens)
            ttft = ttft if ttft is not None else time.perf_counter() - t0
            return logits

        hyps = beam_search(step, lambda r: source.cache.reorder(r.to(source.device)), len(rows), int(s["decoder_start_token_id"]),
                           budget, eos, pad, settings, processors(s, max_length=1 + budget), top_n=logprobs)
        out = []
        for b, row in enumerate(hyps):
            out.append([_hypothesis(tokenizer, h, set(eos), logprobs is not None) for h in row])
            _emit(on_text, b, "\n".join(seq.text for seq in out[-1]))
        t_end = time.perf_counter()
    ttft = ttft or 0.0
    new = sum(len(row[0].tokens) for row in hyps)
    stats = Stats(prompts=len(rows), prompt_tokens=source.prompt_tokens, prefill_s=source.ready_at - t0, ttft_s=ttft,
                  new_tokens=max(new - len(rows), 0), decode_s=t_end - t0 - ttft, peak_memory_bytes=peak_memory(model.device),
                  encoder_decoder=True)
    return BatchResult(out, stats)


def _hypothesis(tokenizer, h, eos: set[int], with_logprobs: bool) -> Sequence:
    ended = bool(h.tokens) and h.tokens[-1] in eos
    stream = TextStream(tokenizer, [])
    text = "".join(stream.push(t) for t in (h.tokens[:-1] if ended else h.tokens)) + stream.finish()
    lps = [token_logprob(tokenizer, t, v, top) for t, v, top in zip(h.tokens, h.logprobs, h.top)] if with_logprobs else None
    return Sequence(text, h.tokens, "eos" if ended else "length", h.score, lps)
