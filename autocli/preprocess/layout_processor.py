"""LayoutLM processors: a document's words and boxes through the tokenizer, its image through the image
processor, as transformers' LayoutLMv2Processor / LayoutLMv3Processor combine them.

  words      already split (is_split_into_words): every word-piece gets its word's box
  specials   [CLS] / <s> gets cls_token_box, [SEP] / </s> sep_token_box, padding pad_token_box (v2: [0,0,0,0],
             [1000,1000,1000,1000], [0,0,0,0]; v3: all [0,0,0,0]; tokenizer_config.json may set others)
  question   question answering: the question split on whitespace is the first sequence (its tokens get
             pad_token_box), the words the second
  labels     word_labels aligned to tokens: with only_label_first_subword, a word's first token carries its label
             and the others pad_token_label (-100)
  truncation longest-first to max_length (the tokenizer's model_max_length when not given)
LayoutLM v1 has no processor in transformers: LayoutLMProcessor is the same alignment with v2's boxes, no image.
"""

from __future__ import annotations

from autocli.errors import InvalidCheckpoint, UsageError
from autocli.preprocess.layout import Document, load_document
from autocli.tokenizer import NO_LIMIT


class LayoutProcessor:
    """The tokenizer and (for v2 / v3) the image processor, over Document inputs."""

    input = "document"
    BOXES = {"cls_token_box": [0, 0, 0, 0], "sep_token_box": [1000, 1000, 1000, 1000], "pad_token_box": [0, 0, 0, 0]}
    TOKEN_TYPES = True  # BERT's tokenizer returns token_type_ids; RoBERTa's (v3) does not
    OFFSET_RULE = True  # v2 also asks a first sub-token to start at its word's character 0

    def __init__(self, image_processor, tokenizer):
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        cfg = tokenizer.config
        self.boxes = {k: _box(k, cfg.get(k), v) for k, v in self.BOXES.items()}
        self.pad_label = cfg.get("pad_token_label", -100) if isinstance(cfg.get("pad_token_label", -100), int) else -100
        self.first_subword = cfg.get("only_label_first_subword", True) is not False

    @property
    def apply_ocr(self) -> bool:
        return bool(getattr(self.image_processor, "apply_ocr", False))

    def load(self, path: str) -> Document:
        return load_document(path, self.image_processor, self.apply_ocr)

    def describe(self, doc: Document) -> dict:
        """What `preprocess` shows of the decoded input."""
        out = {"words": len(doc.words), "ocr": doc.ocr}
        if doc.image is not None:
            out.update(width=doc.image.width, height=doc.image.height, mode=doc.image.mode)
        return out

    def limit(self, max_length: int | None) -> int | None:
        if max_length is not None:
            return max_length
        tok_max = self.tokenizer.model_max_length
        return tok_max if isinstance(tok_max, int) and 0 < tok_max < NO_LIMIT else None

    def encode(self, docs: list, max_length: int | None = None) -> list:
        """Documents -> Encoded rows (word_ids index each document's words)."""
        asks = {d.question is not None for d in docs}
        if len(asks) > 1:
            raise UsageError("documents with and without a question cannot share a batch")
        words = [list(d.words) for d in docs]
        if True in asks:
            questions = [d.question.split() for d in docs]
            if not all(questions):
                raise UsageError("the question is empty", "pass a question with --question")
            return self.tokenizer.encode_batch(questions, words, max_length=self.limit(max_length), words=True)
        return self.tokenizer.encode_batch(words, max_length=self.limit(max_length), words=True)

    def token_boxes(self, doc: Document, enc) -> list:
        """One box per token of enc."""
        tok = self.tokenizer
        specials = {tok.cls_id: self.boxes["cls_token_box"], tok.sep_id: self.boxes["sep_token_box"],
                    tok.pad_id: self.boxes["pad_token_box"]}
        paired = doc.question is not None
        out = []
        for i, seq, word in zip(enc.ids, enc.sequence_ids, enc.word_ids):
            if word is not None:
                out.append(self.boxes["pad_token_box"] if paired and seq == 0 else list(doc.boxes[word]))
            else:
                out.append(specials.get(i, self.boxes["sep_token_box"]))
        return out

    def token_labels(self, doc: Document, enc) -> list:
        """word_labels on tokens (transformers' alignment for token classification)."""
        out, previous = [], None
        for offset, word in zip(enc.offsets, enc.word_ids):
            if word is None:
                out.append(self.pad_label)
            elif not self.first_subword:
                out.append(doc.labels[word])
            elif word != previous and (offset[0] == 0 or not self.OFFSET_RULE):
                out.append(doc.labels[word])
            else:
                out.append(self.pad_label)
            previous = word
        return out

    def __call__(self, docs: list, max_length: int | None = None, encs: list | None = None) -> dict:
        """{input_ids, attention_mask, (token_type_ids), bbox (B, T, 4), (labels), (pixel_values)} as int64 /
        float32 arrays, padded to the longest row on the tokenizer's padding side."""
        import numpy as np

        encs = self.encode(docs, max_length) if encs is None else encs
        T = max(len(e) for e in encs)
        pad_id = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
        rows = {"input_ids": [], "attention_mask": [], "bbox": []}
        if self.TOKEN_TYPES:
            rows["token_type_ids"] = []
        labelled = any(d.labels is not None for d in docs) and all(d.labels is not None for d in docs)
        if labelled:
            rows["labels"] = []
        for doc, enc in zip(docs, encs):
            n = T - len(enc)
            fill = {"input_ids": (enc.ids, pad_id), "attention_mask": (enc.attention_mask, 0),
                    "bbox": (self.token_boxes(doc, enc), self.boxes["pad_token_box"]),
                    "token_type_ids": (enc.type_ids, 0)}
            if labelled:
                fill["labels"] = (self.token_labels(doc, enc), self.pad_label)
            for name in rows:
                values, pad = fill[name]
                padding = [pad] * n
                rows[name].append(padding + list(values) if self.tokenizer.padding_side == "left" else list(values) + padding)
        out = {name: np.asarray(values, dtype=np.int64) for name, values in rows.items()}  # (B, T) and bbox (B, T, 4)
        if self.image_processor is not None and all(d.image is not None for d in docs):
            out.update(self.image_processor([d.image for d in docs]))  # pixel_values (B, 3, H, W)
        return out

    def batch_key(self, doc: Document):
        return doc.question is not None

    def settings(self) -> dict:
        inner = self.image_processor.settings() if self.image_processor is not None else {}
        return {**inner, "processor": type(self).__name__, "tokenizer": self.tokenizer.source,
                **{k: v for k, v in self.boxes.items()}, "only_label_first_subword": self.first_subword}

    def steps(self) -> list[str]:
        inner = [f"image: {s}" for s in self.image_processor.steps()] if self.image_processor is not None else []
        b = self.boxes
        page = ", image" if self.image_processor is not None else ""
        return [f"read the document JSON (words, 0-1000 boxes{page})"] + inner + [
            "tokenize the words (already split), the question first where there is one",
            f"one box per token: its word's; {b['cls_token_box']} for the first special token, {b['sep_token_box']} for "
            f"separators, {b['pad_token_box']} for padding and question tokens",
            "word_labels on each word's first token" if self.first_subword else "word_labels on every token of a word",
        ]


def _box(key: str, value, default: list) -> list:
    """A special token's box from tokenizer_config.json (absent: transformers' default for the class)."""
    if value is None:
        return list(default)
    ok = isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000 for v in value)
    if not ok:
        raise InvalidCheckpoint(f"tokenizer_config.json: {key} is {value!r}", f"{key} must be four integers in 0-1000, e.g. {default}")
    return list(value)


class LayoutLMProcessor(LayoutProcessor):
    """LayoutLM v1: words and boxes only (the model reads no pixels)."""


class LayoutLMv2Processor(LayoutProcessor):
    pass


class LayoutLMv3Processor(LayoutProcessor):
    BOXES = {"cls_token_box": [0, 0, 0, 0], "sep_token_box": [0, 0, 0, 0], "pad_token_box": [0, 0, 0, 0]}
    TOKEN_TYPES = False
    OFFSET_RULE = False
