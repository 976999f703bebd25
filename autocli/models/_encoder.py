"""The post-norm encoder with BERT's key names (bert, roberta, albert, electra and their variants), and the
heads rows those families share.

A backbone is EncoderModel: embeddings -> (projection) -> encoder over the padding mask -> (pooler), called
as backbone(input_ids (B, T), attention_mask (B, T), token_type_ids (B, T) | None) -> (B, T, H).
"""

from __future__ import annotations

import torch
from torch import nn

from autocli.models._attention import attend, merge_heads, padding_mask, split_heads
from autocli.models._task import Head, hidden_states, labels, linear_head, two


class Embeddings(nn.Module):
    """Absolute embeddings: word + token type + position, then LayerNorm (`dim` is ALBERT's and ELECTRA's
    embedding_size). With padding_idx (RoBERTa), positions count real tokens from padding_idx + 1 and pads
    keep padding_idx (fairseq's make_positions); otherwise they are 0..T-1."""

    def __init__(self, vocab: int, positions: int, types: int, dim: int, eps: float, padding_idx: int | None = None):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(positions, dim)
        self.token_type_embeddings = nn.Embedding(types, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.padding_idx = padding_idx

    def forward(self, input_ids, token_type_ids):
        if self.padding_idx is None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        else:
            real = input_ids.ne(self.padding_idx).int()  # (B, T)
            positions = (torch.cumsum(real, dim=1) * real + self.padding_idx).long()  # (B, T)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(positions))  # (B, T, dim)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        q = split_heads(self.query(x), self.num_heads)  # (B, nh, T, hd)
        k = split_heads(self.key(x), self.num_heads)
        v = split_heads(self.value(x), self.num_heads)
        return merge_heads(attend(q, k, v, mask))  # (B, T, H)


class AddNorm(nn.Module):
    """dense -> residual add -> LayerNorm (BERT's SelfOutput and Output)."""

    def __init__(self, d_in: int, hidden: int, eps: float, norm=nn.LayerNorm):
        super().__init__()
        self.dense = nn.Linear(d_in, hidden)
        self.LayerNorm = norm(hidden, eps=eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class AttentionBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float):
        super().__init__()
        self.self = SelfAttention(hidden, heads)
        self.output = AddNorm(hidden, hidden, eps)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, inner: int, act):
        super().__init__()
        self.dense = nn.Linear(hidden, inner)
        self.act = act

    def forward(self, x):
        return self.act(self.dense(x))  # (B, T, I)


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int, act, eps: float):
        super().__init__()
        self.attention = AttentionBlock(hidden, heads, eps)
        self.intermediate = Intermediate(hidden, inner, act)
        self.output = AddNorm(inner, hidden, eps)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)  # (B, T, H)


class Encoder(nn.Module):
    """`layer.N`, run in turn over (x, mask) (BERT's and DistilBERT's names)."""

    def __init__(self, layers):
        super().__init__()
        self.layer = nn.ModuleList(layers)

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class EncoderModel(nn.Module):
    """embeddings -> embeddings_project (ELECTRA, when embedding_size != hidden_size) -> encoder -> pooler."""

    def __init__(self, embeddings: nn.Module, encoder: nn.Module, pooler: nn.Module | None = None, project: nn.Module | None = None):
        super().__init__()
        self.embeddings = embeddings
        if project is not None:
            self.embeddings_project = project
        self.encoder = encoder
        if pooler is not None:
            self.pooler = pooler

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        if hasattr(self, "embeddings_project"):
            x = self.embeddings_project(x)  # (B, T, H)
        return self.encoder(x, padding_mask(attention_mask, x.dtype))  # (B, T, H)


def encoder(a, act) -> Encoder:
    return Encoder(EncoderLayer(a.hidden_size, a.num_attention_heads, a.intermediate_size, act, a.layer_norm_eps)
                   for _ in range(a.num_hidden_layers))


def pooled(name: str):
    """The head module `name` on the backbone's pooler output -> (B, L)."""
    def run(m, h, x):
        return getattr(m, name)(m.backbone.pooler(h))
    return run


# Tasks that read the pooler, which the backbone builds only for them.
POOLED = ("sequence-classification", "multiple-choice", "next-sentence-prediction")

# The rows every BERT-like family has alike.
SHARED_HEADS = {
    "base": Head(lambda a: {}, hidden_states),
    "token-classification": linear_head("classifier", "hidden_size", labels),
    "question-answering": linear_head("qa_outputs", "hidden_size", two),
}
