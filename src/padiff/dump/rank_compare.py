"""Two sides of a comparison, at least one of them a multi-rank run, compared rank by rank.

Rule: ranks are paired only where what they computed is comparable (docs/distributed.md):
- the same world size: rank k of base with rank k of raw, as two single-process dumps are compared;
  both sides must hold the same ranks (a rank on one side only is an error naming it);
- base a single process and raw n ranks of a data-parallel run of the same global batch: each raw rank
  against base's rows of its shard (`shard`), its parameter gradients and updates as they are;
- anything else is refused with the reason: a run on n ranks as base against a single process as raw
  (compare them the other way round), or two different world sizes neither of which is one.
Each pair gives a full `Report`; the `RankedReport` gives one verdict over them. Every rank's dump is
opened and checked (`runread`) before the first pair is compared.
"""

from __future__ import annotations

from typing import Any

from ..errors import DumpError
from ..options import Options
from ..report.ranked import RankedReport, RankPair
from .compare import compare_pair
from .runread import RankSide

__all__ = ["compare_ranks"]


def compare_ranks(
    base: RankSide, raw: RankSide, options: Options, layer_map: Any, progress: bool
) -> RankedReport:
    if base.world_size == raw.world_size:
        _same_ranks(base, raw)
        pairs = [
            RankPair(
                rank, rank, compare_pair(base.dumps[rank], raw.dumps[rank], options, layer_map, progress)
            )
            for rank in sorted(raw.dumps)
        ]
        return RankedReport(pairs, base.world_size, raw.world_size, [])
    if base.world_size == 1:
        notes = _shard_notes(base, raw)
        (base_dump,) = base.dumps.values()
        pairs = [
            RankPair(
                0,
                rank,
                compare_pair(base_dump, dump, options, layer_map, progress, (rank, raw.world_size)),
            )
            for rank, dump in sorted(raw.dumps.items())
        ]
        return RankedReport(pairs, 1, raw.world_size, notes)
    raise _refused(base, raw)


def _same_ranks(base: RankSide, raw: RankSide) -> None:
    for here, there in ((base, raw), (raw, base)):
        missing = sorted(set(here.dumps) - set(there.dumps))
        if missing:
            raise DumpError(
                f"rank {missing[0]} of {here.world_size} is in {here.role} ({here.folder}) but not in "
                f"{there.role}: {there.describe()}",
                hint="compare two whole runs (the folders holding rank_0, rank_1, ...), or the same rank's folder of each",
            )


def _refused(base: RankSide, raw: RankSide) -> DumpError:
    if raw.world_size == 1:
        return DumpError(
            f"base ran on {base.world_size} ranks and raw in a single process: each base rank holds a shard of "
            "raw's batch, and padiff compares shards only with the single process as base",
            hint=f"compare them the other way round (padiff compare {raw.folder} {base.folder}), or run raw on "
            f"{base.world_size} ranks too",
        )
    return DumpError(
        f"base ran on {base.world_size} ranks and raw on {raw.world_size}: rank k of one holds other samples than "
        "rank k of the other, and neither holds the global batch, so no pair of ranks computed the same thing",
        hint="run both on the same number of ranks, or compare each with a single-process run of the global batch",
    )


def _shard_notes(base: RankSide, raw: RankSide) -> list[str]:
    """What a comparison of shards with a single process leaves out or changes, said once for the run."""
    summary = [side.role for side in (base, raw) if any(d.summary_only for d in side.dumps.values())]
    if summary:
        raise DumpError(
            f"{' and '.join(summary)} dumped with summary_only=True: a rank's shard cannot be cut from "
            "summary statistics of the single process's batch",
            hint="dump both sides without summary_only to compare a multi-rank run with a single process",
        )
    n = raw.world_size
    notes = [
        f"raw ran on {n} ranks and base in a single process: each rank's layers are compared with base's rows "
        f"of its shard, the gradients they send back after dividing raw's by {n} (a mean loss over a shard weighs "
        f"each sample {n} times as much as one over the global batch); parameter gradients (after the "
        "all-reduce) and updates as they are",
        "buffers (running statistics) are not compared: each rank's come from its own shard",
    ]
    adapter, model = raw.dumps[min(raw.dumps)].standin()
    for path, layer in adapter.named_sublayers(model):
        name = type(layer).__name__.lower()
        if "batchnorm" in name and "sync" not in name and adapter.is_training(layer):
            notes.append(
                f"raw '{path}' ({type(layer).__name__}) normalises each rank's shard with that shard's "
                "statistics in train mode, base's with the global batch's: its outputs differ from base's rows "
                "(SyncBatchNorm, or eval mode, makes them comparable)"
            )
    return notes
