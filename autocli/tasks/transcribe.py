"""Speech to text with a CTC head: one Transcription (or error record) per audio file, in input order.

Long files run in chunks exactly as transformers' ASR pipeline cuts them for CTC (chunk_iter): windows of
chunk_length seconds starting every chunk_length - 2 * stride seconds (all lengths multiples of the model's
samples per frame), each normalised on its own; the frames of each window's left and right stride are dropped
(but the file's first and last), the rest joined and decoded once. Chunks run in batches of --batch-size as
they are cut, so a long file never holds more than its decoded samples and one batch of chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from autocli.errors import UsageError
from autocli.results import Transcription
from autocli.tasks import RunOptions
from autocli.tasks.batching import RunState, failed_inputs, stream_windows
from autocli.tasks.media import decoded, shortest_input

CHUNK_SECONDS = 30.0  # files up to this long run whole, as the pipeline without chunk_length_s runs them


@dataclass
class TranscribeOptions(RunOptions):
    chunk_length: float = CHUNK_SECONDS  # seconds; 0 = each file in one pass
    stride: float | None = None  # seconds each side; None = chunk_length / 6, as the pipeline


@dataclass
class Chunk:
    slot: int
    values: dict  # the processor's inputs for this chunk alone (batch of 1)
    keep: tuple[int, int]  # (left, right) stride in samples, dropped from its frames


@dataclass
class Pending:
    """Per file: the kept frames' ids of each chunk, in order, and how many chunks are still to run."""

    ids: dict = field(default_factory=dict)  # chunk number -> list of ids
    cut: bool = False  # every chunk has been cut
    seconds: float = 0.0


def chunk_sizes(options: TranscribeOptions, rate: int, align: int) -> tuple[int, int] | None:
    """(chunk, stride) in samples, multiples of `align` as the pipeline rounds them; None: no chunking."""
    if options.chunk_length <= 0:
        return None
    stride_s = options.chunk_length / 6 if options.stride is None else options.stride
    chunk = int(round(options.chunk_length * rate / align) * align)
    stride = int(round(stride_s * rate / align) * align)
    if chunk - 2 * stride <= 0:
        raise UsageError(f"--chunk-length {options.chunk_length:g} s leaves nothing between two strides of {stride_s:g} s",
                         "use a --stride below a third of --chunk-length, or a longer --chunk-length")
    return chunk, stride


def chunks(samples, size: tuple[int, int] | None):
    """(chunk, left stride, right stride) over a file, as transformers' chunk_iter."""
    n = len(samples)
    if size is None:
        yield samples, 0, 0
        return
    chunk, stride = size
    for start in range(0, n, chunk - 2 * stride):
        part, last = samples[start:start + chunk], start + chunk >= n
        left, right = (0 if start == 0 else stride), (0 if last else stride)
        if len(part) > left:
            yield part, left, right
        if last:
            return


def kept_frames(ids, n: int, left: int, right: int, align: int) -> list:
    """The pipeline's rescale_stride: the frames of a chunk of n samples past its strides."""
    frames = int(round(n / align))
    lo, hi = int(round(left / n * frames)), frames - int(round(right / n * frames))
    return list(ids[lo:hi])


def transcribe(model, processor, decoder, items: Iterable, options: TranscribeOptions) -> Iterator:
    align, shortest = model.module.backbone.samples_per_frame, shortest_input(model)
    size = chunk_sizes(options, processor.sampling_rate, align)

    def window(items: list, run: RunState) -> list:
        records, todo = failed_inputs(items)
        files: dict[int, Pending] = {}
        queue = Batches(model, processor, options.batch_size, align)
        run.bar.grow(len(todo), len(todo))
        for slot in todo:
            raws, ok = decoded(processor, items, [slot], records, shortest)
            if not ok:
                run.bar.advance(1)
                continue
            files[slot] = Pending(seconds=len(raws[0]) / processor.sampling_rate)
            for k, (part, left, right) in enumerate(chunks(raws[0], size)):
                if len(part) >= shortest:  # a shorter last piece has no frame to give
                    queue.add(Chunk(slot, processor([part]), (left, right)), k, files)
            files[slot].cut = True
            queue.finish_done(files, items, records, decoder, run)
        queue.flush(files)
        queue.finish_done(files, items, records, decoder, run)
        return records

    return stream_windows(items, options, None, window, "transcribe")


class Batches:
    """Chunks waiting for a forward pass, grouped by processor.batch_key (no padding the model cannot mask)."""

    def __init__(self, model, processor, batch_size: int, align: int):
        self.model, self.size, self.align = model, max(1, batch_size), align
        self.processor, self.masked, self.pad_value = processor, processor.return_attention_mask, processor.padding_value
        self.groups: dict = {}  # width key -> [(chunk, number)]

    def add(self, chunk: Chunk, number: int, files: dict) -> None:
        key = self.processor.batch_key(chunk.values["input_values"][0])
        group = self.groups.setdefault(key, [])
        group.append((chunk, number))
        if len(group) >= self.size:
            self.run(self.groups.pop(key), files)

    def flush(self, files: dict) -> None:
        for key in list(self.groups):
            self.run(self.groups.pop(key), files)

    def run(self, group: list, files: dict) -> None:
        import numpy as np

        inputs = [c.values for c, _ in group]
        width = max(v["input_values"].shape[1] for v in inputs)
        batch = {name: np.concatenate([np.pad(v[name], ((0, 0), (0, width - v[name].shape[1])),
                                              constant_values=self.pad_value if name == "input_values" else 0) for v in inputs])
                 for name in inputs[0]}  # (B, S)
        ids = self.model(**batch).argmax(-1).cpu().numpy()  # (B, T)
        # a padded row's own frames end before the batch's: transformers' output lengths
        own = self.model.frames_mask(batch["attention_mask"]).sum(-1).tolist() if self.masked else [ids.shape[1]] * len(group)
        for (chunk, number), row, v, t in zip(group, ids, inputs, own):
            n = v["input_values"].shape[1]
            files[chunk.slot].ids[number] = kept_frames(row[:t], n, *chunk.keep, self.align)

    def finish_done(self, files: dict, items: list, records: list, decoder, run: RunState) -> None:
        """Records for the files whose every chunk has run."""
        for slot in [s for s, p in files.items() if p.cut and not self.waiting(s)]:
            p = files.pop(slot)
            text = decoder.decode([i for k in sorted(p.ids) for i in p.ids[k]])
            records[slot] = Transcription(items[slot].index, text, round(p.seconds, 3), items[slot].shown)
            run.bar.advance(1)

    def waiting(self, slot: int) -> bool:
        return any(c.slot == slot for group in self.groups.values() for c, _ in group)
