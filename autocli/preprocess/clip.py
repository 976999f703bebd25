"""CLIPProcessor: the image processor and the tokenizer of an image-text checkpoint, paired as transformers'
ProcessorMixin pairs them. Images go through the image processor (the processor's own methods, so the image
commands use it unchanged); texts through the tokenizer, padded to the longest of a batch (`padding=True`,
the zero-shot pipeline's call) on the tokenizer's padding side.
"""

from __future__ import annotations

from autocli.errors import UsageError
from autocli.preprocess.image import NEEDS  # noqa: F401  (Pillow and numpy, checked when the processor loads)


class CLIPProcessor:
    def __init__(self, image_processor, tokenizer):
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.input = image_processor.input
        image_processor.texts = 'texts go with embed --text, similar --image FILE or classify --labels "cat,dog"'
        self.load = image_processor.load
        self.batch_key = image_processor.batch_key

    def __call__(self, raws: list) -> dict:
        return self.image_processor(raws)

    def text(self, texts: list[str], max_length: int | None = None, truncation: bool = False) -> dict:
        """Texts -> {"input_ids", "attention_mask"}: (B, T) int64 arrays, padded to the longest. Without
        truncation a text longer than max_length is refused, naming it."""
        import numpy as np

        encs = self.tokenizer.encode_batch(list(texts), max_length=max_length if truncation else None)
        if max_length is not None and not truncation:
            for text, enc in zip(texts, encs):
                if len(enc.ids) > max_length:
                    raise UsageError(f"{text!r} is {len(enc.ids)} tokens; the text tower reads at most {max_length}",
                                     "shorten it")
        width = max(len(e.ids) for e in encs)
        pad = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
        ids = np.full((len(encs), width), pad, dtype=np.int64)  # (B, T)
        mask = np.zeros((len(encs), width), dtype=np.int64)  # (B, T)
        for row, enc in enumerate(encs):
            n = len(enc.ids)
            cols = slice(width - n, width) if self.tokenizer.padding_side == "left" else slice(0, n)
            ids[row, cols], mask[row, cols] = enc.ids, 1
        return {"input_ids": ids, "attention_mask": mask}

    def settings(self) -> dict:
        return {**self.image_processor.settings(), "processor": type(self).__name__,
                "image_processor": self.image_processor.name, "tokenizer": self.tokenizer.source}

    def steps(self) -> list[str]:
        return list(self.image_processor.steps())
