"""Token ids in, text out, one generated row at a time.

TextStream hands out only complete characters, and holds back text that might be the start of a stop
string until it is known not to be one. RowState is one row's bookkeeping: push(token) -> text delta, and
why the row finished (eos | stop | length).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A character is at most 4 UTF-8 bytes, so at most 4 tokens: a U+FFFD still there after that is invalid
# bytes the model produced, not a character still arriving.
UTF8_MAX_BYTES = 4


class TextStream:
    """Each step decodes a short window that starts one step back, so decoders that depend on context
    (a SentencePiece word's leading space, a byte-level character split over tokens) spell it right."""

    def __init__(self, tokenizer, stops: list[str]):
        self.tokenizer = tokenizer
        self.stops = stops
        self.ids: list[int] = []
        self.prefix = 0  # the window starts here
        self.read = 0  # ids before this are in self.text
        self.text = ""  # decoded so far (complete characters only), cut at a stop string
        self.emitted = 0  # characters of self.text handed out
        self.floor = 0  # stop strings are looked for from here (after an echoed prompt)
        self.stopped = False

    def prime(self, ids: list[int]) -> str:
        """Start from a prompt's ids (--echo): their text is handed out, and the continuation decodes in
        their context, so prompt + continuation is what decoding all ids at once gives."""
        self.ids = list(ids)
        self.text = self._decode(self.ids)
        self.read = len(self.ids)
        self.floor = self.emitted = len(self.text)
        return self.text

    def push(self, token: int) -> str:
        self.ids.append(token)
        if self.stopped:
            return ""
        prev = self._decode(self.ids[self.prefix:self.read])
        full = self._decode(self.ids[self.prefix:])
        if full.endswith("\ufffd") and len(self.ids) - self.read < UTF8_MAX_BYTES:
            return ""  # maybe an incomplete UTF-8 sequence: wait for the rest of the character
        self.text += full[len(prev):]
        self.prefix, self.read = self.read, len(self.ids)
        return self._release()

    def finish(self) -> str:
        """The rest of the text at the end (a trailing incomplete character shows as U+FFFD)."""
        if not self.stopped and self.read < len(self.ids):
            prev = self._decode(self.ids[self.prefix:self.read])
            self.text += self._decode(self.ids[self.prefix:])[len(prev):]
            self.read = len(self.ids)
        delta = self._release()
        rest = self.text[self.emitted:]
        self.emitted = len(self.text)
        return delta + rest

    def _decode(self, ids: list[int]) -> str:
        # a model may have more embedding rows than the tokenizer has tokens; those ids have no text
        n = self.tokenizer.vocab_size
        return self.tokenizer.decode([i for i in ids if i < n])

    def _release(self) -> str:
        hits = [self.text.find(stop, max(self.floor, self.emitted - len(stop) + 1)) for stop in self.stops]
        hits = [at for at in hits if at >= 0]
        if hits:  # the earliest stop string ends the text, and is not part of it
            self.text = self.text[: min(hits)]
            self.stopped = True
        safe = len(self.text) if self.stopped else len(self.text) - self._held()
        delta = self.text[self.emitted:safe]
        self.emitted = max(self.emitted, safe)
        return delta

    def _held(self) -> int:
        """Length of the longest tail of the generated text that begins some stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.text) - self.floor), best, -1):
                if self.text.endswith(stop[:n]):
                    best = n
                    break
        return best


@dataclass
class TopLogprob:
    id: int
    token: str
    logprob: float


@dataclass
class TokenLogprob:
    """One generated token: its log-probability and the top-N alternatives at that step (itself included
    when it is among them). Tokens the processors ruled out (log-probability -inf) are not listed."""

    id: int
    token: str
    logprob: float
    top: list[TopLogprob] = field(default_factory=list)


def token_logprob(tokenizer, token: int, logprob: float, top: list[tuple[int, float]]) -> TokenLogprob:
    def spell(i: int) -> str:
        return tokenizer.decode([i], skip_special_tokens=False) if i < tokenizer.vocab_size else ""

    alts = [TopLogprob(i, spell(i), v) for i, v in top if v != -float("inf")]
    return TokenLogprob(token, spell(token), logprob, alts)


class RowState:
    """One row of a batch: its tokens, its text so far, its log-probabilities, and why it finished."""

    def __init__(self, tokenizer, stops: list[str], eos: set[int], budget: int, echo: list[int] | None = None):
        self.tokenizer = tokenizer
        self.stream = TextStream(tokenizer, stops)
        self.eos = eos
        self.budget = budget  # new tokens this row may get
        self.ids: list[int] = []
        self.logprobs: list[TokenLogprob] = []
        self.reason: str | None = None  # eos | stop | length, once finished
        self.pending = self.stream.prime(echo) if echo is not None else ""  # echoed prompt text, not yet handed out

    @property
    def done(self) -> bool:
        return self.reason is not None

    def push(self, token: int, logprob: float | None = None, top: list | None = None) -> str:
        """A new token -> the text it adds (maybe none yet)."""
        self.ids.append(token)
        if logprob is not None:
            self.logprobs.append(token_logprob(self.tokenizer, token, logprob, top or []))
        delta, self.pending = self.pending, ""
        if token in self.eos:
            self.reason = "eos"
            return delta
        delta += self.stream.push(token)
        if self.stream.stopped:
            self.reason = "stop"
        elif len(self.ids) == self.budget:
            self.reason = "length"
        return delta

    def finish(self) -> str:
        """The rest of the text; a row still running ran out of steps."""
        self.reason = self.reason or "length"
        delta, self.pending = self.pending, ""
        return delta + self.stream.finish()

    @property
    def text(self) -> str:
        return self.stream.text
