"""Documents (LayoutLM): a document JSON's words, boxes and page image through the processor and the model.

An input names a document JSON file (fields["document"]); a file that cannot be read or checked is its own
error record. Documents run in batches of --batch-size, in input order, truncated to the model's limit (one
warning names the truncated inputs; their cut-off words get no label and cannot be an answer).
  classify   the sequence classifier's labels, as text classification
  tag        each word's label is its first sub-token's argmax (the token transformers trains the label on,
             only_label_first_subword); consecutive words of one entity merge (B-/I- tags as transformers'
             simple aggregation; --aggregation none keeps one entity per word)
  qa         the answer is a span of words: start and end probabilities (softmax over the word tokens and CLS),
             their product ranked over spans of at most --max-answer-length tokens, as transformers' document QA
             pipeline; a word span that several token spans give is listed once, at its best score
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from autocli import registry
from autocli.errors import AutocliError, Unsupported, UsageError
from autocli.results import DocumentAnswered, DocumentTagged, WordLabel, WordSpan, error_record
from autocli.tasks import row_limit
from autocli.tasks.batching import RunState, failed_inputs, stream_windows
from autocli.tasks.classify import label_names, label_records
from autocli.tasks.tag import split_tag


# the commands that read documents: classify, tag, qa
DOCUMENT_TASKS = ("sequence-classification", "token-classification", "question-answering")


def refuse_not_run(ckpt, task: str) -> None:
    """A document family autocli reads but does not run (LayoutLMv2), or a task no document command has,
    stops here, saying why (exit 5)."""
    model_type = ckpt.config().model_type
    fam = registry.family(model_type)
    why = fam.not_run.get(task) if fam is not None else None
    if why:
        raise Unsupported(f"{model_type} cannot run in autocli: {why}",
                          "`autocli inspect`, `compat` and `preprocess` read it; run the model with transformers and detectron2")
    if task not in DOCUMENT_TASKS:
        raise Unsupported(f"{model_type} reads documents, which autocli runs through classify, tag and qa, not {task}",
                          "autocli classify | tag | qa MODEL doc.json")


def run_documents(model, processor, docs: list, limit: int | None):
    """One forward pass -> (task output, the encodings). Inputs the embeddings would crash on are refused."""
    import torch

    encs = processor.encode(docs, limit)
    arrays = processor(docs, encs=encs)
    dev = model.device
    ids = torch.as_tensor(arrays["input_ids"], device=dev)  # (B, T)
    types = arrays.get("token_type_ids")
    types = torch.as_tensor(types, device=dev) if types is not None and model.uses_token_type_ids else None
    model._check(ids, types)
    pixels = arrays.get("pixel_values")
    pixels = None if pixels is None else torch.as_tensor(pixels, device=dev).to(model.dtype)  # (B, 3, H, W)
    with torch.inference_mode():
        out = model.module(ids, torch.as_tensor(arrays["attention_mask"], device=dev), types,
                           torch.as_tensor(arrays["bbox"], device=dev), pixels)
    return out.float().cpu(), encs


def stream(model, processor, items: Iterable, options, post: Callable, desc: str, question: Callable | None = None) -> Iterator:
    """Records in input order: documents loaded and run a batch at a time, then post(out, docs, encs, batch,
    slots, records)."""
    limit = row_limit(model, processor.tokenizer, options.max_length)

    def window(items: list, run: RunState) -> list:
        records, todo = failed_inputs(items)
        size = max(1, options.batch_size)
        starts = range(0, len(todo), size)
        run.bar.grow(len(todo), len(starts))
        for start in starts:
            docs, slots = [], []
            for slot in todo[start:start + size]:
                try:
                    doc = processor.load(items[slot].fields["document"])
                    docs.append(doc if question is None else doc.asking(question(items[slot])))
                    slots.append(slot)
                except AutocliError as e:
                    records[slot] = error_record(items[slot].index, e)
            if docs:
                forward(model, processor, post, docs, slots, items, records, run, limit)
            run.bar.advance(len(todo[start:start + size]))
        return records

    return stream_windows(items, options, limit, window, desc)


def forward(model, processor, post: Callable, docs: list, slots: list, items: list, records: list, run: RunState, limit) -> None:
    """A batch; refused as a whole, it runs again a document at a time so that only the bad one fails."""
    batch = [items[s] for s in slots]
    try:
        out, encs = run_documents(model, processor, docs, limit)
    except AutocliError as e:
        if len(docs) == 1:
            records[slots[0]] = error_record(batch[0].index, e)
            return
        for doc, slot in zip(docs, slots):
            forward(model, processor, post, [doc], [slot], items, records, run, limit)
        return
    run.truncated.extend(item.index for item, enc in zip(batch, encs) if enc.truncated)
    post(out, docs, encs, batch, slots, records)


# --- classify ------------------------------------------------------------------------------------

def classify_documents(model, processor, items: Iterable, options) -> Iterator:
    def post(logits, docs, encs, batch, slots, records):
        label_records(model.config, logits, batch, slots, records, options)

    return stream(model, processor, items, options, post, "classify")


# --- tag -----------------------------------------------------------------------------------------

def first_tokens(enc) -> dict[int, int]:
    """word index -> the position of its first token (words truncation cut off are absent)."""
    out: dict[int, int] = {}
    for pos, word in enumerate(enc.word_ids):
        if word is not None and word not in out:
            out[word] = pos
    return out


def word_labels(doc, enc, probs, names: list[str]) -> list[WordLabel]:
    """probs (T, L) of one document -> each word it read, labelled by its first sub-token."""
    best, label = probs.max(-1)  # (T,)
    return [WordLabel(doc.words[w], list(doc.boxes[w]), names[int(label[p])], float(best[p]))
            for w, p in sorted(first_tokens(enc).items())]


def entities(doc, labelled: list[WordLabel], aggregation: str, ignore: tuple) -> list[WordSpan]:
    """Consecutive words of one entity merged (a B- tag starts a new one); aggregation none: one per word."""
    out: list[list] = []
    for i, w in enumerate(labelled):
        bi, tag = split_tag(w.label)
        run = out[-1] if out else None
        if aggregation != "none" and run and run[-1][0] == i - 1 and split_tag(run[-1][1].label)[1] == tag and bi != "B":
            run.append((i, w))
        else:
            out.append([(i, w)])
    spans = []
    for run in out:
        tag = split_tag(run[0][1].label)[1] if aggregation != "none" else run[0][1].label
        if tag in ignore or run[0][1].label in ignore:
            continue
        words = [w for _, w in run]
        spans.append(WordSpan(tag, sum(w.score for w in words) / len(words), " ".join(w.word for w in words),
                              [w.word for w in words], [w.box for w in words], run[0][0], run[-1][0]))
    return spans


def tag_documents(model, processor, items: Iterable, options) -> Iterator:
    def post(logits, docs, encs, batch, slots, records):
        names = label_names(model.config, logits.shape[-1])
        for doc, enc, item, slot, row in zip(docs, encs, batch, slots, logits):
            labelled = word_labels(doc, enc, row.softmax(-1), names)
            raw = row[: len(enc)].tolist() if options.logits else None
            records[slot] = DocumentTagged(item.index, doc.path, entities(doc, labelled, options.aggregation, options.ignore_labels),
                                           labelled, raw)

    return stream(model, processor, items, options, post, "tag")


NO_ROOM = UsageError("no word of the document fits beside the question in the model's tokens",
                     "shorten the question, or raise --max-length up to the model's limit")


# --- qa ------------------------------------------------------------------------------------------

def answers(doc, enc, out, options, cls_id: int | None) -> list[WordSpan]:
    """out (S, 2) start, end logits -> the top-k word spans, best first. As transformers' pipeline, the
    probabilities are a softmax over the word tokens and the CLS token, which then cannot be an answer."""
    import torch

    words = [pos for pos, seq in enumerate(enc.sequence_ids) if seq == 1]  # the document's tokens
    n = len(words)
    if n == 0:
        return []
    cls = [pos for pos, i in enumerate(enc.ids) if i == cls_id]
    start = out[words + cls, 0].softmax(0)[:n]  # (n,)
    end = out[words + cls, 1].softmax(0)[:n]
    i = torch.arange(n)
    valid = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < options.max_answer_length)  # (n, n)
    scores = torch.where(valid, start[:, None] * end[None, :], -1.0)  # (n, n)
    order = scores.flatten().argsort(descending=True, stable=True)
    found, seen = [], set()
    for flat in order.tolist():
        a, b = divmod(flat, n)
        if scores[a, b] < 0 or len(found) == options.top_k:
            break
        first, last = enc.word_ids[words[a]], enc.word_ids[words[b]]
        if (first, last) in seen:
            continue
        seen.add((first, last))
        picked = list(range(first, last + 1))
        found.append(WordSpan("", float(scores[a, b]), " ".join(doc.words[w] for w in picked), [doc.words[w] for w in picked],
                              [list(doc.boxes[w]) for w in picked], first, last))
    return found


def qa_documents(model, processor, items: Iterable, options) -> Iterator:
    def post(logits, docs, encs, batch, slots, records):
        for doc, enc, item, slot, row in zip(docs, encs, batch, slots, logits):
            found = answers(doc, enc, row, options, processor.tokenizer.cls_id)
            if not found:
                records[slot] = error_record(item.index, NO_ROOM)
                continue
            raw = row[: len(enc)].tolist() if options.logits else None
            best = found[0]
            records[slot] = DocumentAnswered(item.index, doc.path, doc.question, best.text, best.score, best.boxes, found, raw)

    return stream(model, processor, items, options, post, "qa", question=lambda item: item.fields["question"])
