"""Entity chunks of a tag sequence, as seqeval finds them: its default (conlleval) mode, and its strict mode
for the IOB2 and IOBES schemes. Entities are (type, start, end) with `end` exclusive."""

from __future__ import annotations

# --- default mode: conlleval's lenient chunking -------------------------------------------------


def _split(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '_')."""
    return tag[:1], tag[1:].split("-", 1)[-1] or "_"


def _ends(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev in ("E", "S") or (prev in ("B", "I") and tag in ("B", "S", "O"))
            or (prev not in ("O", ".") and prev_type != type_))


def _starts(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in ("B", "S") or (prev in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def default_entities(tags: list[str]) -> set[tuple[str, int, int]]:
    out, prev, prev_type, begin = set(), "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        cur, type_ = _split(tag)
        if _ends(prev, cur, prev_type, type_):
            out.add((prev_type, begin, i))
        if _starts(prev, cur, prev_type, type_):
            begin = i
        prev, prev_type = cur, type_
    return out


# --- strict mode: seqeval's Token patterns (previous prefix, prefix, same type?) -------------------

ANY = "*"
SCHEMES = {
    "IOB2": {
        "allowed": "IOB",
        "start": {(ANY, "B", ANY)},
        "inside": {("B", "I", "same"), ("I", "I", "same")},
        "end": {("I", "O", ANY), ("I", "I", "diff"), ("I", "B", ANY), ("B", "O", ANY), ("B", "I", "diff"), ("B", "B", ANY)},
    },
    "IOBES": {
        "allowed": "IOBES",
        "start": {(ANY, "B", ANY), (ANY, "S", ANY)},
        "inside": {("B", "I", "same"), ("B", "E", "same"), ("I", "I", "same"), ("I", "E", "same")},
        "end": {("S", ANY, ANY), ("E", ANY, ANY)},
    },
}


def scheme_of(sequences) -> str:
    """IOBES when some tag is E- or S-, else IOB2."""
    return "IOBES" if any(t[:1] in ("E", "S") for seq in sequences for t in seq) else "IOB2"


def valid_for(scheme: str, sequences) -> bool:
    return all(t[:1] in SCHEMES[scheme]["allowed"] for seq in sequences for t in seq)


def _token(tag: str) -> tuple[str, str]:
    return tag[:1], tag[1:].strip("-") or "_"


def _matches(patterns, prev, cur) -> bool:
    same = prev[1] == cur[1]
    return any((p in (ANY, prev[0])) and c in (ANY, cur[0]) and (t == ANY or (t == "same") == same) for p, c, t in patterns)


def strict_entities(tags: list[str], scheme: str) -> set[tuple[str, int, int]]:
    rules = SCHEMES[scheme]
    toks = [_token(t) for t in tags] + [("O", "_")]
    out, i, prev = set(), 0, ("O", "_")
    while i < len(toks):
        tok = toks[i]
        if _matches(rules["start"], prev, tok):
            end, last = i + 1, tok
            while end < len(toks) and _matches(rules["inside"], last, toks[end]):
                last, end = toks[end], end + 1
            if end < len(toks) and _matches(rules["end"], toks[end - 1], toks[end]):
                out.add((tok[1], i, end))
            i = end
        else:
            i += 1
        prev = toks[i - 1]
    return out
