"""The task model of the document families (layoutlm, layoutlmv3): a TaskModel whose backbone also reads each
token's box and, for v3, the page's pixels.

forward(input_ids, attention_mask, token_type_ids=None, bbox=None, pixel_values=None); a missing bbox is all
zeros, as in transformers, so generic plumbing that passes ids and masks only still runs these models.
"""

from __future__ import annotations

import torch

from autocli.models._task import Inputs, TaskModel


class DocumentModel(TaskModel):
    """A TaskModel whose backbone also reads token boxes (and, for v3, page pixels)."""

    def forward(self, input_ids, attention_mask, token_type_ids=None, bbox=None, pixel_values=None):
        x = Inputs(input_ids, attention_mask, token_type_ids)
        x.bbox, x.pixel_values = bbox, pixel_values
        return self.run(self, self.hidden(x), x)

    def hidden(self, x: Inputs):
        bbox = getattr(x, "bbox", None)
        if bbox is None:
            bbox = torch.zeros(x.ids.shape + (4,), dtype=torch.long, device=x.ids.device)  # (B, T, 4)
        return self.backbone(x.ids, x.mask, x.types, bbox, getattr(x, "pixel_values", None))  # (B, T', H)
