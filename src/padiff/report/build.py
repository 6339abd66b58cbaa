"""Build the Report once, from the final verdict and both models' layer trees."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..localize.verdict import Verdict
from .tree import tree_lines

if TYPE_CHECKING:
    from ..options import Side
    from . import Report

__all__ = ["build_report"]


def build_report(verdict: Verdict, base: Side, raw: Side) -> Report:
    from . import Report

    base_tree = tree_lines(base.adapter, base.model)
    raw_tree = tree_lines(raw.adapter, raw.model)
    culprit = verdict.culprit
    if culprit is not None and not culprit.base_type:  # a parameter's culprit: name its layer's classes
        base_classes = {line.path: line.cls for line in base_tree}
        raw_classes = {line.path: line.cls for line in raw_tree}
        culprit = replace(
            culprit,
            base_type=base_classes.get(culprit.base_path, ""),
            raw_type=raw_classes.get(culprit.raw_path, ""),
        )
    return Report(
        passed=culprit is None,
        first_diff=culprit,
        diffs=verdict.diffs,
        base_framework=base.adapter.name,
        raw_framework=raw.adapter.name,
        base_tree=base_tree,
        raw_tree=raw_tree,
        notes=list(verdict.notes),
    )
