"""Which of raw's weights the comparison leaves as they are, said in notes: those of layers given to
LayerMap.ignore (not copied: raw's own stay), and trainable parameters no state pair holds (their
gradients and updates are not compared): a special init's copy padiff cannot match to base's states (one
fused weight made from several of base's), or a raw weight nothing in base owns. A run where nothing
paired says why in its weight plan's note instead.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from ..frameworks.base import Adapter
from .pairs import StatePair

__all__ = ["unpaired_notes"]


def unpaired_notes(adapter: Adapter, model: Any, pairs: list[StatePair], ignored: Set[int]) -> list[str]:
    """The notes on raw's weights of layers given to LayerMap.ignore (`ignored`: their ids), and on raw's
    trainable parameters outside every pair."""
    notes = _ignored_note(adapter, model, ignored)
    if not pairs:
        return notes
    paired = {id(pair.raw_tensor) for pair in pairs}
    skipped = {
        id(tensor)
        for _, layer in adapter.named_sublayers(model)
        if id(layer) in ignored
        for _, tensor in adapter.direct_state(layer)
    }
    missing = [
        name
        for name, tensor in adapter.named_parameters(model)
        if adapter.requires_grad(tensor) and id(tensor) not in paired and id(tensor) not in skipped
    ]
    if not missing:
        return notes
    more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
    return notes + [
        f"gradients and updates not compared for {len(missing)} of raw's parameters that no base state is "
        f"paired with (a special init's copy padiff could not match, for one): {', '.join(missing[:6])}{more}"
    ]


def _ignored_note(adapter: Adapter, model: Any, ignored: Set[int]) -> list[str]:
    """LayerMap.ignore'd layers keep their own weights: say so, since raw's then stay as they were."""
    paths = [
        path or "(root)"
        for path, layer in adapter.named_sublayers(model)
        if id(layer) in ignored and adapter.direct_state(layer)
    ]
    if not paths:
        return []
    return [f"weights of layers given to LayerMap.ignore were not copied into raw: {', '.join(paths[:8])}"]
