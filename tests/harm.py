"""What a comparison must leave as it found it, and the checks that say so.

``checked_compare`` runs ``padiff.compare`` and then asserts that nothing of the user's was harmed,
whatever the outcome (passed, failed, raised): both models' parameters and buffers bit-identical (raw's
too: the copy of base's weights is for the run, unless keep_weights=True), no hook left, train/eval, requires_grad and inplace flags, default dtypes and grad modes as before, the global
RNGs where they would have been. The smaller helpers read a model's state in either framework.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import paddle
import torch

import padiff

__all__ = [
    "to_numpy",
    "sublayers",
    "state_of",
    "same_state",
    "hooks_left",
    "training_modes",
    "flags",
    "global_settings",
    "run_checked",
    "checked_compare",
]


def _is_torch(model: Any) -> bool:
    return isinstance(model, torch.nn.Module)


def to_numpy(tensor: Any) -> np.ndarray:
    """A copy of ``tensor``'s values."""
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy().copy()
    return np.array(tensor.numpy(), copy=True)


def sublayers(model: Any) -> list[tuple[str, Any]]:
    """(path, layer) for the root and every sublayer, a shared one under each of its paths."""
    if _is_torch(model):
        return list(model.named_modules(remove_duplicate=False))
    return list(model.named_sublayers(include_self=True))


def state_of(model: Any) -> dict[str, np.ndarray]:
    """Every parameter and buffer (BatchNorm statistics, torch's num_batches_tracked included)."""
    if _is_torch(model):
        return {k: to_numpy(v) for k, v in model.state_dict(keep_vars=True).items()}
    return {k: to_numpy(v) for k, v in model.state_dict().items()}


def same_state(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def hooks_left(model: Any) -> list[str]:
    """'path: attribute' for every hook dict that is not empty, on every sublayer."""
    attrs = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    if not _is_torch(model):
        attrs = ("_forward_pre_hooks", "_forward_post_hooks")
    return [f"{path}: {a}" for path, layer in sublayers(model) for a in attrs if len(getattr(layer, a))]


def training_modes(model: Any) -> dict[str, bool]:
    return {path: bool(layer.training) for path, layer in sublayers(model)}


def flags(model: Any) -> dict[str, Any]:
    """train/eval per layer, requires_grad per parameter, inplace flags."""
    if _is_torch(model):
        trainable = {n: p.requires_grad for n, p in model.named_parameters()}
    else:
        trainable = {n: not p.stop_gradient for n, p in model.named_parameters()}
    return {
        "training": {path: layer.training for path, layer in sublayers(model)},
        "trainable": trainable,
        "inplace": {path: layer.inplace for path, layer in sublayers(model) if hasattr(layer, "inplace")},
    }


def global_settings() -> dict[str, Any]:
    """Default dtypes and grad modes of both frameworks."""
    return {
        "torch default dtype": torch.get_default_dtype(),
        "paddle default dtype": paddle.get_default_dtype(),
        "torch grad mode": torch.is_grad_enabled(),
        "paddle grad mode": paddle.is_grad_enabled(),
    }


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    paddle.seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _draws() -> list[np.ndarray]:
    """One draw from every global RNG a user may rely on."""
    return [
        torch.rand(4).numpy(),
        paddle.rand([4]).numpy(),
        np.random.rand(4),
        np.array([random.random() for _ in range(4)]),
    ]


def _is_model(obj: Any) -> bool:
    return isinstance(obj, (torch.nn.Module, paddle.nn.Layer))


def run_checked(call: Callable[[], Any], base: Any, raw: Any, raw_kept: bool = False) -> Any:
    """`call()`, then assert that base's parameters and buffers are bit-identical (and raw's when
    `raw_kept`: padiff stopped before writing), no padiff hook is left, train/eval, requires_grad and
    inplace flags, default dtypes and grad modes are as before, and the global RNGs continue the
    sequence they would have without the call."""
    models = {role: m for role, m in (("base", base), ("raw", raw)) if _is_model(m)}
    kept = {role: state_of(m) for role, m in models.items() if role == "base" or raw_kept}
    before_flags = {role: flags(m) for role, m in models.items()}
    hooks = {role: hooks_left(m) for role, m in models.items()}
    before = global_settings()
    _seed_all(123)
    try:
        return call()
    finally:
        drawn = _draws()
        _seed_all(123)
        for got, want in zip(drawn, _draws()):
            assert np.array_equal(got, want), "a global RNG moved: padiff drew from it or did not restore it"
        assert global_settings() == before
        for role, model in models.items():
            assert hooks_left(model) == hooks[role], f"{role}: hooks left"
            assert flags(model) == before_flags[role], f"{role}: flags changed"
            if role in kept:
                after = state_of(model)
                assert after.keys() == kept[role].keys(), role
                for name, value in kept[role].items():
                    same = (after[name].dtype, after[name].shape, after[name].tobytes())
                    assert same == (value.dtype, value.shape, value.tobytes()), f"{role}.{name} changed"


def checked_compare(base: Any, raw: Any, inputs: Any, raw_kept: bool = True, **kwargs: Any) -> Any:
    """``padiff.compare(base, raw, inputs, **kwargs)`` under ``run_checked``; raw is checked too unless
    ``raw_kept=False`` or ``keep_weights=True`` (raw then keeps base's weights)."""
    raw_kept = raw_kept and not kwargs.get("keep_weights", False)
    return run_checked(lambda: padiff.compare(base, raw, inputs, **kwargs), base, raw, raw_kept)
