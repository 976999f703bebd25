"""DistilBERT (model_type "distilbert"): six post-norm blocks with their own key names
(`q_lin`, `sa_layer_norm`, `ffn.lin1`, ...), no token types, no pooler, LayerNorm eps fixed at 1e-12.

`sinusoidal_pos_embds` only changes how transformers *initialises* the position table: the trained
table is in the weights. A checkpoint that omits it gets the sinusoid computed here, as transformers would.
Heads as DistilBertFor*: pre_classifier -> ReLU -> classifier on the first token for sequence
classification and multiple choice; MLM vocab_transform -> act -> vocab_layer_norm -> vocab_projector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autocli.config import Config
from autocli.models._args import ConfigArgs, check_heads, key
from autocli.models._attention import attend, merge_heads, padding_mask, split_heads
from autocli.models._encoder import SHARED_HEADS, Encoder
from autocli.models._layers import activation
from autocli.models._task import Head, TaskModel

PREFIX = "distilbert"
EPS = 1e-12  # hard-coded in transformers' DistilBERT


@dataclass
class Args(ConfigArgs):
    activation: str = "gelu"
    dim: int = key("dim", "hidden_size", default=768)  # transformers maps the BERT names onto DistilBERT's
    hidden_dim: int = 4 * 768
    max_position_embeddings: int = 512
    n_heads: int = key("n_heads", "num_attention_heads", default=12)
    n_layers: int = key("n_layers", "num_hidden_layers", default=6)
    sinusoidal_pos_embds: bool = False
    vocab_size: int = 30522

    def check(self, cfg: Config) -> None:
        check_heads(self.dim, self.n_heads, "dim {} is not a multiple of n_heads {}")


def sinusoid(n_pos: int, dim: int) -> torch.Tensor:
    """The table transformers' create_sinusoidal_embeddings writes: sin on even, cos on odd channels."""
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)[None, :]
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)  # (P, D)
    out = torch.empty(n_pos, dim)
    out[:, 0::2] = torch.sin(angle[:, 0::2]).float()
    out[:, 1::2] = torch.cos(angle[:, 1::2]).float()
    return out


# --- backbone ------------------------------------------------------------------------------------

class Embeddings(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.word_embeddings = nn.Embedding(a.vocab_size, a.dim)
        self.position_embeddings = nn.Embedding(a.max_position_embeddings, a.dim)
        self.LayerNorm = nn.LayerNorm(a.dim, eps=EPS)

    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(positions))  # (B, T, D)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.n_heads = a.n_heads
        self.q_lin = nn.Linear(a.dim, a.dim)
        self.k_lin = nn.Linear(a.dim, a.dim)
        self.v_lin = nn.Linear(a.dim, a.dim)
        self.out_lin = nn.Linear(a.dim, a.dim)

    def forward(self, x, mask):
        q = split_heads(self.q_lin(x), self.n_heads)  # (B, nh, T, hd)
        k = split_heads(self.k_lin(x), self.n_heads)
        v = split_heads(self.v_lin(x), self.n_heads)
        return self.out_lin(merge_heads(attend(q, k, v, mask)))  # (B, T, D)


class FFN(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.lin1 = nn.Linear(a.dim, a.hidden_dim)
        self.lin2 = nn.Linear(a.hidden_dim, a.dim)
        self.act = activation(a.activation, "activation")

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))  # (B, T, D)


class TransformerBlock(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.attention = MultiHeadSelfAttention(a)
        self.sa_layer_norm = nn.LayerNorm(a.dim, eps=EPS)
        self.ffn = FFN(a)
        self.output_layer_norm = nn.LayerNorm(a.dim, eps=EPS)

    def forward(self, x, mask):
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(x) + x)


class DistilBertModel(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.embeddings = Embeddings(a)
        self.transformer = Encoder(TransformerBlock(a) for _ in range(a.n_layers))

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        x = self.embeddings(input_ids)
        return self.transformer(x, padding_mask(attention_mask, x.dtype))  # (B, T, D)


# --- heads ---------------------------------------------------------------------------------------

def _pre_classified(m, h, x):
    return m.classifier(F.relu(m.pre_classifier(h[:, 0])))  # (B, L)


def _mlm(m, h, x):
    y = m.vocab_layer_norm(m.act(m.vocab_transform(h)))  # (B, T, D)
    return m.vocab_projector(y)  # (B, T, V)


def _mlm_heads(a: Args) -> dict:
    return {
        "vocab_transform": nn.Linear(a.dim, a.dim),
        "vocab_layer_norm": nn.LayerNorm(a.dim, eps=EPS),
        "vocab_projector": nn.Linear(a.dim, a.vocab_size),
    }


def _pre_classifier(n):
    return lambda a: {"pre_classifier": nn.Linear(a.dim, a.dim), "classifier": nn.Linear(a.dim, n(a))}


HEADS = {
    "base": SHARED_HEADS["base"],
    "sequence-classification": Head(_pre_classifier(lambda a: a.num_labels), _pre_classified),
    "token-classification": Head(lambda a: {"classifier": nn.Linear(a.dim, a.num_labels)}, lambda m, h, x: m.classifier(h)),
    "question-answering": Head(lambda a: {"qa_outputs": nn.Linear(a.dim, 2)}, lambda m, h, x: m.qa_outputs(h)),
    "masked-lm": Head(_mlm_heads, _mlm),
    "multiple-choice": Head(_pre_classifier(lambda a: 1), _pre_classified),
}


def build(a: Args, task: str) -> TaskModel:
    model = TaskModel.of("encoder", PREFIX, DistilBertModel(a), HEADS[task], a)
    model.act = activation(a.activation, "activation")  # the MLM head's activation is config.activation
    return model


def sanitize(state: dict, a: Args) -> dict:
    # Sinusoidal positions are fixed, so a checkpoint may leave them out; they are what transformers would build.
    if a.sinusoidal_pos_embds:
        for name in ("distilbert.embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight"):
            if name in state:
                break
        else:
            state["distilbert.embeddings.position_embeddings.weight"] = sinusoid(a.max_position_embeddings, a.dim)
    return state
