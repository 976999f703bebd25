"""The losses transformers computes when it is given labels, as sums (with their counts) so that batches add up.

Each returns (sum of the per-element losses, number of elements): transformers' loss on a batch is their
ratio, and a whole data set's loss is the ratio of the sums.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# What transformers' *ForSequenceClassification picks when config.problem_type is unset.
REGRESSION, SINGLE, MULTI = "regression", "single_label_classification", "multi_label_classification"


def problem_type(config, num_labels: int, label_lists: bool = False) -> str:
    """config.problem_type, or transformers' rule: one label is regression; else integer labels are
    single-label and multi-hot ones (here: labels given as lists) multi-label."""
    given = config.raw.get("problem_type")
    if given in (REGRESSION, SINGLE, MULTI):
        return given
    if num_labels == 1:
        return REGRESSION
    return MULTI if label_lists else SINGLE


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N, V) logits, (N,) next-token ids -> (N,) negative log-likelihoods in nats, computed in float32 as
    transformers' causal LM loss upcasts its logits."""
    return F.cross_entropy(logits.float(), targets, reduction="none")


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, problem: str) -> tuple[float, int]:
    """(N, L) logits with (N,) class ids, (N, L) multi-hot or (N,)/(N, L) regression targets -> (sum, count)."""
    logits = logits.float()
    if problem == REGRESSION:
        if logits.shape[-1] == 1:
            logits, labels = logits.squeeze(-1), labels.reshape(-1)  # (N,)
        loss = F.mse_loss(logits, labels.float(), reduction="sum")
        return loss.item(), labels.numel()
    if problem == MULTI:
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="sum")
        return loss.item(), labels.numel()
    loss = F.cross_entropy(logits, labels.long(), reduction="sum")
    return loss.item(), labels.numel()
