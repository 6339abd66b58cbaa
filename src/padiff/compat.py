"""The padiff 0.2.0 API, kept working on top of `compare`.

0.2.0 takes the paddle layer first and the torch module second, copies torch's weights into paddle,
and returns a bool. Here torch is the base and paddle the raw model, as it was then, and the paddle layer
keeps the torch module's (initial) weights afterwards, as 0.2.0 documented; optimizer steps are undone
on both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .comparison import compare
from .errors import InputError
from .frameworks.base import adapter_for
from .match.layermap import LayerMap
from .weights.plan import transfer_weights
from .weights.registry import Registration, register_special_init

__all__ = ["auto_diff", "assign_weight", "add_special_init"]

_OPTION_KEYS = {"atol", "rtol", "compare_mode", "diff_phase", "single_step"}


def _swap_pair(value: Any, what: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InputError(
            f"{what} must be a pair (paddle_..., torch_...)", hint="padiff 0.2.0 order: paddle first"
        )
    return (value[1], value[0])


def auto_diff(
    layer: Any,
    module: Any,
    example_inp: Any,
    auto_weights: bool = True,
    options: dict | None = None,
    layer_map: LayerMap | dict | None = None,
    loss_fn: Any = None,
    optimizer: Any = None,
    steps: int = 1,
) -> bool:
    """Compare paddle `layer` with torch `module`; print the report; True when they agree.

    example_inp: (paddle_input, torch_input), each a dict of keyword inputs (or a tensor / tuple), or
    numpy input(s) given once for both. options: atol, rtol, compare_mode ("strict" elementwise, the
    default here; "mean" compares means as 0.2.0 did), diff_phase ("forward" | "backward" | "both"),
    single_step (isolate each layer; forces one step without optimizer, as in 0.2.0).
    optimizer: (paddle_opt, torch_opt), optimizer objects, factories taking the parameters, or 0.2.0's
    zero-argument functions that perform the step; loss_fn: (paddle_fn, torch_fn). layer_map: a
    LayerMap, or a dict {paddle_sublayer: torch_submodule}. With auto_weights, `layer` keeps the weights
    copied from `module` (padiff 0.2.0's behaviour; `padiff.compare` puts them back unless keep_weights).
    """
    options = dict(options or {})
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise InputError(
            f"unknown auto_diff options: {sorted(unknown)}", hint=f"known options: {sorted(_OPTION_KEYS)}"
        )
    inputs = example_inp
    if isinstance(example_inp, (tuple, list)) and len(example_inp) == 2 and not _is_numpy_pair(example_inp):
        inputs = (example_inp[1], example_inp[0])
    report = compare(
        module,
        layer,
        inputs,
        init_weights=auto_weights,
        loss_fn=_swap_pair(loss_fn, "loss_fn"),
        optimizers=_swap_pair(optimizer, "optimizer"),
        steps=steps,
        atol=options.get("atol"),
        rtol=options.get("rtol"),
        layer_map=layer_map,
        single_step=bool(options.get("single_step", False)),
        compare_mode=options.get("compare_mode", "strict"),
        diff_phase=options.get("diff_phase", "both"),
        keep_weights=True,
    )
    print(report)
    if auto_weights:
        print(_KEPT)
    return report.passed


_KEPT = (
    "padiff.auto_diff: the paddle layer keeps the weights copied from the torch module (padiff 0.2.0's "
    "behaviour); optimizer steps were undone on both. padiff.compare puts raw's own weights back instead."
)


def _is_numpy_pair(value: Any) -> bool:
    import numpy as np

    return all(isinstance(v, np.ndarray) for v in value)


def assign_weight(layer: Any, module: Any, layer_map: LayerMap | None = None) -> bool:
    """Copy torch `module`'s weights into paddle `layer`; raises WeightTransferError when they do not pair."""
    transfer_weights(
        adapter_for(module, "torch module"), module, adapter_for(layer, "paddle layer"), layer, layer_map
    )
    return True


def add_special_init(paddle_name: str, torch_name: str, func: Callable[[Any, Any], None]) -> Registration:
    """Register func(paddle_layer, torch_module), which copies the torch module's weights into the paddle layer.

    The registration lasts for the process (as in padiff 0.2.0); `with padiff.add_special_init(...):`
    scopes it to the block, and `.remove()` undoes it."""
    return register_special_init(paddle_name, torch_name, func)
