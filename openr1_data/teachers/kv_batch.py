"""A decoding batch whose rows come and go: the KV cache, attention mask and positions of the rows in flight.

The local transformers teacher decodes left-padded rows over one KV cache. A row that ends leaves at once; a
waiting prompt joins as soon as there is room: it is prefilled on its own (with the others joining at the same
step) and its cache is merged in, left-padded to the batch's length (or the batch to its). Columns that no live
row attends to any more (the padding and the tokens of rows that left) are cut from the left, so the cache stays
as long as the longest live row. Padding is masked, so a row's tokens do not depend on the rows beside it.

Merging needs a cache made only of plain `DynamicLayer`s (full attention: every Llama-, Qwen- or Mistral-style
model without a sliding window); for any other cache (`can_merge` False) the teacher fills a batch once and lets
it drain, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


def can_merge(cache: Any) -> bool:
    """True when `cache` is a cache of plain full-attention layers holding (batch, heads, length, dim) tensors."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    return bool(layers) and all(
        type(layer) is DynamicLayer and getattr(layer, "keys", None) is not None for layer in layers
    )


def _left_pad(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """`tensor` padded with zeros on the left of `dim` up to `length`."""
    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - 1 - (dim % tensor.dim())) + [missing, 0]
    return F.pad(tensor, pad)


@dataclass
class KVBatch:
    """The rows in flight: `cache` (the model's KV cache), `attention` (batch, length) mask, `positions`
    (batch, 1) position of each row's last token, and `logits` (batch, vocab) of the next token of each row."""

    cache: Any
    attention: torch.Tensor
    positions: torch.Tensor
    logits: torch.Tensor

    def __len__(self) -> int:
        return self.attention.shape[0]

    def merge(self, joining: KVBatch) -> None:
        """Append the rows of `joining` (a freshly prefilled batch) after this batch's rows."""
        length = max(self.attention.shape[1], joining.attention.shape[1])
        for mine, theirs in zip(self.cache.layers, joining.cache.layers, strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, length, -2), _left_pad(theirs.keys, length, -2)])
            mine.values = torch.cat(
                [_left_pad(mine.values, length, -2), _left_pad(theirs.values, length, -2)]
            )
        self.attention = torch.cat(
            [_left_pad(self.attention, length, 1), _left_pad(joining.attention, length, 1)]
        )
        self.positions = torch.cat([self.positions, joining.positions])
        self.logits = torch.cat([self.logits, joining.logits])

    def keep(self, rows: list[int], next_ids: torch.Tensor) -> torch.Tensor:
        """Keep only `rows` (their order), cut the columns no kept row attends to; returns their `next_ids`."""
        index = torch.tensor(rows, device=self.attention.device)
        self.cache.batch_select_indices(index)
        self.attention, self.positions = self.attention[index], self.positions[index]
        used = self.attention.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0 and can_merge(self.cache):
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]
            self.attention = self.attention[:, first:]
        return next_ids[index]
