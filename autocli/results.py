"""What the commands produce: one dataclass per result type, and the error record of a failed input.

Tasks build these; render.py is the only place that prints them, with one renderer per type. Fields
whose name starts with "_" are for the table only (the input text, shown beside the result) and never
appear in JSON; a field marked `optional` is left out of JSON while it is None (e.g. logits not asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autocli.errors import AutocliError


def optional(default=None):
    """A field that JSON leaves out while it holds None."""
    return field(default=default, metadata={"optional": True})


@dataclass
class ErrorRecord:
    index: int
    error: dict  # {"message", "hint", "exit_code"}


def error_record(index: int, err: AutocliError) -> ErrorRecord:
    return ErrorRecord(index, err.as_record())


# ---- classify ----------------------------------------------------------------------------------


@dataclass
class LabelScore:
    label: str
    score: float | None  # None: the model's output is not a finite number


@dataclass
class Classification:
    index: int
    label: str  # the best label
    score: float | None
    scores: list[LabelScore]  # the top-k labels, best first
    logits: list[float] | None = optional()  # (L,) raw head outputs, with --logits
    _text: str = ""
    _pair: str | None = None


# ---- tag ---------------------------------------------------------------------------------------


@dataclass
class Entity:
    label: str
    score: float
    text: str  # the original text[start:end]
    start: int
    end: int
    word: str  # the tokens decoded, as transformers' "word"
    token: int | None = None  # token position (aggregation none only)


@dataclass
class Tagged:
    index: int
    entities: list[Entity]
    logits: list[list[float]] | None = optional()  # (T, L) per token of the encoding, with --logits
    _text: str = ""


# ---- qa ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    answer: str
    score: float
    start: int  # character offsets into the context; 0, 0 for the empty answer
    end: int


@dataclass
class Answered:
    index: int
    answer: str  # the best answer
    score: float
    start: int
    end: int
    answers: list[Answer]  # the top-k, best first
    logits: list[list[list[float]]] | None = optional()  # per window (Tw, 2): start, end logits, with --logits
    _question: str = ""


# ---- fill-mask ---------------------------------------------------------------------------------


@dataclass
class Candidate:
    token: str  # the token decoded, as transformers' token_str
    id: int
    score: float
    sequence: str  # the input with this mask filled


@dataclass
class Mask:
    position: int  # token position
    start: int  # character offsets of the mask in the text
    end: int
    candidates: list[Candidate]
    logits: list[float] | None = optional()  # (V,) at this mask, with --logits


@dataclass
class Filled:
    index: int
    masks: list[Mask]
    _text: str = ""


# ---- embed -------------------------------------------------------------------------------------


@dataclass
class Embedding:
    index: int
    embedding: list[float]
    _text: str = ""


# ---- similar -----------------------------------------------------------------------------------


@dataclass
class Match:
    index: int  # the input's position (a folder counts as its image files)
    rank: int  # 1 = the most similar
    score: float  # cosine similarity to the query in the model's shared space
    input: str  # the file or the text


# ---- transcribe --------------------------------------------------------------------------------


@dataclass
class Transcription:
    index: int
    text: str
    seconds: float  # the recording's length
    _text: str = ""  # the file, for the table


@dataclass
class TimedSegment:
    start: float  # seconds from the start of the recording
    end: float
    text: str


@dataclass
class WhisperTranscription:
    index: int
    text: str
    seconds: float  # the recording's length
    language: str | None  # the language code the decoder was prompted with (given or detected); None: English-only
    segments: list[TimedSegment] | None = optional()  # with --timestamps
    _text: str = ""  # the file, for the table


# ---- choose ------------------------------------------------------------------------------------


@dataclass
class ChoiceScore:
    choice: int
    text: str
    score: float
    logits: list[float] | None = optional()  # the head's raw outputs for this pair, with --logits


@dataclass
class Chosen:
    index: int
    choice: int  # the best choice's position in the list
    text: str
    score: float
    scores: list[ChoiceScore]  # every choice, in the given order
    _question: str = ""


# ---- tokenize ----------------------------------------------------------------------------------


@dataclass
class Tokenized:
    index: int
    text: str
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    type_ids: list[int]
    truncated: bool
    pair: str | None = optional()
    attention_mask: list[int] | None = optional()  # with --padding
    _sequence_ids: list = field(default_factory=list)  # for the table's text column


@dataclass
class Decoded:
    index: int
    ids: list[int]
    text: str


# ---- documents (LayoutLM: words with their boxes on the page) ----------------------------------


@dataclass
class WordLabel:
    word: str
    box: list[int]  # [x0, y0, x1, y1], 0-1000
    label: str  # its first sub-token's best label
    score: float


@dataclass
class WordSpan:
    """Consecutive words of a document: an entity (label) or an answer (label "")."""

    label: str
    score: float
    text: str  # the words joined by spaces
    words: list[str]
    boxes: list[list[int]]
    first: int  # index of the first word in the document
    last: int  # index of the last word


@dataclass
class DocumentTagged:
    index: int
    document: str  # the document JSON's path
    entities: list[WordSpan]
    words: list[WordLabel]  # every word the model read, with its label
    logits: list[list[float]] | None = optional()  # (T, L) per text token, with --logits


@dataclass
class DocumentAnswered:
    index: int
    document: str
    question: str
    answer: str  # the best answer's words, joined by spaces
    score: float
    boxes: list[list[int]]  # the best answer's word boxes
    answers: list[WordSpan]  # the top-k, best first
    logits: list[list[float]] | None = optional()  # (T, 2) start, end per text token, with --logits
