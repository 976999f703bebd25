"""Heads shared by several families, and the task model that puts a backbone and one head together.

A family describes each task as (modules to build, how to compute the output); TaskModel holds the
backbone under its checkpoint prefix (`self.bert`) and the head modules at the top level, exactly where
transformers' `XForY` classes keep them, so checkpoint names load without a mapping.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class TaskModel(nn.Module):
    def __init__(self, prefix: str, backbone: nn.Module, heads: dict[str, nn.Module], run: Callable):
        super().__init__()
        self.prefix = prefix
        setattr(self, prefix, backbone)
        for name, module in heads.items():
            setattr(self, name, module)
        self.run = run  # (model, hidden (B, T, H)) -> task output

    @property
    def backbone(self) -> nn.Module:
        return getattr(self, self.prefix)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.run(self, self.backbone(input_ids, attention_mask, token_type_ids))


class Pooler(nn.Module):
    """BERT's pooler: tanh(dense(first token))."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))  # (B, H)


class ClassificationHead(nn.Module):
    """RoBERTa/ELECTRA sentence head: out_proj(act(dense(first token)))."""

    def __init__(self, hidden: int, num_labels: int, act):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, num_labels)
        self.act = act

    def forward(self, h):
        return self.out_proj(self.act(self.dense(h[:, 0])))  # (B, L)


class LMHead(nn.Module):
    """dense -> act -> norm -> decoder + bias. The norm's attribute name is the checkpoint's
    (`LayerNorm` for ALBERT, `layer_norm` for RoBERTa); the decoder's bias lives in `bias`."""

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
