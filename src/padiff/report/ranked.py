"""The report of a multi-rank comparison: one `Report` per pair of ranks, and one verdict over them.

Rule: the run passes when every pair of ranks passes. The verdict names the rank whose first difference
comes first: earliest step, then phase (forward, backward, parameter gradients, update, buffers), then
rank. In a data-parallel run the all-reduce hands every rank the mean of all ranks' gradients, so a
rank whose forward or backward differs makes the parameter gradients of every rank differ; such a
rank's own failure in parameter gradients or updates only is said to follow from the named rank. The
JSON form (`to_dict`, `kind: "ranks"`) holds each pair's full report (docs/report-format.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import DumpError
from ..judge.records import Phase
from . import FORMAT_VERSION, Report

__all__ = ["RankPair", "RankedReport"]

_PHASES = list(Phase)
_AFTER_REDUCE = (Phase.GRAD, Phase.WEIGHT)


@dataclass
class RankPair:
    """Base's rank and raw's rank compared, and their report (base rank 0 of a single process)."""

    base_rank: int
    raw_rank: int
    report: Report

    def order(self) -> tuple[int, int, int]:
        culprit = self.report.first_diff
        if culprit is None:
            return (1 << 30, len(_PHASES), self.raw_rank)
        return (culprit.step, _PHASES.index(culprit.phase), self.raw_rank)


@dataclass
class RankedReport:
    ranks: list[RankPair]
    base_world_size: int
    raw_world_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(pair.report.passed for pair in self.ranks)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def first(self) -> RankPair | None:
        """The failing pair of ranks the verdict names (see the module docstring)."""
        failing = [pair for pair in self.ranks if not pair.report.passed]
        return min(failing, key=RankPair.order) if failing else None

    @property
    def rank(self) -> int | None:
        """Raw's rank where the run first differs (None when it passed)."""
        first = self.first
        return None if first is None else first.raw_rank

    @property
    def first_diff(self) -> Any:
        first = self.first
        return None if first is None else first.report.first_diff

    @property
    def shown(self) -> RankPair:
        """The pair whose report is shown in full: the one the verdict names, else the first."""
        return self.first or self.ranks[0]

    @property
    def diffs(self) -> list[Any]:
        """Every compared pair of the ranks `shown`."""
        return self.shown.report.diffs

    @property
    def base_framework(self) -> str:
        return self.ranks[0].report.base_framework

    @property
    def raw_framework(self) -> str:
        return self.ranks[0].report.raw_framework

    def _sides(self) -> str:
        def side(size: int) -> str:
            return "a single process" if size == 1 else f"{size} ranks"

        return f"{self.base_framework} base on {side(self.base_world_size)} vs {self.raw_framework} raw on {side(self.raw_world_size)}"

    def _line(self, pair: RankPair, first: RankPair | None) -> str:
        label = f"rank {pair.raw_rank}" if self.base_world_size != 1 else f"raw rank {pair.raw_rank}"
        culprit = pair.report.first_diff
        if pair.report.passed:
            return f"  {label}: PASSED ({len(pair.report.diffs)} pairs)"
        if culprit is None:
            return f"  {label}: FAILED"
        text = f"  {label}: FAILED in {culprit.phase.value} (step {culprit.step}) at '{culprit.base_path or '(root)'}'"
        if first is not None and pair is not first and culprit.phase in _AFTER_REDUCE:
            text += f", following rank {first.raw_rank}: the all-reduce gives every rank the mean of all ranks' gradients"
        return text

    def summary(self) -> str:
        first = self.first
        if first is None:
            head = f"padiff: PASSED on every rank  ({self._sides()})"
        else:
            culprit = first.report.first_diff
            where = "" if culprit is None else (
                f": first difference in {culprit.phase.value} (step {culprit.step}) at '{culprit.base_path or '(root)'}'"
            )  # fmt: skip
            head = f"padiff: FAILED on rank {first.raw_rank}{where}  ({self._sides()})"
        lines = [head, *(self._line(pair, first) for pair in self.ranks)]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def render(self, trees: bool | None = None) -> str:
        """The ranks' verdicts, then the report of the rank `shown` (`trees` as for `Report.render`)."""
        shown = self.shown
        render = getattr(shown.report, "render", None)  # Report.render(trees) where this padiff has it
        text = str(shown.report) if render is None else render(trees)
        return f"{self.summary()}\n\nrank {shown.raw_rank} in full:\n{text}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "kind": "ranks",
            "passed": self.passed,
            "rank": self.rank,
            "base_world_size": self.base_world_size,
            "raw_world_size": self.raw_world_size,
            "notes": list(self.notes),
            "ranks": [
                {"base_rank": p.base_rank, "raw_rank": p.raw_rank, "report": p.report.to_dict()}
                for p in self.ranks
            ],
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RankedReport:
        """The report `to_dict` wrote; a DumpError for anything else."""
        try:
            ranks = [
                RankPair(int(p["base_rank"]), int(p["raw_rank"]), Report.from_dict(p["report"]))
                for p in data["ranks"]
            ]
            report = cls(
                ranks, int(data["base_world_size"]), int(data["raw_world_size"]), list(data["notes"])
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DumpError(
                f"a malformed multi-rank padiff report: {type(error).__name__}: {error}",
                hint="it must come from report.save()",
            ) from error
        if not ranks:
            raise DumpError(
                "a multi-rank padiff report without ranks", hint="it must come from report.save()"
            )
        return report

    def save_html(self, path: str | Path = "padiff_report.html") -> Path:
        """One page: the ranks' verdicts, then the page of the rank `shown`."""
        shown = self.shown.report
        lines = self.summary().splitlines()
        page = replace(shown, notes=[*lines, f"below: rank {self.shown.raw_rank}", *shown.notes])
        return page.save_html(path)

    def save(self, directory: str | Path = "diff_log") -> Path:
        """`rank_<k>/` with each pair's diff_log (by raw's rank), summary.txt, report.json, report.html."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for pair in self.ranks:
            pair.report.save(out / f"rank_{pair.raw_rank}")
        (out / "summary.txt").write_text(self.summary() + "\n")
        (out / "report.json").write_text(self.to_json())
        self.save_html(out / "report.html")
        return out
