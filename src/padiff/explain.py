"""What a comparison says about settings: the settings diff (`judge.settings`) applied to its pairs.

The layers compared in the first step, and the two optimizers, are diffed once per run; every difference
is a note, and the culprit's reason names those of its own layer pair (or, for an optimizer update, the
optimizers'). A weight transfer that fails on a layer pair whose settings differ (a Conv2d's groups change
its weight's shape) says so in its message.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .capture.optim import StepFunction
from .errors import WeightTransferError
from .frameworks.base import Adapter
from .judge.records import Phase
from .judge.settings import SettingDiff, layer_settings_diff, optimizer_settings_diff, reason_for
from .localize.verdict import Verdict

if TYPE_CHECKING:
    from .options import Side
    from .steps import StepResult

__all__ = ["called_pairs", "optimizer_diffs", "explained", "explained_transfer_error"]


def called_pairs(result: StepResult) -> list[tuple[str, str]]:
    """(base path, raw path) of every pair of layer calls a step compared, each once."""
    diffs = result.forward + result.backward
    return list(dict.fromkeys((d.base_path, d.raw_path) for d in diffs if d.base_id >= 0 and d.raw_id >= 0))


def optimizer_diffs(base: Side, raw: Side) -> list[SettingDiff]:
    """How the two optimizers' settings differ (nothing without optimizers, or with step functions)."""
    sides = (base, raw)
    if any(side.optimizer is None or isinstance(side.optimizer, StepFunction) for side in sides):
        return []
    described = [
        (side.adapter.name, type(side.optimizer).__name__, side.adapter.optimizer_settings(side.optimizer))
        for side in sides
    ]
    return optimizer_settings_diff(described[0], described[1])


def explained(verdict: Verdict, layers: list[SettingDiff], optimizers: list[SettingDiff]) -> Verdict:
    """The verdict with the culprit's reason naming the settings its layer pair (or optimizers) differ in."""
    culprit = verdict.culprit
    if culprit is None:
        return verdict
    why = reason_for(layers, culprit.base_path, culprit.raw_path)
    if culprit.phase is Phase.WEIGHT and optimizers:
        why = "optimizer settings differ: " + "; ".join(d.text for d in optimizers)
    if not why:
        return verdict
    return replace(verdict, culprit=replace(culprit, reason=f"{culprit.reason}; {why}"))


def explained_transfer_error(
    error: WeightTransferError, base: tuple[Adapter, Any], raw: tuple[Adapter, Any]
) -> WeightTransferError:
    """`error`, its first line naming the settings its two layers differ in (itself when none do)."""
    paths = error.paths
    diffs = [] if paths is None else layer_settings_diff([paths], base, raw)
    if paths is None or not diffs:
        return error
    message = str(error)
    if error.hint and message.endswith(f"\nhint: {error.hint}"):
        message = message[: -len(f"\nhint: {error.hint}")]
    first, _, rest = message.partition("\n")
    why = reason_for(diffs, paths[0], paths[1])
    explained_error = WeightTransferError(f"{first}; {why}" + (f"\n{rest}" if rest else ""), hint=error.hint)
    explained_error.paths = paths
    return explained_error
