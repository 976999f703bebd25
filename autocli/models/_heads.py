"""Head modules several families share (BERT-likes, T5 and BART): the pooler, the sentence classifier and
the masked-LM prediction head, each under the attribute names its checkpoints use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Pooler(nn.Module):
    """BERT's pooler: tanh(dense(first token))."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))  # (B, H)


class ClassificationHead(nn.Module):
    """Sentence head over one pooled vector (the first token, BART/T5's last EOS): out_proj(act(dense(x)))."""

    def __init__(self, hidden: int, num_labels: int, act):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, num_labels)
        self.act = act

    def forward(self, x):
        return self.out_proj(self.act(self.dense(x)))  # (B, L)


class PredictionTransform(nn.Module):
    """dense -> act -> LayerNorm (BERT's and DeBERTa's `cls.predictions.transform`)."""

    def __init__(self, hidden: int, embed: int, act, eps: float):
        super().__init__()
        self.dense = nn.Linear(hidden, embed)
        self.act = act
        self.LayerNorm = nn.LayerNorm(embed, eps=eps)

    def forward(self, h):
        return self.LayerNorm(self.act(self.dense(h)))  # (B, T, E)


class Predictions(nn.Module):
    """`cls.predictions`: transform, then the decoder (tied to the word embeddings) plus its own bias."""

    def __init__(self, hidden: int, embed: int, vocab: int, act, eps: float):
        super().__init__()
        self.transform = PredictionTransform(hidden, embed, act, eps)
        self.decoder = nn.Linear(embed, vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, h):
        return F.linear(self.transform(h), self.decoder.weight, self.bias)  # (B, T, V)


class LMHead(nn.Module):
    """dense -> act -> norm -> decoder + bias, flat (RoBERTa's `lm_head`, ALBERT's `predictions`). The norm's
    attribute name is the checkpoint's (`LayerNorm` for ALBERT, `layer_norm` for RoBERTa)."""

    def __init__(self, hidden: int, embed: int, vocab: int, act, eps: float, norm: str = "LayerNorm"):
        super().__init__()
        self.dense = nn.Linear(hidden, embed)
        setattr(self, norm, nn.LayerNorm(embed, eps=eps))
        self.decoder = nn.Linear(embed, vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.norm = norm
        self.act = act

    def forward(self, h):
        x = getattr(self, self.norm)(self.act(self.dense(h)))  # (B, T, E)
        return F.linear(x, self.decoder.weight, self.bias)  # (B, T, V)
