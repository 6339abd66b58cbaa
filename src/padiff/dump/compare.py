"""`padiff.compare_dumps`: the Report `padiff.compare` would give, from two dumps, with no model at hand.

Rule: every step is judged by the same code as a live comparison. Base's dumped step is the `Trace`
(`trace.DumpTrace`); raw's recorded events are replayed into the same `RawComparer`, in the order raw's
run produced them, so alignment, metrics, culprit and verdict are those of `padiff.compare(...,
confirm=False, api_level=False)` on the same models and inputs. Weights, gradients and updates are
paired by the same weight plan, made on stand-in models (`standin`) and a LayerMap given by paths
(`layermap`). What needs the models is not done and the report says so: confirming a failure with
single-step isolation, judging rounding against float64, narrowing an own-code culprit to one op. The
two manifests' differences (versions, environment, modes, layer settings) are added as notes, as are
a raw side that did not start from base's weights, and a step count that differs (the common steps are
compared). Both dumps are opened and checked whole before anything is compared. Multi-rank runs are
compared rank by rank (`rank_compare`) and give a `RankedReport`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DumpError, WeightTransferError
from ..explain import called_pairs, explained
from ..judge.buffers import BufferJudge
from ..judge.settings import SettingDiff, layer_settings_diff, optimizer_settings_diff, settings_notes
from ..judge.tolerance import Bound
from ..localize.verdict import Verdict, judge_steps
from ..options import Options, Side
from ..report import Report
from ..report.build import build_report
from ..report.ranked import RankedReport
from ..steps import StepResult
from ..weights.pairs import StatePair
from ..weights.plan import plan_state_pairs
from .differences import manifest_differences
from .layermap import layer_map_for_dumps
from .reader import Dump
from .runread import open_side
from .shard import find_shard
from .step import judge_step
from .trace import DumpStep, PathPolicy

__all__ = ["compare_dumps", "compare_pair", "Progress"]

OFFLINE_NOTE = (
    "offline comparison of two dumps: this failure is unconfirmed; confirming it with single-step isolation, "
    "judging rounding against float64{narrow} need the models (run padiff.compare on them)"
)


def compare_dumps(
    base_dir: str | Path,
    raw_dir: str | Path,
    *,
    atol: Bound = None,
    rtol: Bound = None,
    layer_map: Any = None,
    compare_mode: str = "strict",
    diff_phase: str = "both",
    progress: bool = False,
) -> Report | RankedReport:
    """Compare the dump of base (the reference) with the dump of raw; see the module docstring and
    README.md ("Offline"). `layer_map`: a dict or a YAML/JSON file naming layers by path. Two dumps of
    one process each give a `Report`; when either side is a multi-rank run (or one rank of it), the
    ranks are paired and compared one by one into a `RankedReport` (docs/distributed.md)."""
    options = Options.parse(
        atol=atol, rtol=rtol, compare_mode=compare_mode, diff_phase=diff_phase,
        single_step=False, api_level=False, confirm=False,
    )  # fmt: skip
    base, raw = open_side(base_dir, "base"), open_side(raw_dir, "raw")
    if base.single and raw.single:
        return compare_pair(base.dumps[0], raw.dumps[0], options, layer_map, progress)
    from .rank_compare import compare_ranks  # it compares each pair of ranks with compare_pair

    return compare_ranks(base, raw, options, layer_map, progress)


def compare_pair(
    base: Dump,
    raw: Dump,
    options: Options,
    layer_map: Any,
    progress: bool,
    shard_of: tuple[int, int] | None = None,
) -> Report:
    """Two opened dumps compared; `shard_of` (rank, world size): raw is that rank of a data-parallel
    run and base a single process that ran the global batch (`shard`)."""
    layers = layer_map_for_dumps(layer_map or {}, base.standin(), raw.standin())
    resolved = layers.resolve(*base.standin(), *raw.standin())
    try:
        pairs, specials = plan_state_pairs(*base.standin(), *raw.standin(), layers, resolved)
    except WeightTransferError as error:
        raise DumpError(
            f"the two dumps are of models whose weights do not pair: {str(error).splitlines()[0]}",
            hint="compare dumps of the same model (or its port); pair layers with a layer map if their trees differ",
        ) from error
    pairs += [p for special in specials for p in special.candidates if _start_equal(p)]
    base_side = Side("base", base.adapter, base.model, None, resolved.base_policy)
    raw_side = Side("raw", raw.adapter, raw.model, None, resolved.raw_policy)
    notes = _setup_notes(base, raw)
    count = min(len(base.steps), len(raw.steps))
    summary = base.summary_only or raw.summary_only
    policies = (
        PathPolicy.of(*base.standin(), resolved.base_policy),
        PathPolicy.of(*raw.standin(), resolved.raw_policy),
    )
    buffers = BufferJudge(base.standin(), raw.standin(), pairs) if shard_of is None else None
    results = []
    with Progress(progress, sum(raw.tensor_bytes(i) for i in range(count))) as advance:
        for index in range(count):
            steps = DumpStep(base, index, policies[0], summary), DumpStep(raw, index, policies[1], summary)
            shard = None if shard_of is None else find_shard(*steps, *shard_of)
            if shard is not None and shard.describe() not in notes:
                notes.append(shard.describe())
            results.append(judge_step(steps, pairs, options, resolved.path_pairs, advance, buffers, shard))
    if any(base.steps[i].get("updated") for i in range(count)):
        notes.append(f"{count} optimizer steps were recorded in the dumps")
    optimizer_settings = _optimizer_diffs(base, raw, count)
    layer_settings = (
        layer_settings_diff(called_pairs(results[0]), base.standin(), raw.standin()) if results else []
    )
    notes.extend(settings_notes(layer_settings, optimizer_settings))
    verdict = judge_steps(results, options.diff_phase, notes)
    verdict = explained(verdict, layer_settings, optimizer_settings)
    start = _start_note(pairs) if verdict.culprit is not None else []
    verdict = replace(
        verdict, notes=verdict.notes + start + _offline_notes(verdict, base, raw, results, summary)
    )
    return build_report(verdict, base_side, raw_side)


def _optimizer_diffs(base: Dump, raw: Dump, count: int) -> list[SettingDiff]:
    """How the two optimizers' settings differ, as each dump recorded them at its first step."""
    described = []
    for dump in (base, raw):
        record = next((s["optimizer"] for s in dump.steps[:count] if s.get("optimizer")), None)
        if not isinstance(record, dict):
            return []
        described.append((dump.framework, str(record.get("kind", "")), dict(record.get("settings", {}))))
    return optimizer_settings_diff(described[0], described[1])


def _start_equal(pair: StatePair) -> bool:
    """Whether raw's state started from the value this pair says it is made from."""
    raw_value = pair.raw_tensor.value()
    base_value = pair.convert([t.value() for t in pair.base_tensors])
    return raw_value.shape == base_value.shape and bool(
        np.array_equal(raw_value, base_value.astype(raw_value.dtype))
    )


def _setup_notes(base: Dump, raw: Dump) -> list[str]:
    notes: list[str] = []
    for dump in (base, raw):
        said = [*dump.manifest.get("notes", []), *(n for step in dump.steps for n in step.get("notes", []))]
        notes.extend(f"{dump.role}: {n}" for n in said if f"{dump.role}: {n}" not in notes)
    if len(base.steps) != len(raw.steps):
        notes.append(
            f"base holds {len(base.steps)} steps and raw {len(raw.steps)}: the first {min(len(base.steps), len(raw.steps))} "
            "are compared"
        )
    return notes


def _start_note(pairs: list[StatePair]) -> list[str]:
    """Whether raw started from base's weights (read only for a failing report: a passing one did)."""
    differ = [p for p in pairs if not _start_equal(p)]
    if not differ:
        return []
    first = differ[0]
    return [
        f"raw did not start from base's weights: {len(differ)} of {len(pairs)} paired states differ before the "
        f"first step (first: base '{first.base_keys[0]}' / raw '{first.raw_key}'); dump raw after "
        "padiff.load_weights(raw_model, base_dir)"
    ]


def _offline_notes(
    verdict: Verdict, base: Dump, raw: Dump, results: list[StepResult], summary: bool
) -> list[str]:
    notes = []
    if summary:
        judged = sum(1 for r in results for d in r.forward + r.backward if "summary" in d.diff.note)
        side = (
            "both dumps"
            if base.summary_only and raw.summary_only
            else ("base" if base.summary_only else "raw")
        )
        notes.append(
            f"{judged} pairs of layer tensors were judged on summary statistics ({side} dumped with "
            "summary_only=True): sampled values, min, max, mean and rms; parameters are compared in full"
        )
    if verdict.culprit is not None:
        own = verdict.culprit.evidence.where.value in ("input", "grad_out")
        notes.append(OFFLINE_NOTE.format(narrow=" and narrowing its own code to one op" if own else ""))
    return notes + manifest_differences(base, raw)


class Progress:
    """A progress bar over raw's tensor bytes (tqdm): shown once the compare has run for `delay` seconds,
    and only on a terminal (tqdm's own check of `file`, stderr by default)."""

    def __init__(self, enabled: bool, total: int, file: Any = None, delay: float = 1.0):
        self.enabled, self.total, self.file, self.delay = enabled, total, file, delay
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], Any]:
        if not self.enabled:
            return lambda _: None
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.total,
            unit="B",
            unit_scale=True,
            delay=self.delay,
            disable=None,
            file=self.file,
            desc="padiff compare",
            leave=False,
        )
        return self.bar.update

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
