"""The call tree of one run: one node per layer call, in the order the calls began.

A node's `parent` is the layer call it happened inside (None for the root). Containers such as
Sequential, and layers given to LayerMap.ignore, are `transparent`: they need no counterpart, and the
layers called inside them count as children of their nearest non-transparent ancestor (the *solid
parent*), so alignment and localization see through them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallNode"]


@dataclass
class CallNode:
    """One call of one layer."""

    id: int
    path: str
    cls: str
    kind: str
    builtin: bool
    call: int  # 0 for the first call of this layer in the run, 1 for the second, ...
    parent: int | None
    site: str  # where the user's code called it
    defined: str  # where its forward is defined
    transparent: bool = False  # needs no counterpart (container, LayerMap.ignore)
    opaque: bool = False  # compared at its boundary only (LayerMap.map)
    fused: str = ""  # an activation the layer applies to its own output (paddle BatchNorm(act=...))
    inputs: tuple[
        str, ...
    ] = ()  # keys of its tensor inputs, positional ones named by its forward's signature
    children: list[int] = field(default_factory=list)
