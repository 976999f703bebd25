"""Whisper's decoding rules, as transformers' WhisperGenerationMixin applies them: the decoder prompt
(<|startoftranscript|>, language, task, <|notimestamps|>) from generation_config.json and the options, the
logits processors (begin-suppress, suppress, timestamp pairs), and the cut of one window's tokens into timed
segments with the frames to move on by. Plain data and tensor arithmetic; the step loop is tasks/gen_loop.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from autocli.errors import InvalidCheckpoint, Unsupported, UsageError

TASKS = ("transcribe", "translate")
TIME_PRECISION = 0.02  # seconds per timestamp token step
INPUT_STRIDE = 2  # feature frames per encoder position (the second convolution's stride)
FRAME_SECONDS = 0.01  # seconds per feature frame (hop 160 at 16 kHz), as transformers' time_precision_features


def _ids(value, what: str) -> list[int]:
    values = value if isinstance(value, list) else [] if value is None else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise InvalidCheckpoint(f"generation_config.json: {what} is {value!r}, not token ids", f"fix {what}")
    return values


@dataclass
class WhisperGeneration:
    """What generation_config.json says about Whisper's prompt, suppressed tokens and lengths."""

    start: int
    eos: int
    pad: int
    no_timestamps: int | None = None
    lang_to_id: dict = field(default_factory=dict)
    task_to_id: dict = field(default_factory=dict)
    multilingual: bool | None = None
    forced: list = field(default_factory=list)  # forced_decoder_ids: [[position, id or None], ...]
    suppress: list = field(default_factory=list)
    begin_suppress: list = field(default_factory=list)
    max_initial_timestamp_index: int | None = None
    max_length: int = 448
    max_new_tokens: int | None = None

    @classmethod
    def read(cls, gen: dict, config: dict) -> "WhisperGeneration":
        """generation_config.json, config.json where it is silent (older checkpoints)."""
        def get(key, default=None):
            value = gen.get(key)
            return config.get(key, default) if value is None else value

        start, eos = _ids(get("decoder_start_token_id"), "decoder_start_token_id"), _ids(get("eos_token_id"), "eos_token_id")
        if not start or not eos:
            raise InvalidCheckpoint("generation_config.json names no decoder_start_token_id or eos_token_id",
                                    "Whisper checkpoints ship both (<|startoftranscript|>, <|endoftext|>)")
        pad = _ids(get("pad_token_id"), "pad_token_id") or eos
        out = cls(start[0], eos[0], pad[0], suppress=_ids(get("suppress_tokens"), "suppress_tokens"),
                  begin_suppress=_ids(get("begin_suppress_tokens"), "begin_suppress_tokens"))
        nts = _ids(gen.get("no_timestamps_token_id"), "no_timestamps_token_id")
        out.no_timestamps = nts[0] if nts else None
        for key in ("lang_to_id", "task_to_id"):
            table = gen.get(key) or {}
            if not isinstance(table, dict) or not all(_ids(v, key) for v in table.values()):
                raise InvalidCheckpoint(f"generation_config.json: {key} is not a table of token ids", f"fix {key}")
            setattr(out, key, table)
        out.multilingual = gen.get("is_multilingual")
        forced = get("forced_decoder_ids") or []
        out.forced = [list(f) for f in forced if isinstance(f, (list, tuple)) and len(f) == 2]
        out.max_initial_timestamp_index = gen.get("max_initial_timestamp_index")
        limit = gen.get("max_length")
        out.max_length = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 448
        new = gen.get("max_new_tokens")
        out.max_new_tokens = new if isinstance(new, int) and not isinstance(new, bool) and new > 0 else None
        return out

    @property
    def timestamp_begin(self) -> int:
        """The first timestamp token (<|0.00|>); without <|notimestamps|> none can ever match."""
        return self.no_timestamps + 1 if self.no_timestamps is not None else 1 << 62

    def check(self, language: str | None, task: str | None, timestamps: bool) -> None:
        """The options this checkpoint cannot honour, refused before any audio is decoded."""
        if self.multilingual is False and (task is not None or language is not None):
            raise Unsupported("this is an English-only Whisper model: --language and --task do not apply",
                              "drop them, or use a multilingual checkpoint (without .en)")
        if language is not None:
            self.language_id(language)
        if task is not None:
            if task not in TASKS:
                raise UsageError(f"--task {task!r} is not one of {', '.join(TASKS)}")
            if task not in self.task_to_id:
                raise Unsupported(f"generation_config.json has no task_to_id entry for {task!r}",
                                  "update the checkpoint's generation_config.json")
        if timestamps and self.no_timestamps is None:
            raise Unsupported("generation_config.json has no no_timestamps_token_id, so timestamps cannot be predicted",
                              "drop --timestamps, or update generation_config.json")

    def language_id(self, language: str) -> int:
        """A language code ("de"), or its token ("<|de|>") -> the token's id."""
        want = language.strip().lower()
        token = want if want.startswith("<|") else f"<|{want}|>"
        if not self.lang_to_id:
            raise Unsupported("generation_config.json has no lang_to_id table, so --language cannot be set",
                              "update the checkpoint's generation_config.json")
        if token not in self.lang_to_id:
            codes = ", ".join(sorted(k.strip("<|>") for k in self.lang_to_id))
            raise UsageError(f"--language {language!r} is not a language of this model", f"use a code: {codes}")
        return self.lang_to_id[token]

    def language_of(self, ids: list[int]) -> str | None:
        names = {v: k.strip("<|>") for k, v in self.lang_to_id.items()}
        return next((names[i] for i in ids if i in names), None)

    def prompt(self, language: str | None, task: str | None, timestamps: bool, detect: Callable[[], int]) -> list[int]:
        """The decoder's first tokens, as transformers' _retrieve_init_tokens; detect() -> the detected language id."""
        init = [self.start]
        if task is None and language is None:  # the older forced_decoder_ids, positions 1, 2, ... only
            for i, (pos, tok) in enumerate(sorted(self.forced, key=lambda f: f[0]), start=1):
                if pos != i:
                    break
                init.append(tok)
        lang = self.language_id(language) if language is not None else None
        if lang is None and self.lang_to_id and (len(init) <= 1 or init[1] is None):
            lang = detect()
        if lang is not None:
            init[1:2] = [lang]
        tasks = set(self.task_to_id.values())
        if task is not None:
            init = [t for t in init if t not in tasks] + [self.task_to_id[task]]
        elif language is not None and self.task_to_id and not tasks & set(init):
            init.append(self.task_to_id["transcribe"])
        if not timestamps and self.no_timestamps is not None and init[-1] != self.no_timestamps:
            init.append(self.no_timestamps)
        elif timestamps and init[-1] == self.no_timestamps:
            init = init[:-1]
        return [t for t in init if t is not None]

    def budget(self, max_length: int, prompt: int, positions: int) -> tuple[int, int]:
        """(new tokens for this window, the max_length the next window starts from): transformers raises
        max_length by the prompt's length once per window, up to the decoder's positions."""
        if self.max_new_tokens is not None:
            return max(1, min(self.max_new_tokens, positions - prompt)), max_length
        max_length = min(max_length + min(positions // 2 - 1, prompt), positions)
        return max(1, max_length - prompt), max_length


class WhisperRules:
    """transformers' SuppressTokensAtBegin, SuppressTokens and (with timestamps) WhisperTimeStamp processors, in
    that order, on scores (N, V) of rows whose tokens so far are seqs (N, L); the prompt is `begin` tokens."""

    def __init__(self, g: WhisperGeneration, begin: int, timestamps: bool):
        self.g, self.begin, self.timestamps = g, begin, timestamps

    def __call__(self, seqs: torch.Tensor, scores: torch.Tensor, real=None) -> torch.Tensor:
        V = scores.shape[-1]
        if self.g.begin_suppress and seqs.shape[1] == self.begin:
            scores = scores.clone()
            scores[:, [t for t in self.g.begin_suppress if t < V]] = -float("inf")
        if self.g.suppress:
            scores = scores.clone()
            scores[:, [t for t in self.g.suppress if t < V]] = -float("inf")
        return self.timestamp_rules(seqs, scores) if self.timestamps else scores

    def timestamp_rules(self, seqs: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        g, ts = self.g, self.g.timestamp_begin
        out = scores.clone()
        out[:, g.no_timestamps] = -float("inf")
        lowest = []
        for k, row in enumerate(seqs.tolist()):
            row = row[self.begin:]
            last = len(row) >= 1 and row[-1] >= ts
            penultimate = len(row) < 2 or row[-2] >= ts
            if last:
                if penultimate:
                    out[k, ts:] = -float("inf")  # a pair is closed: text next
                else:
                    out[k, : g.eos] = -float("inf")  # an open pair: its closing timestamp (or the end) next
            stamps = [t for t in row if t >= ts]
            lowest.append(ts if not stamps else stamps[-1] if last and not penultimate else stamps[-1] + 1)
        vocab = torch.arange(out.shape[-1], device=out.device)
        floor = torch.tensor(lowest, device=out.device)[:, None]
        out.masked_fill_((vocab >= ts) & (vocab < floor), -float("inf"))  # timestamps never go back
        if seqs.shape[1] == self.begin:
            out[:, :ts] = -float("inf")  # a window opens with a timestamp
            if g.max_initial_timestamp_index is not None:
                out[:, ts + g.max_initial_timestamp_index + 1:] = -float("inf")
        logprobs = torch.log_softmax(out.float(), dim=-1)
        stamp_mass = logprobs[:, ts:].logsumexp(dim=-1)
        best_text = logprobs[:, :ts].max(dim=-1).values
        out[:, :ts].masked_fill_((stamp_mass > best_text)[:, None], -float("inf"))  # timestamps likelier than any text
        return out


@dataclass
class Segment:
    start: float
    end: float
    tokens: list[int]


def split_segments(tokens: list[int], ts: int, seek: int, frames: int) -> tuple[list[Segment], int]:
    """One window's tokens (its EOS dropped) -> (timed segments, feature frames to move on by), as transformers'
    _retrieve_segment: consecutive timestamps close a segment; an unfinished last one is dropped and the next
    window starts at its last timestamp."""
    offset = seek * TIME_PRECISION / INPUT_STRIDE  # seconds
    is_ts = [t >= ts for t in tokens]
    single_ending = is_ts[-2:] == [False, True]
    cuts = [i + 1 for i in range(len(is_ts) - 1) if is_ts[i] and is_ts[i + 1]]
    if not cuts:
        stamps = [t for t in tokens if t >= ts]
        end = int(frames * FRAME_SECONDS / TIME_PRECISION)  # the window's length, in timestamp steps
        if stamps and stamps[-1] != ts:
            end = stamps[-1] - ts  # no closed pair, but a timestamp: the last one
        return [Segment(offset, offset + end * TIME_PRECISION, tokens)], frames
    if single_ending:
        cuts.append(len(tokens))
    else:
        cuts[-1] += 1  # the last timestamp stays with the last segment
    segments, last = [], 0
    for i, cut in enumerate(cuts):
        piece = tokens[last:cut]
        end_at = -1 if i < len(cuts) - 1 or single_ending else -2
        segments.append(Segment(offset + (piece[0] - ts) * TIME_PRECISION, offset + (piece[end_at] - ts) * TIME_PRECISION, piece))
        last = cut
    if single_ending:
        return segments, frames
    return segments, (tokens[last - 2] - ts) * INPUT_STRIDE
