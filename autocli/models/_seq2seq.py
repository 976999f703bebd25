"""What the encoder-decoder families (t5, bart) share: decoder inputs, pooling at EOS, the generation cache
(self-attention K/V preallocated, cross-attention K/V computed once per request), the shared embedding.

A backbone provides (autocli.models._task.TaskModel calls them):
  encode(input_ids (B, S), attention_mask (B, S)) -> (B, S, H)
  cross_kv(enc (B, S, H)) -> [(k, v) (B, nh, S, hd)] per decoder layer
  decode(input_ids (N, T), cross, cross_mask (N, 1, 1, S) | None, cache | None) -> (N, T, H)
  decoder_inputs(input_ids (B, T)) -> (B, T): the decoder inputs of a full forward (shifted right)
  cache_shape() -> (decoder layers, heads, head_dim)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autocli.config import Config
from autocli.errors import InvalidCheckpoint
from autocli.models._args import ConfigArgs
from autocli.models._attention import attend, causal_mask, merge_heads, padding_mask, split_heads
from autocli.models._heads import ClassificationHead
from autocli.models._task import Head, hidden_states, labels, linear_head


@dataclass
class Seq2SeqArgs(ConfigArgs):
    """The token ids every encoder-decoder reads; a family redeclares the defaults. The decoder starts at
    decoder_start_token_id, else at the token START names (T5: pad, BART: eos)."""

    START = "pad_token_id"
    decoder_start_token_id: int | None = None
    eos_token_id: int | list = 1  # a list: the first one
    pad_token_id: int = 0

    def check(self, cfg: Config) -> None:
        eos = self.eos_token_id
        self.eos_token_id = eos = eos[0] if isinstance(eos, list) and eos else eos
        if isinstance(eos, bool) or not isinstance(eos, int):
            raise InvalidCheckpoint(f"{cfg.source}: eos_token_id is {eos!r}, not a token id", "fix config.json")
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = getattr(self, self.START)


# --- decoder inputs and pooling --------------------------------------------------------------------

def shift_right(input_ids: torch.Tensor, start: int, pad: int) -> torch.Tensor:
    """Decoder inputs for a full forward: the start token, then the inputs shifted one place (transformers' default)."""
    out = input_ids.new_full(input_ids.shape, start)
    out[:, 1:] = input_ids[:, :-1]
    return out.masked_fill(out == -100, pad)


def eos_pool(h: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, eos: int) -> torch.Tensor:
    """h (B, T, H) at each row's last EOS in input_ids (BART/T5 sequence classification); a row without one
    (truncated) is read at its last real token instead, where transformers would refuse the whole batch."""
    T = input_ids.shape[1]
    at = torch.arange(T, device=h.device)
    eos_pos = ((input_ids == eos).long() * at).argmax(-1)  # (B,)
    has_eos = (input_ids == eos).any(-1)
    last_real = (attention_mask.to(h.device).long() * at).argmax(-1)
    idx = torch.where(has_eos, eos_pos, last_real)
    return h[torch.arange(h.shape[0], device=h.device), idx]  # (B, H)


# --- loading -------------------------------------------------------------------------------------

def fold_embeddings(state: dict, prefix: str, shared: str, copies: tuple[str, ...]) -> dict:
    """Checkpoints store the token embedding once as `shared.weight` (newer) or also as each stack's
    `embed_tokens.weight` (older): every stack gets that one tensor, under its own name."""
    for pre in ("", prefix + "."):
        source = state.get(pre + shared)
        if source is None:
            source = next((state[pre + c] for c in copies if pre + c in state), None)
        if source is None:
            continue
        state.pop(pre + shared, None)
        for c in copies:
            state.setdefault(pre + c, source)
    return state


# --- blocks and the backbone ---------------------------------------------------------------------

def clamp_fp16(x: torch.Tensor) -> torch.Tensor:
    # as transformers: float16 activations that overflowed are pulled back inside the range
    if x.dtype == torch.float16 and not torch.isfinite(x).all():
        limit = torch.finfo(x.dtype).max - 1000
        x = x.clamp(-limit, limit)
    return x


class CachedAttention(nn.Module):
    """Self-attention (written to the generation cache when there is one) or attention over given (k, v).
    A family names its projections (PROJECTIONS: q, k, v, out) as its checkpoints do and sets n_heads, scale."""

    PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
    n_heads: int
    scale: float

    def kv(self, x):
        _, k, v, _ = self.PROJECTIONS
        return split_heads(getattr(self, k)(x), self.n_heads), split_heads(getattr(self, v)(x), self.n_heads)  # (B, nh, S, hd)

    def forward(self, x, mask, kv=None, cache=None, layer: int = 0):
        q_name, _, _, out = self.PROJECTIONS
        q = split_heads(getattr(self, q_name)(x), self.n_heads)  # (B, nh, T, hd)
        if kv is None:
            k, v = self.kv(x)
            if cache is not None:
                k, v = cache.write(layer, k, v)
        else:
            k, v = kv
        return getattr(self, out)(merge_heads(attend(q, k, v, mask, self.scale)))  # (B, T, H)


class EncoderDecoder(nn.Module):
    """A backbone with `encoder` and `decoder` stacks called as stack(input_ids, self-attention mask, cross,
    cross_mask, cache); the family adds cross_kv, decoder_inputs and cache_shape."""

    def encode(self, input_ids, attention_mask):
        return self.encoder(input_ids, padding_mask(attention_mask, self.encoder.embed_tokens.weight.dtype))  # (B, S, H)

    def decode(self, input_ids, cross, cross_mask, cache=None):
        T = input_ids.shape[1]
        S = T + (cache.length if cache is not None else 0)
        mask = causal_mask(T, S, self.decoder.embed_tokens.weight.dtype, input_ids.device)
        return self.decoder(input_ids, mask, cross, cross_mask, cache)  # (N, T, H)


# --- heads ---------------------------------------------------------------------------------------

def generated(m, h, x):
    return m.logits(m.decoded(h, x))  # (B, T, V): the LM over the decoder inputs a full forward uses


def _eos_classified(m, h, x):
    return m.classification_head(eos_pool(m.decoded(h, x), x.ids, x.mask, m.backbone.a.eos_token_id))  # (B, L)


def seq2seq_heads() -> dict:
    """The heads T5 and BART share, as transformers' *For*: `base` is the encoder's output, token classification
    reads it too; sequence classification and QA read the decoder run on the inputs shifted right."""
    return {
        "base": Head(lambda a: {}, hidden_states),
        "sequence-classification": Head(lambda a: {"classification_head": ClassificationHead(a.d_model, a.num_labels, torch.tanh)},
                                        _eos_classified),
        "token-classification": linear_head("classifier", "d_model", labels),
        "question-answering": Head(lambda a: {"qa_outputs": nn.Linear(a.d_model, a.num_labels)},
                                   lambda m, h, x: m.qa_outputs(m.decoded(h, x))),
    }
