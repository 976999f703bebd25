"""Masked language modelling: texts with mask tokens -> the top-k tokens for each mask.

The mask token is the tokenizer's ([MASK], <mask>, ...). Each candidate carries the text with that
one mask replaced (other masks stay as written), as transformers' fill-mask pipeline does.
"""

from __future__ import annotations

from dataclasses import dataclass

from autocli.errors import UsageError
from autocli.render import Batch, error_record
from autocli.tasks import RunOptions, row_limit
from autocli.tasks.batching import Row, encode_all, forward, warn_truncated

TOP_K = 5


@dataclass
class Candidate:
    token: str  # the token decoded, as transformers' token_str
    id: int
    score: float
    sequence: str  # the input text with this mask filled


@dataclass
class Mask:
    position: int  # token position
    start: int  # character offsets of the mask in the text
    end: int
    candidates: list[Candidate]


@dataclass
class Filled:
    index: int
    masks: list[Mask]
    _text: str = ""


@dataclass
class FillMaskOptions(RunOptions):
    top_k: int = TOP_K


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


def fill_mask(model, tokenizer, items, options: FillMaskOptions) -> Batch:
    mask_id = tokenizer.mask_id
    if mask_id is None:
        raise UsageError("this tokenizer has no mask token", "fill-mask needs a masked-LM checkpoint with a mask token")
    mask_token = tokenizer.id_to_token(mask_id)
    if options.top_k < 1:
        raise UsageError("--top-k must be at least 1")
    records: list = [None] * len(items)
    todo = []
    for slot, item in enumerate(items):
        if item.error is not None:
            records[slot] = error_record(item.index, item.error)
        else:
            todo.append(slot)

    limit = row_limit(model, tokenizer, options.max_length)
    encs = encode_all(tokenizer, [items[s].text for s in todo], None, limit)
    rows, slots, where, truncated = [], [], [], []
    for slot, enc in zip(todo, encs):
        item = items[slot]
        if isinstance(enc, Exception):
            records[slot] = error_record(item.index, enc)
            continue
        positions = [p for p, t in enumerate(enc.ids) if t == mask_id]
        if not positions:
            cut = f" within the first {limit} tokens" if enc.truncated else ""
            err = UsageError(f"input {item.index} has no {mask_token} token{cut}", f"write {mask_token} where a token is missing")
            records[slot] = error_record(item.index, err)
            continue
        if enc.truncated:
            truncated.append(item.index)
        rows.append(Row(list(enc.ids), list(enc.type_ids)))
        slots.append(slot)
        where.append((enc, positions))
    warn_truncated(truncated, limit, options.quiet)
    if not rows:
        return Batch("fill-mask", records)

    def top(logits, mask, batch):  # (B, T, V) -> per row: (k values, k ids) at each mask
        out = []
        for r, i in enumerate(batch):
            probs = logits[r, where[i][1]].float().softmax(-1)  # (M, V)
            values, ids = probs.topk(min(options.top_k, probs.shape[-1]), dim=-1)  # (M, k)
            out.append((values.cpu().tolist(), ids.cpu().tolist()))
        return out

    prefix = getattr(tokenizer.inner.model, "continuing_subword_prefix", None)  # "##" for WordPiece
    tops = forward(model, rows, batch_size=options.batch_size, pad_id=tokenizer.pad_id, post=top, quiet=options.quiet, desc="fill-mask")
    for slot, (enc, positions), (values, ids) in zip(slots, where, tops):
        item = items[slot]
        masks = []
        for p, vals, cands in zip(positions, values, ids):
            start, end = enc.offsets[p]
            # A mask that swallows the space before it (RoBERTa's lstrip <mask>) stands for " word".
            lead = len(enc.tokens[p]) - len(enc.tokens[p].lstrip())
            at = start - lead if lead and item.text[max(0, start - lead) : start].isspace() else start
            found = []
            for v, c in zip(vals, cands):
                token = tokenizer.decode([c], skip_special_tokens=False)
                raw = tokenizer.id_to_token(c) or ""
                piece = raw[len(prefix) :] if prefix and raw.startswith(prefix) and len(raw) > len(prefix) else None
                found.append(Candidate(token, c, v, fill_in(item.text, at, end, token, piece)))
            masks.append(Mask(p, start, end, found))
        records[slot] = Filled(item.index, masks, item.text)
    return Batch("fill-mask", records)
