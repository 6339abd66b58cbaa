"""Which input of a raw layer call pairs with which input of its base counterpart.

Rule: same name first (a positional input is named by its forward's parameter name); the rest by
position among the unnamed rest. Two implementations of one layer pass the same inputs under the same
names in any order, and may pass extra ones (Hugging Face's `cache_position`): those have no counterpart
and are not compared. Inputs whose names differ (torch `input`, paddle `x`) pair in order.
"""

from __future__ import annotations

__all__ = ["pair_inputs"]


def pair_inputs(base_keys: tuple[str, ...], raw_keys: tuple[str, ...]) -> dict[int, int]:
    """{raw input index: base input index}."""
    shared = set(base_keys) & set(raw_keys)
    base_at = {key: i for i, key in enumerate(base_keys)}
    rest = iter([i for i, key in enumerate(base_keys) if key not in shared])
    pairs: dict[int, int] = {}
    for index, key in enumerate(raw_keys):
        partner = base_at[key] if key in shared else next(rest, None)
        if partner is not None:
            pairs[index] = partner
    return pairs
