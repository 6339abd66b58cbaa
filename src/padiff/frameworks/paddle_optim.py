"""paddle's optimizers, as the adapter sees them: stepping, saving and restoring their state, their
settings, and their per-parameter state read and written in torch's names (see `judge.isolation`).

paddle keeps an optimizer's per-parameter state in accumulators (`moment1`, `moment2`, `velocity`, and
the step count as `beta1_pow_acc` = beta1 ** (steps taken + 1)), created at the first step and named
afresh whenever they are created again: state is therefore written into the accumulators in place.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import paddle

from .base import plain

__all__ = ["PaddleOptimizerOps"]


class PaddleOptimizerOps:
    """The optimizer operations of the paddle adapter (a mixin)."""

    def optimizer_step(self, optimizer: Any) -> None:
        optimizer.step()
        optimizer.clear_grad(set_to_zero=False)

    def optimizer_state(self, optimizer: Any) -> Any:
        # state_dict holds the live accumulators: clone them
        return {
            k: v.clone() if isinstance(v, paddle.Tensor) else copy.deepcopy(v)
            for k, v in optimizer.state_dict().items()
        }

    def restore_optimizer_state(self, optimizer: Any, state: Any) -> None:
        live = _accumulators(optimizer)
        if state and live and all(name in state for name in live):  # the same accumulators: values back
            for name, var in live.items():
                var.set_value(state[name])
            return
        # paddle only loads accumulators it has not made yet: start them (and its record of them) afresh
        for name in ("_accumulators", "_accumulators_holder", "_already_create_accumulator"):
            table: Any = getattr(optimizer, name, None)
            if hasattr(table, "clear"):
                table.clear()
        if state:
            optimizer.set_state_dict(state)

    def optimizer_settings(self, optimizer: Any) -> dict[str, Any]:
        """The learning rate, and the optimizer's own numeric settings (paddle keeps them as `_beta1`,
        `_epsilon`, `_coeff` for AdamW's weight decay, `_momentum`, ...), named without the underscore."""
        settings: dict[str, Any] = {"learning_rate": plain(optimizer.get_lr())}
        for name, value in vars(optimizer).items():
            if name.startswith("_") and not name.startswith("__") and isinstance(value, (bool, int, float)):
                settings[name.lstrip("_")] = value
            elif name in ("_beta1", "_beta2", "_epsilon") and value is not None:
                settings[name.lstrip("_")] = plain(value)
        decay: Any = getattr(optimizer, "regularization", None)  # weight_decay=0.01 is an L2Decay
        name = {"L2Decay": "weight_decay", "L1Decay": "l1_decay"}.get(type(decay).__name__, "")
        settings.update({name: decay._coeff} if name else {})
        settings.setdefault("weight_decay", settings.get("regularization_coeff", 0.0))  # Momentum's own
        return settings

    def optimizer_param_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        # accumulators by name ("moment1", "velocity", ...), each a table by parameter name
        tables = getattr(optimizer, "_accumulators", {}) or {}
        return {name: _numpy(table[param.name]) for name, table in tables.items() if param.name in table}

    def read_optimizer_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        """The parameter's optimizer state in torch's names (see `judge.isolation`)."""
        own = self.optimizer_param_state(optimizer, param)
        state = {_TORCH_STATE[name]: value for name, value in own.items() if name in _TORCH_STATE}
        if "beta1_pow_acc" in own:  # beta1 ** (steps taken + 1)
            beta1 = float(plain(optimizer._beta1))
            state["step"] = np.asarray(
                round(np.log(float(own["beta1_pow_acc"].reshape(-1)[0])) / np.log(beta1)) - 1.0
            )
        return state

    def write_optimizer_states(self, optimizer: Any, states: list[tuple[Any, dict[str, np.ndarray]]]) -> None:
        """Give these parameters this (canonical) state, an empty one being a fresh start, written into
        the accumulators the optimizer already has (paddle names new ones afresh at every creation)."""
        tables = getattr(optimizer, "_accumulators", {}) or {}
        betas = {
            "beta1_pow_acc": optimizer.__dict__.get("_beta1"),
            "beta2_pow_acc": optimizer.__dict__.get("_beta2"),
        }
        for param, state in states:
            step = float(state.get("step", 0.0)) if state else 0.0
            for acc, table in tables.items():
                var = table.get(param.name)
                if var is None:
                    continue
                if acc in betas and betas[acc] is not None:
                    value = np.full(var.shape, float(plain(betas[acc])) ** (step + 1.0))
                elif acc in _TORCH_STATE:
                    value = (
                        state.get(_TORCH_STATE[acc], np.zeros(var.shape)) if state else np.zeros(var.shape)
                    )
                else:
                    continue
                var.set_value(np.asarray(value, dtype=np.float32).reshape(var.shape))


# paddle's accumulator names <-> torch's state names (Adam, AdamW, Momentum)
_TORCH_STATE = {
    "moment1": "exp_avg",
    "moment2": "exp_avg_sq",
    "moment2_max": "max_exp_avg_sq",
    "velocity": "momentum_buffer",
}
_PADDLE_STATE = {torch_name: paddle_name for paddle_name, torch_name in _TORCH_STATE.items()}


def _accumulators(optimizer: Any) -> dict[str, Any]:
    """The optimizer's live accumulator tensors by their variable name (as its state_dict names them)."""
    tables = getattr(optimizer, "_accumulators", {}) or {}
    return {var.name: var for table in tables.values() for var in table.values()}


def _numpy(tensor: Any) -> np.ndarray:
    t = tensor.detach()
    return (t.astype("float32") if t.dtype == paddle.bfloat16 else t).numpy()
