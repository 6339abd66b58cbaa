"""Which element of one tensor is compared with which of the other, decided from shapes alone (never from
values), and which positions count.

Rule, for raw's shape against base's:
  1. equal shapes: element against element;
  2. the same number of elements, and one shape is the other with adjacent axes merged ([b, s, h*d] vs
     [b, s, h, d]; size-1 axes anywhere): raw reshaped to base's shape;
  3. the same number of elements, and exactly one non-identity permutation of raw's axes gives base's
     shape ([b, heads, s, d] vs [b, s, heads, d], time-major vs batch-major): raw compared under that
     permutation, when the caller allows it (never for a model's final output, whose layout the user
     sees: a time-major against a batch-major output is a difference). Axes of equal size make the
     permutation ambiguous: then it is a shape mismatch;
  4. broadcastable shapes that drop no values (a kept dimension of size 1): after broadcasting;
  5. anything else is a shape mismatch, a difference of that pair.
A masked array (the padded positions of a packed sequence, see the torch adapter) is compared on the
positions valid on both sides; its mask goes through the same reshape, permutation or broadcast.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["Aligned", "align", "in_shape", "unique_permutation", "ambiguous_permutation", "merges"]


@dataclass(frozen=True)
class Aligned:
    """The two arrays, element against element, and how they were brought there ("" when as they came)."""

    base: np.ndarray
    raw: np.ndarray
    note: str


def _prefix_products(shape: tuple[int, ...]) -> set[int]:
    products, total = set(), 1
    for size in shape:
        total *= size
        products.add(total)
    return products


def merges(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether one shape is the other with adjacent axes merged (same elements, same order)."""
    if int(np.prod(a, dtype=np.int64)) != int(np.prod(b, dtype=np.int64)):
        return False
    pa, pb = _prefix_products(a), _prefix_products(b)
    return pa <= pb or pb <= pa


def unique_permutation(raw: tuple[int, ...], base: tuple[int, ...]) -> tuple[int, ...] | None:
    """The one non-identity order of raw's axes that gives base's shape, ignoring size-1 axes; None when
    there is none, or more than one (two axes of equal size could trade places)."""
    raw_axes = [axis for axis, size in enumerate(raw) if size != 1]
    base_sizes = [size for size in base if size != 1]
    raw_sizes = [raw[axis] for axis in raw_axes]
    if Counter(raw_sizes) != Counter(base_sizes) or len(set(raw_sizes)) != len(raw_sizes):
        return None
    order = tuple(raw_axes[raw_sizes.index(size)] for size in base_sizes)
    return None if list(order) == raw_axes else order


def ambiguous_permutation(raw: tuple[int, ...], base: tuple[int, ...]) -> bool:
    """Several orders of raw's axes give base's shape (axes of equal size)."""
    raw_sizes = [size for size in raw if size != 1]
    base_sizes = [size for size in base if size != 1]
    return Counter(raw_sizes) == Counter(base_sizes) and len(set(raw_sizes)) < len(raw_sizes)


def _permuted(array: np.ndarray, order: tuple[int, ...], base_shape: tuple[int, ...]) -> np.ndarray:
    squeezed = array.reshape([array.shape[axis] for axis in sorted(order)])
    ranks = {axis: rank for rank, axis in enumerate(sorted(order))}
    return np.transpose(squeezed, [ranks[axis] for axis in order]).reshape(base_shape)


def _mask(array: np.ndarray) -> np.ndarray | None:
    if isinstance(array, np.ma.MaskedArray) and np.ma.is_masked(array):
        return np.ma.getmaskarray(array)
    return None


def align(base: np.ndarray, raw: np.ndarray, permute: bool = False) -> Aligned | str:
    """The two arrays aligned by the module's rule, or the reason they cannot be (a shape mismatch)."""
    if type(base) is np.ndarray and type(raw) is np.ndarray and base.shape == raw.shape:
        return Aligned(base, raw, "")  # the common case, without masks: as they came
    base_mask, raw_mask = _mask(base), _mask(raw)
    b, r = np.ma.getdata(base), np.ma.getdata(raw)
    note = ""
    if b.shape != r.shape:
        order = unique_permutation(r.shape, b.shape) if permute and b.size == r.size else None
        if b.size == r.size and merges(b.shape, r.shape):
            r, note = r.reshape(b.shape), "reshaped"
            raw_mask = None if raw_mask is None else raw_mask.reshape(b.shape)
        elif order is not None:
            r, note = _permuted(r, order, b.shape), f"permuted {list(order)}"
            raw_mask = None if raw_mask is None else _permuted(raw_mask, order, b.shape)
        else:
            broadcast = _broadcast(b, r)
            if broadcast is None:
                words = f"shape mismatch {list(base.shape)} vs {list(raw.shape)}"
                if permute and b.size == r.size and ambiguous_permutation(r.shape, b.shape):
                    words += " (axes of equal size: which permutation is meant cannot be told)"
                return words
            b, r, note = broadcast[0], broadcast[1], "broadcast"
            base_mask = None if base_mask is None else np.broadcast_to(base_mask, b.shape)
            raw_mask = None if raw_mask is None else np.broadcast_to(raw_mask, r.shape)
    if base_mask is None and raw_mask is None:
        return Aligned(b, r, note)
    invalid = np.zeros(b.shape, dtype=bool)
    for mask in (base_mask, raw_mask):
        if mask is not None:
            invalid |= mask
    words = f"padding ignored ({int(invalid.sum())} of {invalid.size} positions)"
    return Aligned(b[~invalid], r[~invalid], (note + " " + words).strip())


def in_shape(array: np.ndarray, shape: tuple[int, ...], permute: bool = False) -> np.ndarray | None:
    """`array` (base's) laid out in `shape` (raw's) by rules 1 to 3, the inverse of how `align` brings
    raw's to base's: as it is, reshaped, or permuted; None where those rules do not apply."""
    if array.shape == shape:
        return array
    if array.size != int(np.prod(shape, dtype=np.int64)):
        return None
    if merges(array.shape, shape):
        return array.reshape(shape)
    order = unique_permutation(array.shape, shape) if permute else None
    return None if order is None else _permuted(array, order, shape)


def _broadcast(b: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        a, c = np.broadcast_arrays(b, r)
    except ValueError:
        return None
    if a.size < max(b.size, r.size):  # broadcasting against an empty axis drops values
        return None
    return a, c
