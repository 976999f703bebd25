"""Speech to text with Whisper: one WhisperTranscription (or error record) per audio file, in input order.

As transformers' WhisperForConditionalGeneration.generate under its ASR pipeline: the file's log-mel features
(the whole file when longer than 30 s), then windows of 3000 frames from `seek` (zero-padded at the end). The
first window's encoder output detects the language when none is given (the likeliest language token after
<|startoftranscript|>). Each window decodes its prompt and then token by token through the shared step loop
(tasks/gen_loop.py: greedy; tasks/beam.py: --num-beams) with Whisper's processors (tasks/whisper_rules.py).
Its tokens are cut into timed segments; the next window starts at the last closed timestamp, or after the
window when it ended on a single timestamp or has none. Audio longer than 30 s always predicts timestamps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.results import TimedSegment, WhisperTranscription
from autocli.tasks import RunOptions
from autocli.tasks.batching import RunState, failed_inputs, stream_windows
from autocli.tasks.media import decoded
from autocli.tasks.whisper_rules import WhisperGeneration, WhisperRules, split_segments


@dataclass
class WhisperOptions(RunOptions):
    language: str | None = None  # None: detected from the first 30 s
    task: str | None = None  # transcribe | translate; None: the checkpoint's default
    timestamps: bool = False  # segments in the records (long audio predicts them anyway)
    num_beams: int | None = None  # None: generation_config.json's


class WindowSource:
    """One window for the step loop: the encoder output, the prompt run into a fresh cache, then one decoder call
    per token (the tokens so far, prompt included, are what the processors read)."""

    def __init__(self, model, enc, prompt: list[int], budget: int, expand: int = 1):
        import torch

        self.module, self.enc, self.budget, self.expand = model.module, enc, budget, expand
        N, P = enc.shape[0] * expand, len(prompt)
        self.prompt = torch.tensor([prompt] * N, dtype=torch.long, device=enc.device)  # (N, P)
        self.seqs = torch.full((N, P + budget), prompt[-1], dtype=torch.long, device=enc.device)  # (N, P + new)
        self.seqs[:, :P] = self.prompt
        self.length, self.prompt_tokens, self.ready_at = P, 0, 0.0

    def first(self):
        m = self.module
        self.cache = m.new_cache(self.enc, None, self.expand, self.seqs.shape[1])
        h = m.backbone.decode(self.prompt, self.cache.cross, self.cache.cross_mask, self.cache)  # (N, P, H)
        self.ready_at = time.perf_counter()
        return m.logits(h[:, -1])  # (N, V)

    def step(self, tokens):
        return self.module.step(tokens.to(self.enc.device), self.cache)  # (N, V)

    def next(self, tokens):
        self.seqs[:, self.length] = tokens
        self.length += 1
        return self.step(tokens)

    def history(self):
        return self.seqs[:, : self.length], None


def detect_language(model, enc, g: WhisperGeneration) -> int:
    """transformers' detect_language: the likeliest language token after <|startoftranscript|>."""
    import torch

    m = model.module
    start = torch.full((enc.shape[0], 1), g.start, dtype=torch.long, device=enc.device)
    logits = m.logits(m.backbone.decode(start, m.backbone.cross_kv(enc), None, None)[:, -1]).float()  # (1, V)
    langs = torch.tensor(sorted(g.lang_to_id.values()), device=logits.device)
    return int(langs[logits[:, langs].argmax(-1)][0])


def decode_window(model, tokenizer, enc, prompt: list[int], budget: int, g: WhisperGeneration, s, timestamps: bool) -> list[int]:
    """One window's new tokens (greedy or beam search), its EOS dropped."""
    from autocli.tasks.gen_loop import _loop
    from autocli.tasks.gen_settings import beams, processors
    from autocli.tasks.gen_text import RowState

    rules = WhisperRules(g, len(prompt), timestamps)
    settings = beams(s)
    if settings.num_beams > 1:
        from autocli.tasks.beam import beam_search

        source = WindowSource(model, enc, prompt, budget, expand=settings.num_beams)
        shared = processors(s, max_length=len(prompt) + budget)
        first = [True]

        def step(tokens):
            if first[0]:
                first[0] = False
                return source.first()
            return source.step(tokens)

        hyps = beam_search(step, lambda r: source.cache.reorder(r.to(enc.device)), 1, prompt, budget, [g.eos], g.pad,
                           settings, lambda seqs, scores: rules(seqs, shared(seqs, scores)))
        ids = hyps[0][0].tokens
    else:
        source = WindowSource(model, enc, prompt, budget)
        state = RowState(tokenizer, [], {g.eos}, budget)
        _loop(source, [state], s, None, None, time.perf_counter(), extra=rules)
        ids = state.ids
    return ids[:-1] if ids and ids[-1] == g.eos else ids


def transcribe_samples(model, processor, samples, g: WhisperGeneration, s, options: WhisperOptions) -> tuple[list, str | None]:
    """A file's samples -> (segments [(start, end, tokens)], language code or None)."""
    import torch
    import torch.nn.functional as F

    fe = processor.feature_extractor
    feats = torch.from_numpy(fe.features(samples)).to(model.device, model.dtype)[None]  # (1, M, F)
    window = model.module.backbone.encoder.frames
    total = feats.shape[-1]
    timestamps = options.timestamps or total > window
    positions = model.module.backbone.a.max_target_positions
    seek, max_length, prompt, segments = 0, g.max_length, None, []
    with torch.inference_mode():
        while seek < total:
            frames = min(total - seek, window)
            enc = model.module.encode(F.pad(feats[:, :, seek:seek + frames], (0, window - frames)), None)  # (1, S, H)
            if prompt is None:
                prompt = g.prompt(options.language, options.task, timestamps, lambda: detect_language(model, enc, g))
            budget, max_length = g.budget(max_length, len(prompt), positions)
            ids = decode_window(model, processor.tokenizer, enc, prompt, budget, g, s, timestamps)
            found, move = split_segments(ids, g.timestamp_begin, seek, frames)
            segments += found
            seek += move
    return segments, g.language_of(prompt or [])


def text_of(tokenizer, tokens: list[int], ts: int) -> str:
    return tokenizer.decode([t for t in tokens if t < ts], skip_special_tokens=True)


def transcribe_whisper(model, processor, items: Iterable, options: WhisperOptions, g: WhisperGeneration, s) -> Iterator:
    """One record per file, in input order; a file that cannot be decoded is its own error record. Files run one
    after another, one window at a time (the pipeline's default batch of one; --batch-size is not used)."""
    tok, ts = processor.tokenizer, g.timestamp_begin

    def window(items: list, run: RunState) -> list:
        records, todo = failed_inputs(items)
        run.bar.grow(len(todo), len(todo))
        for slot in todo:
            raws, ok = decoded(processor, items, [slot], records)
            if ok:
                segments, language = transcribe_samples(model, processor, raws[0], g, s, options)
                text = text_of(tok, [t for seg in segments for t in seg.tokens], ts)
                timed = [TimedSegment(round(seg.start, 2), round(seg.end, 2), text_of(tok, seg.tokens, ts))
                         for seg in segments] if options.timestamps else None
                seconds = round(len(raws[0]) / processor.sampling_rate, 3)
                records[slot] = WhisperTranscription(items[slot].index, text, seconds, language, timed, items[slot].shown)
            run.bar.advance(1)
        return records

    return stream_windows(items, options, None, window, "transcribe")
