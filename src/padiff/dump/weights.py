"""`padiff.load_weights`: start raw from base's dumped initial weights, in another process.

Rule: the copy is `compare`'s weight transfer (`weights.plan.transfer_weights`) with base replaced by
the stand-in model of base's dump, whose states read the dump's initial weights: the same pairing, the
same conversions (Linear transposed across frameworks, BatchNorm statistics renamed, packed attention
split ...), the same LayerMap (given by paths, as for `compare_dumps`). Every pair is planned before
the first write, so a model that does not pair is left untouched. A user's `add_special_init` function
needs base's live module, which a dump is not: such a pair is an `InputError` naming both layers. A
multi-rank base run gives rank 0's initial weights (every rank of a data-parallel run starts from them);
a data-parallel wrapper around raw is looked through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..frameworks.base import adapter_for
from ..weights.plan import plan_state_pairs
from .layermap import layer_map_for_dumps
from .ranks import unwrap_parallel
from .reader import open_dump
from .runread import run_rank0

__all__ = ["load_weights"]


def load_weights(raw_model: Any, base_dir: str | Path, *, layer_map: Any = None) -> list[str]:
    """Copy the initial weights dumped in `base_dir` into `raw_model`; returns the raw state names set."""
    raw_adapter = adapter_for(raw_model, "raw")
    raw_model = unwrap_parallel(raw_model)
    base = open_dump(run_rank0(base_dir), "base")
    raw = (raw_adapter, raw_model)
    layers = layer_map_for_dumps(layer_map or {}, base.standin(), raw)
    resolved = layers.resolve(*base.standin(), *raw)
    pairs, specials = plan_state_pairs(*base.standin(), *raw, layers, resolved)
    if specials:
        special = specials[0]
        raise InputError(
            f"base '{special.base_path}' and raw '{special.raw_path}' are copied by a function given to "
            "padiff.add_special_init, which needs base's live module; a dump only holds its weights",
            hint="copy these layers yourself after load_weights (from base_dir/weights.safetensors), or "
            "compare the two models in one process with padiff.compare",
        )
    values = [(pair, pair.base_value(base.adapter)) for pair in pairs]
    for pair, value in values:
        raw_adapter.assign(pair.raw_tensor, value)
    return [pair.raw_key for pair in pairs]
