"""Masked language modelling: texts with mask tokens -> the top-k tokens for each mask.

The mask token is the tokenizer's ([MASK], <mask>, ...). Each candidate's `sequence` is, as in transformers'
fill-mask pipeline, the input ids with that mask replaced, decoded (so lower-cased on an uncased vocabulary);
sequence="text" writes the token into the original text instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from autocli.errors import UsageError
from autocli.results import Candidate, Filled, Mask, error_record
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import Row, RunState, encode_all, failed_inputs, forward, stream_windows

TOP_K = 5


SEQUENCES = ("decoded", "text")
SEQUENCE = "decoded"


@dataclass
class FillMaskOptions(RunOptions):
    top_k: int = TOP_K
    sequence: str = SEQUENCE  # decoded: the pipeline's decode(ids); text: the token written into the input


def fill_in(text: str, start: int, end: int, token: str, piece: str | None = None) -> str:
    """text with [start, end) replaced by a decoded token.

    A token's own leading space is not doubled; a word piece (`piece`: its text after the
    continuing-subword prefix, "##ing" -> "ing") is glued to the word before it.
    """
    if piece is not None:
        return text[:start].rstrip() + piece + text[end:]
    if token[:1].isspace() and (start == 0 or text[start - 1].isspace()):
        token = token.lstrip()
    return text[:start] + token + text[end:]


def fill_mask(model, tokenizer, items: Iterable, options: FillMaskOptions) -> Iterator:
    """One Filled (or error record) per item, in input order, a window of inputs at a time."""
    if tokenizer.mask_id is None:
        raise UsageError("this tokenizer has no mask token", "fill-mask needs a masked-LM checkpoint with a mask token")
    if options.top_k < 1:
        raise UsageError("--top-k must be at least 1")
    limit = row_limit(model, tokenizer, options.max_length)
    return stream_windows(items, options, limit, lambda window, run: _window(model, tokenizer, window, options, limit, run), "fill-mask")


def _encode(tokenizer, items: list, limit, records: list, todo: list[int], truncated: list):
    """-> (rows, slots, where): the forward rows of the items that have a mask, with their mask positions."""
    mask_id = tokenizer.mask_id
    mask_token = tokenizer.id_to_token(mask_id)
    encs = encode_all(tokenizer, [items[s].text for s in todo], None, limit)
    rows, slots, where = [], [], []
    for slot, enc in zip(todo, encs):
        item = items[slot]
        if isinstance(enc, Exception):
            records[slot] = error_record(item.index, enc)
            continue
        positions = [p for p, t in enumerate(enc.ids) if t == mask_id]
        if not positions:
            cut = f" within the first {limit} tokens" if enc.truncated else ""
            err = UsageError(f"no {mask_token} token{cut}", f"write {mask_token} where a token is missing")
            records[slot] = error_record(item.index, err)
            continue
        if enc.truncated:
            truncated.append(item.index)
        rows.append(Row(list(enc.ids), list(enc.type_ids)))
        slots.append(slot)
        where.append((enc, positions))
    return rows, slots, where


def _window(model, tokenizer, items: list, options: FillMaskOptions, limit, run: RunState) -> list:
    records, todo = failed_inputs(items)
    rows, slots, where = _encode(tokenizer, items, limit, records, todo, run.truncated)
    if not rows:
        return records

    def top(logits, mask, batch):  # (B, T, V) -> per row: (k values, k ids, raw logits or None) at each mask
        out = []
        for r, i in enumerate(batch):
            at = logits[r, where[i][1]].float()  # (M, V)
            values, ids = at.softmax(-1).topk(min(options.top_k, at.shape[-1]), dim=-1)  # (M, k)
            out.append((values.cpu().tolist(), ids.cpu().tolist(), at.cpu().tolist() if options.logits else None))
        return out

    tops = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, post=top, bar=run.bar)
    for slot, (enc, positions), (values, ids, raw) in zip(slots, where, tops):
        item = items[slot]
        masks = []
        for m, (p, vals, cands) in enumerate(zip(positions, values, ids)):
            found = [Candidate(tokenizer.decode([c], skip_special_tokens=False), c, v, _sequence(tokenizer, item.text, enc, p, c, options, len(positions) == 1))
                     for v, c in zip(vals, cands)]
            start, end = enc.offsets[p]
            masks.append(Mask(p, start, end, found, raw[m] if raw is not None else None))
        records[slot] = Filled(item.index, masks, item.text)
    return records


def _sequence(tokenizer, text: str, enc, p: int, c: int, options: FillMaskOptions, single: bool) -> str:
    """The input with mask p filled by token c: as the pipeline, the ids decoded (special tokens dropped only
    when there is a single mask: with several, the other masks stay visible); with sequence="text", the token
    written into the original text."""
    if options.sequence == "decoded":
        ids = list(enc.ids)
        ids[p] = c
        return tokenizer.decode(ids, skip_special_tokens=single)
    start, end = enc.offsets[p]
    # A mask that swallows the space before it (RoBERTa's lstrip <mask>) stands for " word".
    lead = len(enc.tokens[p]) - len(enc.tokens[p].lstrip())
    at = start - lead if lead and text[max(0, start - lead) : start].isspace() else start
    token = tokenizer.decode([c], skip_special_tokens=False)
    raw = tokenizer.id_to_token(c) or ""
    prefix = tokenizer.subword_prefix  # "##" for WordPiece
    piece = raw[len(prefix) :] if prefix and raw.startswith(prefix) and len(raw) > len(prefix) else None
    return fill_in(text, at, end, token, piece)
