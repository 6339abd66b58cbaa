"""One step of two dumps judged: base's step as the trace, raw's events replayed into the comparer.

Rule: the same records, in the same order, as `steps._run_step` makes live (with `confirm=False` and no
isolation): forward and backward pairs from `RawComparer`, the paired buffers after the step
(`judge.buffers.BufferJudge`, raw's buffers read from its dump as they were before and after its run)
after the forward ones, then every paired parameter's gradient, then, when both sides took an
optimizer step, every trainable parameter's update. Arrays are read in the
order and under the names the live trace would have used (the pairs' base state names, in pair order),
so tolerance floors come out identical. In a summary comparison each layer-tensor record is given the
tensors' real shapes and marked "summary" (`summary`'s rule); a pair whose sizes cannot agree fails as
a shape mismatch. One rank of a data-parallel run against a single process (`shard`) is judged against
base's rows of its shard, its buffers left out.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from ..capture.hooks import RunState
from ..judge.buffers import BufferJudge
from ..judge.params import compare_param_arrays
from ..judge.records import LayerDiff, Phase
from ..judge.stream import RawComparer
from ..match.align import Aligner
from ..match.run_notes import run_notes
from ..options import Options
from ..steps import StepResult
from ..weights.pairs import StatePair
from .shard import Shard, ShardSink, ShardTrace
from .trace import DumpStep, DumpTrace, replay

__all__ = ["judge_step"]


def judge_step(
    steps: tuple[DumpStep, DumpStep],
    pairs: list[StatePair],
    options: Options,
    path_pairs: dict[str, str],
    advance: Callable[[int], Any],
    buffers: BufferJudge | None,
    shard: Shard | None = None,
) -> StepResult:
    base_step, raw_step = steps
    index, tolerances = base_step.index, options.tolerances
    trace = DumpTrace(base_step) if shard is None else ShardTrace(base_step, shard)
    raw_adapter = raw_step.dump.adapter
    if buffers is not None:
        sizes = buffers.batch_sizes(trace)  # before the replay releases base's inputs
        with raw_adapter.reading(_reader(raw_step, "buffer.before/")):  # raw's buffers as its step began
            raw_buffers = buffers.snapshot()
    aligner = Aligner(trace.tree, path_pairs)
    comparer = RawComparer(raw_step.dump.adapter, trace, aligner, tolerances, index)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="padiff-params") as pool:
        # parameters do not depend on the layer events: compared on a second core meanwhile
        grads = pool.submit(_param_grads, pairs, steps, options, trace.loss_grad_scale)
        if base_step.summary:
            shapes = _SummaryShapes(comparer, trace)
            replay(raw_step, shapes, advance, shapes.on_event)
        elif isinstance(trace, ShardTrace):
            replay(raw_step, ShardSink(comparer, trace), advance)
        else:
            replay(raw_step, comparer, advance)
        comparer.finish()
        result = StepResult(comparer.forward, comparer.backward, base_tree=trace.tree, raw_tree=aligner.raw)
        result.grads = grads.result()
    states = [
        RunState(
            dropout_neutralised=s.entry.get("dropout_neutralised", 0),
            functional_dropout=s.entry.get("functional_dropout", 0),
            skipped_outputs=s.entry.get("skipped_outputs", 0),
        )
        for s in steps
    ]
    buffer_diffs: list[LayerDiff] = []
    buffer_notes: list[str] = []
    if buffers is not None:
        with raw_adapter.reading(_reader(raw_step, "buffer.after/")):  # ... and as it ended
            buffer_diffs, buffer_notes = buffers.compare(trace, sizes, raw_buffers, tolerances, index)
    result.notes = run_notes(states[0], states[1], aligner) + comparer.notes + buffer_notes
    result.forward += buffer_diffs  # statistics a forward leaves behind: judged after the forward
    if base_step.entry.get("updated") and raw_step.entry.get("updated"):
        trainable = [p for p in pairs if p.raw_tensor.trainable]
        base_updates = _base_arrays(pairs, base_step, "update/")
        before = _base_arrays(pairs, base_step, "before/")
        raw_updates = _raw_arrays(pairs, raw_step, "update/")
        result.updates = compare_param_arrays(
            trainable, base_updates, raw_updates, tolerances, Phase.WEIGHT, index, before
        )
    elif base_step.entry.get("updated") or raw_step.entry.get("updated"):
        stepped = "base" if base_step.entry.get("updated") else "raw"
        result.notes.append(f"step {index}: only {stepped} took an optimizer step; updates not compared")
    return result


def _reader(step: DumpStep, prefix: str) -> Callable[[str], np.ndarray]:
    return lambda key: step.file.array(prefix + key)


def _param_grads(
    pairs: list[StatePair], steps: tuple[DumpStep, DumpStep], options: Options, loss_grad_scale: float
) -> list[LayerDiff]:
    base_grads = _base_arrays(pairs, steps[0], "grad/")
    raw_grads = _raw_arrays(pairs, steps[1], "grad/")
    return compare_param_arrays(
        pairs,
        base_grads,
        raw_grads,
        options.tolerances,
        Phase.GRAD,
        steps[0].index,
        loss_grad_scale=loss_grad_scale,
    )


def _base_arrays(pairs: list[StatePair], step: DumpStep, prefix: str) -> dict[str, np.ndarray]:
    """Base's arrays by the pairs' base state names, in pair order (as the live trace records them)."""
    out: dict[str, np.ndarray] = {}
    for pair in pairs:
        for key, tensor in zip(pair.base_keys, pair.base_tensors):
            if key not in out and prefix + tensor.key in step.file:
                out[key] = step.file.array(prefix + tensor.key)
    return out


def _raw_arrays(pairs: list[StatePair], step: DumpStep, prefix: str) -> dict[int, np.ndarray]:
    return {
        id(pair.raw_tensor): step.file.array(prefix + pair.raw_tensor.key)
        for pair in pairs
        if prefix + pair.raw_tensor.key in step.file
    }


class _SummaryShapes:
    """Passes raw's events to the comparer; records made from summaries get the tensors' real shapes."""

    def __init__(self, comparer: RawComparer, trace: DumpTrace):
        self.comparer, self.trace = comparer, trace
        self.event: tuple = ()

    def on_event(self, event: tuple) -> None:
        self.event = event
        self.trace.last = None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.comparer, name)
        if name not in ("on_input", "on_output", "on_grad"):
            return method

        def patched(*args: Any) -> Any:
            counts = len(self.comparer.forward), len(self.comparer.backward)
            method(*args)
            for records, start in ((self.comparer.forward, counts[0]), (self.comparer.backward, counts[1])):
                for i in range(start, len(records)):
                    records[i] = _with_shapes(records[i], self.trace.last, tuple(self.event[6]))

        return patched


def _with_shapes(record: LayerDiff, stored: Any, raw_shape: tuple[int, ...]) -> LayerDiff:
    """A record judged on summaries, with the tensors' real shapes (and failing if they cannot agree)."""
    base_shape = tuple(stored.handle[1]) if stored is not None else record.diff.base_shape
    diff = replace(
        record.diff, base_shape=base_shape, raw_shape=raw_shape, note=(record.diff.note + " summary").strip()
    )
    if int(np.prod(base_shape)) != int(np.prod(raw_shape)):
        try:
            np.broadcast_shapes(base_shape, raw_shape)
        except ValueError:
            nan = float("nan")
            note = f"shape mismatch {list(base_shape)} vs {list(raw_shape)} summary"
            diff = replace(
                diff,
                passed=False,
                max_abs=nan,
                max_rel=nan,
                mean_abs=nan,
                cosine=nan,
                close_frac=0.0,
                note=note,
            )
    return replace(record, diff=diff)
