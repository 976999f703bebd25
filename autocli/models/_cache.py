"""The generation caches: a decoder's KV cache preallocated per request with the per-call view of it
(positions, masks), and an encoder-decoder's (self-attention K/V plus the cross-attention K/V of the input).

Slot t of the cache holds column t of the (left-padded) batch, so every row writes at the same slot
and one mask row per batch row says which slots are real. A forward call is a Step: prefill writes the
prompt at slots [0, T), each decode call writes one token at the next slot.
"""

from __future__ import annotations

import torch

from autocli.errors import UsageError


class KVCache:
    def __init__(self, layers: int, batch: int, kv_heads: int, head_dim: int, capacity: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu", v_head_dim: int | None = None):
        shape = (batch, kv_heads, capacity, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.v = [torch.zeros(shape[:3] + (v_head_dim or head_dim,), dtype=dtype, device=device) for _ in range(layers)]
        self.valid = torch.zeros(batch, capacity, dtype=torch.bool, device=device)  # (B, S): slot holds a real token
        self.next_pos = torch.zeros(batch, dtype=torch.long, device=device)  # (B,): position id of the next token
        self.capacity = capacity
        self.length = 0  # slots written
        self.padded = False  # some slot written so far holds padding
        self.ids = None  # (B, capacity) token ids, kept only for a model that may replay them (Step.remember)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    def step(self, attention_mask: torch.Tensor | None) -> "Step":
        """Reserve slots for a (B, T) chunk whose real tokens are marked 1 in attention_mask; None: one real
        token per row (a decoding step, which then costs no mask arithmetic)."""
        T = 1 if attention_mask is None else attention_mask.shape[1]
        start = self.length
        if start + T > self.capacity:
            raise UsageError(f"the KV cache holds {self.capacity} tokens; {start + T} were asked for", "raise the cache size")
        if attention_mask is None:
            self.valid[:, start] = True
            positions = self.next_pos[:, None]  # (B, 1)
        else:
            real = attention_mask.to(torch.bool)
            self.valid[:, start:start + T] = real
            self.padded = self.padded or not bool(real.all())
            positions = self.next_pos[:, None] + real.long().cumsum(-1) - 1  # (B, T): pads repeat a neighbour
            positions = positions.clamp(min=0)
        self.next_pos = positions[:, -1] + 1 if T else self.next_pos
        self.length = start + T
        return Step(positions, self.valid[:, : start + T], start, self, all_real=not self.padded)

    def write(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor):
        """Store k/v (B, nkv, T, hd) at slots [start, start+T); return every slot so far."""
        T, keys, values = k.shape[2], self.k[layer], self.v[layer]
        keys.narrow(2, start, T).copy_(k)
        values.narrow(2, start, T).copy_(v)
        return keys.narrow(2, 0, start + T), values.narrow(2, 0, start + T)  # (B, nkv, S, hd) views


class Step:
    """One forward call: position ids (B, T), key validity (B, S), where its slots start, the cache (or None).

    A layer's queries are the last `length` rows of its input: all of them, except in the step tail() gives,
    whose queries start at `outputs_from` while its keys and values cover every row.
    """

    def __init__(self, positions, valid, start: int = 0, cache: KVCache | None = None, outputs_from: int = 0,
                 all_real: bool | None = None):
        self.positions = positions
        self.valid = valid
        self.all_real = all_real  # every key slot real (None: look at valid)
        self.start = start
        self.cache = cache
        self.outputs_from = outputs_from  # only the hidden states of positions >= this are wanted
        self._masks: dict = {}

    @classmethod
    def uncached(cls, attention_mask: torch.Tensor, outputs_from: int = 0) -> "Step":
        """A whole batch in one call (classification, parity): positions count real tokens only."""
        real = attention_mask.to(torch.bool)
        positions = (real.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
        return cls(positions, real, outputs_from=outputs_from)

    def tail(self) -> "Step":
        """This uncached step with queries only at positions >= outputs_from (keys: every position), for the
        last layer when no earlier output is wanted."""
        p = self.outputs_from
        return Step(self.positions[:, p:], self.valid, p, None, p)

    @property
    def length(self) -> int:
        return self.positions.shape[1]

    def kv(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if self.cache is None:
            return k, v
        return self.cache.write(layer, self.start, k, v)

    def remember(self, ids: torch.Tensor) -> None:
        """Keep this chunk's token ids (B, T) in the cache, for a later replay()."""
        c = self.cache
        if c is None:
            return
        if c.ids is None:
            c.ids = torch.zeros(c.valid.shape, dtype=torch.long, device=ids.device)
        c.ids[:, self.start:self.start + self.length] = ids

    def replay(self, ids: torch.Tensor) -> tuple[torch.Tensor, "Step"]:
        """Every token so far, this chunk's included, as one chunk from slot 0: for a model whose cached keys went
        stale (LongRoPE switching factors). Returns the ids (B, S) and their Step; the cache is overwritten."""
        self.remember(ids)
        S = self.start + self.length
        real = self.valid[:, :S]
        positions = (real.long().cumsum(-1) - 1).clamp(min=0)  # (B, S): what the chunks were given, pads included
        return self.cache.ids[:, :S], Step(positions, real, 0, self.cache)

    def mask(self, window: int | None = None):
        """Boolean (B, 1, T, S) attention mask, "causal" for SDPA's own causal path, or None (attend to all).

        Query slot i sees key slot j when j <= i, slot j is real and (sliding window) j > i - window.
        Every slot also sees itself, so a padding row stays finite instead of NaN.
        """
        if window not in self._masks:
            self._masks[window] = self._build(window)
        return self._masks[window]

    def _build(self, window):
        T, S = self.length, self.valid.shape[1]
        all_real = bool(self.valid.all()) if self.all_real is None else self.all_real
        short = window is None or S <= window
        if all_real and short:
            if T == 1:
                return None
            if self.start == 0 and T == S:
                return "causal"
        device = self.valid.device
        q = torch.arange(self.start, self.start + T, device=device)[:, None]  # (T, 1)
        k = torch.arange(S, device=device)[None, :]  # (1, S)
        allowed = k <= q
        if window is not None:
            allowed = allowed & (k > q - window)
        allowed = allowed[None] & self.valid[:, None, :]  # (B, T, S)
        allowed = allowed | (k == q)[None]
        return allowed[:, None]  # (B, 1, T, S)


class Seq2SeqCache:
    """Self-attention K/V preallocated for `capacity` decoder tokens, cross-attention K/V of the encoder
    output computed once (beams share their input's rows), and the encoder padding mask."""

    def __init__(self, layers: int, rows: int, heads: int, head_dim: int, capacity: int, dtype, device,
                 cross: list, cross_mask: torch.Tensor | None):
        shape = (rows, heads, capacity, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.capacity = capacity
        self.length = 0  # decoder tokens written
        self.cross = cross  # per layer (k, v) (N, nh, S, hd)
        self.cross_mask = cross_mask  # (N, 1, 1, S) additive or None
        self.extra: dict = {}  # per-family tables (T5's position bias rows)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k/v (N, nh, T, hd) after what is there; return every slot so far (views)."""
        T, start = k.shape[2], self.length
        if start + T > self.capacity:
            raise RuntimeError(f"decoder cache holds {self.capacity} tokens, {start + T} asked for")
        self.k[layer][:, :, start:start + T] = k
        self.v[layer][:, :, start:start + T] = v
        return self.k[layer][:, :, : start + T], self.v[layer][:, :, : start + T]

    def advance(self, T: int) -> None:
        self.length += T

    def reorder(self, rows: torch.Tensor) -> None:
        """Beam search kept rows `rows` (N,): only the written slots move; the cross K/V of a beam's input is the same."""
        L = self.length
        for t in self.k + self.v:
            t[:, :, :L] = t[:, :, :L].index_select(0, rows)
