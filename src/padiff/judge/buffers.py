"""Buffers after each step: every paired buffer (BatchNorm's running statistics, and any registered buffer
with a counterpart) is compared once raw's step is done, as `Phase.BUFFER`.

Pairs come from the weight plan (`weights.pairs.StatePair`: a BatchNorm's `_mean`/`_variance` pair with
`running_mean`/`running_var`); a pair is a buffer when raw's tensor is no layer's parameter. Base's values
are read from its trace (before the forward, after the backward); raw's live (`BufferJudge`), or from
anywhere else as plain arrays (`judge_buffers`, with a `BufferRule` per pair).

What raw should hold is what base's step did, in raw's conventions. A BatchNorm in training moves each
statistic as r <- (1 - m) r + m s per call (torch's momentum m is paddle's 1 - momentum; the settings
diff says when the two differ), where s is the batch statistic: the batch mean, and for the variance
torch's *unbiased* batch variance but paddle's *biased* one, a factor (N - 1) / N apart, N the values
per channel in the call's input. Over k calls, r_k = D r_0 + (the batch statistics' share), with
D = (1 - m)^k (torch's cumulative average, momentum=None: D = t / (t + k), t batches tracked before). So
raw should hold D q_0 + c (r_k - D r_0): raw's own value before the step decayed as base's was, plus base's
statistics' share converted by c = f_raw(N) / f_base(N) (f = N / (N - 1) for an unbiased variance, else
1). A base layer whose statistics did not move (eval mode) leaves raw's where they were. A layer called
with different batch sizes in one step has no single c: its variance is not compared, and said so.
Any other buffer must simply hold base's value. Tolerances are those of the pair's base layer path, and
a statistic is judged at the scale of the values it is computed from (`_statistics_floor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from ..frameworks.base import Adapter
from ..match.kinds import is_builtin, layer_kind
from ..weights.pairs import StatePair
from ..weights.rules import torch_state_name
from .metrics import compare_arrays
from .records import LayerDiff, Phase, Where
from .settings_table import torch_momentum
from .tolerance import Tolerances, default_rtol, judged_dtype
from .trace import AFTER, BEFORE, Trace

__all__ = ["BufferRule", "BufferJudge", "buffer_batch_sizes", "judge_buffers", "BATCHNORM_KINDS"]

BATCHNORM_KINDS = frozenset({"batchnorm1d", "batchnorm2d", "batchnorm3d", "syncbatchnorm"})
# framework -> whether its BatchNorm's running variance takes the unbiased batch variance
UNBIASED_VARIANCE = {"torch": True, "paddle": False}
_STATISTICS = ("running_mean", "running_var")  # torch's names (paddle's translated)


@dataclass(frozen=True)
class BufferRule:
    """How one buffer pair is judged: as a BatchNorm statistic (with the base layer's momentum, in
    torch's convention; None: torch's cumulative average), or ("") as a value raw must simply hold."""

    pair: StatePair
    statistic: str = ""  # "running_mean" or "running_var" of a BatchNorm, else ""
    momentum: float | None = 0.1
    base_type: str = ""  # class names of the layers at the pair's paths
    raw_type: str = ""
    dtype: str = "float32"  # the less precise of the two tensors' dtypes

    @property
    def layer_path(self) -> str:
        """The path of the base layer holding the buffer."""
        return self.pair.base_keys[0].rpartition(".")[0]


def buffer_rules(
    base: tuple[Adapter, Any],
    raw: tuple[Adapter, Any],
    state_pairs: list[StatePair],
    autocast: tuple[str | None, str | None] = (None, None),
) -> list[BufferRule]:
    """A rule for each paired buffer (a state that is no layer's parameter on raw's side); `autocast`:
    each side's, if it ran under one (its statistics are judged at that precision)."""
    base_adapter, (raw_adapter, raw_model) = base[0], raw
    params = {
        id(t)
        for _, layer in raw_adapter.named_sublayers(raw_model)
        for _, t in raw_adapter.direct_params(layer)
    }
    layers: list[dict[str, Any]] = [{}, {}]
    for by_path, (adapter, model) in zip(layers, (base, raw)):
        for path, layer in adapter.named_sublayers(model):
            by_path.setdefault(path, layer)
    rules = []
    for pair in state_pairs:
        if id(pair.raw_tensor) in params or len(pair.base_keys) != 1:
            continue
        path, _, name = pair.base_keys[0].rpartition(".")
        holder, raw_holder = layers[0].get(path), layers[1].get(pair.raw_key.rpartition(".")[0])
        statistic = torch_state_name(name)
        batchnorm = statistic in _STATISTICS and all(
            layer is not None and is_builtin(layer) and layer_kind(layer) in BATCHNORM_KINDS
            for layer in (holder, raw_holder)
        )  # each framework's own BatchNorm: its conventions are known
        dtypes = (
            judged_dtype(base_adapter.dtype_name(pair.base_tensors[0]), autocast[0]),
            judged_dtype(raw_adapter.dtype_name(pair.raw_tensor), autocast[1]),
        )
        rules.append(
            BufferRule(
                pair,
                statistic if batchnorm else "",
                torch_momentum(holder, base_adapter.name) if batchnorm else None,
                type(layers[0][pair.base_path]).__name__ if pair.base_path in layers[0] else "",
                type(layers[1][pair.raw_path]).__name__ if pair.raw_path in layers[1] else "",
                max(dtypes, key=default_rtol),
            )
        )
    return rules


def buffer_batch_sizes(rules: list[BufferRule], trace: Trace) -> dict[str, list[int]]:
    """Values in each call's input of the BatchNorms holding these statistics, by layer path (read before
    a raw run releases base's inputs)."""
    paths = {rule.layer_path for rule in rules if rule.statistic}
    sizes: dict[str, list[int]] = {}
    for node in trace.tree:
        if node.path not in paths or node.transparent:
            continue
        stored = trace.tensor(Where.INPUT, node.id, 0)
        if stored is not None:
            shape = stored.shape if stored.shape is not None else trace.array(stored).shape
            sizes.setdefault(node.path, []).append(prod(shape))
    return sizes


def judge_buffers(
    rules: list[BufferRule],
    frameworks: tuple[str, str],
    trace: Trace,
    sizes: dict[str, list[int]],
    raw_values: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
    tolerances: Tolerances,
    step: int,
) -> tuple[list[LayerDiff], list[str]]:
    """One LayerDiff per rule: raw's value after the step (`raw_values`: raw's buffers before and after
    it, by raw state name) against what base's step says it should be; and notes on buffers that could
    not be judged. `frameworks`: (base's, raw's)."""
    before, after = trace.buffers(BEFORE), trace.buffers(AFTER)
    raw_before, raw_after = raw_values
    diffs, notes = [], []
    for order, rule in enumerate(rules):
        pair, key = rule.pair, rule.pair.base_keys[0]
        if key not in after or key not in before or pair.raw_key not in raw_after:
            continue
        expected, floor = _expected(rule, frameworks, before, after, raw_before[pair.raw_key], sizes)
        if expected is None:
            notes.append(
                f"buffer '{key}' not compared: '{rule.layer_path}' was called with different batch sizes in "
                "one step, so its running variance has no single conversion"
            )
            continue
        atol, rtol = tolerances.at(pair.base_path)
        diff = compare_arrays(
            expected, raw_after[pair.raw_key], atol, rtol, rule.dtype, tolerances.mode, floor
        )
        diffs.append(
            LayerDiff(
                phase=Phase.BUFFER,
                step=step,
                where=Where.BUFFER,
                order=order,
                base_path=pair.base_path,
                raw_path=pair.raw_path,
                base_type=rule.base_type,
                raw_type=rule.raw_type,
                call=0,
                leaf=f"{pair.base_name} <-> {pair.raw_name}",
                diff=diff,
                paired_by="weights",
            )
        )
    return diffs, notes


class BufferJudge:
    """The buffer pairs of one live comparison: their rules, and raw's buffers read and put back."""

    def __init__(
        self,
        base: tuple[Adapter, Any],
        raw: tuple[Adapter, Any],
        state_pairs: list[StatePair],
        autocast: tuple[str | None, str | None] = (None, None),
    ):
        self.frameworks = (base[0].name, raw[0].name)
        self.raw_adapter = raw[0]
        self.rules = buffer_rules(base, raw, state_pairs, autocast)

    def batch_sizes(self, trace: Trace) -> dict[str, list[int]]:
        return buffer_batch_sizes(self.rules, trace)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Raw's buffers now, by raw state name."""
        return {rule.pair.raw_key: self.raw_adapter.to_numpy(rule.pair.raw_tensor) for rule in self.rules}

    def restore(self, values: dict[str, np.ndarray]) -> None:
        for rule in self.rules:
            self.raw_adapter.assign(rule.pair.raw_tensor, values[rule.pair.raw_key])

    def compare(
        self,
        trace: Trace,
        sizes: dict[str, list[int]],
        raw_before: dict[str, np.ndarray],
        tolerances: Tolerances,
        step: int,
    ) -> tuple[list[LayerDiff], list[str]]:
        """`judge_buffers` on raw's buffers as they are now."""
        raw_values = (raw_before, self.snapshot())
        return judge_buffers(self.rules, self.frameworks, trace, sizes, raw_values, tolerances, step)


def _expected(
    rule: BufferRule,
    frameworks: tuple[str, str],
    before: Mapping[str, np.ndarray],
    after: Mapping[str, np.ndarray],
    raw_before: np.ndarray,
    sizes: dict[str, list[int]],
) -> tuple[np.ndarray | None, float]:
    """What raw's buffer should hold after this step (see the module docstring; None: unknown), and the
    scale floor it is judged with."""
    pair, key = rule.pair, rule.pair.base_keys[0]
    base_after = pair.convert([after[key]])
    if not rule.statistic:
        return base_after, 0.0
    if np.array_equal(after[key], before[key]):  # base's statistics did not move (eval mode)
        return raw_before, 0.0
    path = rule.layer_path
    calls = sizes.get(path, [])
    if rule.momentum is None:  # torch's cumulative average: the k-th call weighs 1 / (t + k)
        tracked = float(np.asarray(before.get(f"{path}.num_batches_tracked", 0)).reshape(-1)[0])
        decay = tracked / (tracked + len(calls)) if calls else 1.0
    else:
        decay = (1.0 - float(rule.momentum)) ** len(calls)
    factor = 1.0
    if rule.statistic == "running_var":
        counts = {size // max(base_after.size, 1) for size in calls}
        if len(counts) > 1:
            return None, 0.0
        factor = _variance_factor(*frameworks, counts.pop() if counts else 0)
    base_before = pair.convert([before[key]]).astype(np.float64)
    moved = base_after.astype(np.float64) - decay * base_before
    expected = decay * raw_before.astype(np.float64) + factor * moved
    return expected, _statistics_floor(path, rule.statistic, before, after, decay)


def _statistic(path: str, name: str, data: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """A BatchNorm's running statistic by its torch name, whichever framework's spelling `data` uses."""
    for spelling in (name, {"running_mean": "_mean", "running_var": "_variance"}[name]):
        value = data.get(f"{path}.{spelling}")
        if value is not None:
            return value.astype(np.float64)
    return None


def _statistics_floor(
    path: str, name: str, before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], decay: float
) -> float:
    """A batch statistic is known to within the rounding of the values it is computed from, whose size is
    their root mean square sqrt(var + mean^2), not the statistic's own (a batch mean that is 0 in exact
    arithmetic, after a normalising layer, is pure rounding noise). The statistic's share in the running
    value is (1 - decay) times it: so the scale floor is (1 - decay) * mean over channels of the RMS
    for the mean, and of the mean square for the variance. Base's batch statistics are read back from
    its running values (after - decay * before) / (1 - decay)."""
    weight = 1.0 - decay
    mean_before, mean_after = (_statistic(path, "running_mean", data) for data in (before, after))
    var_before, var_after = (_statistic(path, "running_var", data) for data in (before, after))
    if weight <= 0.0 or mean_before is None or mean_after is None or var_before is None or var_after is None:
        return 0.0
    batch_mean = (mean_after - decay * mean_before) / weight
    batch_var = np.maximum((var_after - decay * var_before) / weight, 0.0)
    square = batch_var + batch_mean**2
    scale = np.sqrt(square) if name == "running_mean" else square
    return weight * float(scale.mean()) if scale.size else 0.0


def _variance_factor(base_framework: str, raw_framework: str, count: int) -> float:
    """c = f_raw(N) / f_base(N): how raw's batch variance relates to base's over N values per channel."""
    if count <= 1:
        return 1.0

    def unbiasing(framework: str) -> float:
        return count / (count - 1) if UNBIASED_VARIANCE.get(framework, True) else 1.0

    return unbiasing(raw_framework) / unbiasing(base_framework)
