"""torch's PackedSequence, read as what it stands for: a padded batch-first tensor whose padding is masked.

A PackedSequence holds only the valid time steps of a batch of sequences (`data`, [sum of lengths, ...])
and how to put them back (`batch_sizes`, the sort order). The other framework (paddle's RNNs with
`sequence_length`) and the user's own code see the padded batch. So when a layer takes or returns a
PackedSequence, its `data` tensor stands for it, and `data` (and every gradient of it) is read as the
padded [batch, time, ...] array, a numpy masked array whose masked positions are the padding: compared
on valid positions only (see `judge.shapes`).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

__all__ = ["PackedForms"]

Form = tuple[Any, Any, Any]  # batch_sizes, sorted_indices, unsorted_indices


class PackedForms:
    """Which tensors are (or are gradients of) a PackedSequence's data, by identity, held weakly."""

    def __init__(self) -> None:
        self._forms: dict[int, tuple[weakref.ref, Form]] = {}

    def unpack(self, value: Any) -> Any:
        """A PackedSequence's data tensor (remembering how it packs), anything else as it is."""
        if isinstance(value, PackedSequence):
            self._put(value.data, (value.batch_sizes, value.sorted_indices, value.unsorted_indices))
            return value.data
        return value

    def carrier(self, source: Any) -> Callable[[Any], None] | None:
        """What makes a gradient of `source` pack as `source` does, or None when `source` is no packed
        data; it holds the form only, so `source` may be freed before its gradient arrives."""
        form = self._get(source)
        return None if form is None else functools.partial(self._put, form=form)

    def padded(self, tensor: Any) -> np.ndarray | None:
        """The masked padded array `tensor` stands for, or None when it is no packed data."""
        form = self._get(tensor)
        if form is None:
            return None
        data = tensor.detach()
        padded, lengths = pad_packed_sequence(PackedSequence(data, *form), batch_first=True)
        if padded.dtype == torch.bfloat16:
            padded = padded.float()
        array = padded.cpu().numpy().copy()
        steps = np.arange(array.shape[1])[None, :] >= lengths.numpy()[:, None]  # [batch, time]: padding
        mask = np.broadcast_to(steps.reshape(steps.shape + (1,) * (array.ndim - 2)), array.shape)
        return np.ma.MaskedArray(array, mask=mask.copy())

    def _put(self, tensor: Any, form: Form) -> None:
        key = id(tensor)

        def forget(_: weakref.ref) -> None:  # the tensor is gone: so is its entry
            self._forms.pop(key, None)

        self._forms[key] = (weakref.ref(tensor, forget), form)

    def _get(self, tensor: Any) -> Form | None:
        entry = self._forms.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None
