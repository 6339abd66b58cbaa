"""Fused and split weights: one Linear on one side made of several Linears on the other (q/k/v, gate/up).

Rule. A `Fusion` says which layers of one model (the *parts*, in layout order) make which Linear of the
other (the *fused* layer), and how (`Layout`): the parts' output features concatenated, or, with
`groups` g > 1, interleaved per head group — each part's features cut into g equal chunks, and the
fused layer holds chunk 0 of every part in order, then chunk 1 of every part, and so on (paddleformers'
qkv_proj: per kv head, that head's query heads, then its k, then its v). The layout comes from a rule
(`fusion_rules`) or a `LayerMap.fuse` declaration, never from shapes. Either model may hold the fused
layer. Every state of the fused layer (weight, bias) is made from the same-named states of the parts,
each converted to the other framework's layout (the rule for the two Linears); on the split side each
part's state is its slice of the fused one. The same layout joins the parts' outputs and gradients, so
the fused layer's calls are compared against its parts' (`judge.fused`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Layout", "Fusion", "LayerPairs", "LINEAR_OUT_AXIS", "members_by_side"]

# the axis of a Linear weight that holds its output features: torch keeps [out, in], paddle [in, out]
LINEAR_OUT_AXIS = {"torch": 0, "paddle": 1}


@dataclass(frozen=True)
class Layout:
    """How the parts' features lie along the fused axis: concatenated (groups 1) or interleaved per group."""

    groups: int = 1

    def order(self, sizes: Sequence[int]) -> np.ndarray:
        """For each position along the fused axis, the position it has in the parts simply concatenated."""
        offsets = np.cumsum([0, *sizes[:-1]])
        chunks = [size // self.groups for size in sizes]
        return np.concatenate(
            [
                np.arange(offset + group * chunk, offset + (group + 1) * chunk)
                for group in range(self.groups)
                for offset, chunk in zip(offsets, chunks)
            ]
        )

    def fuse(self, parts: Sequence[np.ndarray], axis: int) -> np.ndarray:
        sizes = [part.shape[axis] for part in parts]
        return np.take(np.concatenate(parts, axis=axis), self.order(sizes), axis=axis)

    def part(self, fused: np.ndarray, index: int, sizes: Sequence[int], axis: int) -> np.ndarray:
        """Part `index` of a fused array whose parts have `sizes` along `axis`."""
        where = np.argsort(self.order(sizes))  # where each plainly concatenated position lies in the fused
        start = int(sum(sizes[:index]))
        return np.take(fused, where[start : start + sizes[index]], axis=axis)

    def __str__(self) -> str:
        return "concatenated" if self.groups == 1 else f"interleaved per {self.groups} head groups"


@dataclass(frozen=True)
class Fusion:
    """One fused Linear and its parts in two models. `fused_side` is "base" or "raw"; paths are dotted."""

    fused_side: str
    fused: tuple[str, Any]  # (path, layer) in the model that fuses
    parts: tuple[tuple[str, Any], ...]  # (path, layer) in the other model, in layout order
    layout: Layout
    sizes: tuple[int, ...]  # each part's output features
    source: str  # the rule or declaration that gave the layout

    @property
    def base_paths(self) -> tuple[str, ...]:
        return (self.fused[0],) if self.fused_side == "base" else tuple(p for p, _ in self.parts)

    @property
    def raw_paths(self) -> tuple[str, ...]:
        return (self.fused[0],) if self.fused_side == "raw" else tuple(p for p, _ in self.parts)

    def describe(self, short: bool = False) -> str:
        """What the fusion is, the fused layer by its path (`short`: by its name, the same for every layer)."""
        names = ", ".join(path.rpartition(".")[2] for path, _ in self.parts)
        fused = self.fused[0].rpartition(".")[2] if short else self.fused[0]
        return f"'{fused}' ({self.fused_side}) is {names} {self.layout} ({self.source})"

    def join(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """The parts' outputs (or gradients at them), features last, as the fused layer's."""
        return self.layout.fuse(arrays, axis=-1)

    def cut(self, fused: np.ndarray, index: int) -> np.ndarray:
        """Part `index` of the fused layer's output (or gradient at it), features last."""
        return self.layout.part(fused, index, self.sizes, axis=-1)


Transform = Callable[[tuple[np.ndarray, ...]], np.ndarray]


def fused_transform(fusion: Fusion, axes: tuple[int, int], transpose: bool) -> Transform:
    """Raw's fused state from base's part states: each converted (`transpose`), then fused along raw's
    feature axis; `axes` are (base's feature axis, raw's)."""

    def fuse(values: tuple[np.ndarray, ...]) -> np.ndarray:
        converted = [np.ascontiguousarray(v.T) if transpose else v for v in values]
        return np.ascontiguousarray(fusion.layout.fuse(converted, axis=axes[1]))

    return fuse


def split_transform(fusion: Fusion, index: int, axes: tuple[int, int], transpose: bool) -> Transform:
    """Raw's part `index` from base's fused state: its slice along base's feature axis, then converted."""

    def cut(values: tuple[np.ndarray, ...]) -> np.ndarray:
        piece = fusion.layout.part(values[0], index, fusion.sizes, axis=axes[0])
        return np.ascontiguousarray(piece.T if transpose else piece)

    return cut


def members_by_side(fusions: tuple[Fusion, ...]) -> tuple[dict[int, Fusion], dict[int, Fusion]]:
    """{id of layer: its fusion} for the fused and part layers of each side (base, raw)."""
    sides: tuple[dict[int, Fusion], dict[int, Fusion]] = ({}, {})
    for fusion in fusions:
        fused_side, parts_side = (sides[0], sides[1]) if fusion.fused_side == "base" else (sides[1], sides[0])
        fused_side[id(fusion.fused[1])] = fusion
        parts_side.update((id(part), fusion) for _, part in fusion.parts)
    return sides


class LayerPairs(dict[str, str]):
    """{raw path: base path} of the layers LayerMap.map pairs, carrying the fusions found in the same two
    models: the aligner reads both (`match.align`)."""

    fusions: tuple[Fusion, ...]

    def __init__(self, pairs: dict[str, str] | None = None, fusions: Sequence[Fusion] = ()):
        super().__init__(pairs or {})
        self.fusions = tuple(fusions)
