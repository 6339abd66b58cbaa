"""Plain-text layer trees, shared by error messages and reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..frameworks.base import Adapter

__all__ = ["TreeLine", "tree_lines", "format_tree"]


@dataclass(frozen=True)
class TreeLine:
    path: str  # dotted, "" = root
    depth: int
    cls: str


def tree_lines(adapter: Adapter, model: Any) -> list[TreeLine]:
    """Every sublayer in definition order (a shared layer is listed at each place it appears)."""
    lines = []
    for path, layer in adapter.named_sublayers(model):
        lines.append(TreeLine(path, 0 if path == "" else path.count(".") + 1, type(layer).__name__))
    return lines


def format_tree(
    lines: list[TreeLine],
    marks: dict[str, str] | None = None,
    around: str | None = None,
    radius: int = 4,
) -> str:
    """Indented tree; `marks` appends text to given paths; `around` keeps only lines near that path."""
    marks = marks or {}
    rows = []
    for line in lines:
        name = line.path.rsplit(".", 1)[-1] if line.path else "(root)"
        text = f"{'  ' * line.depth}{name}: {line.cls}"
        if line.path in marks:
            text += f"    {marks[line.path]}"
        rows.append(text)
    if around is not None:
        index = next((i for i, line in enumerate(lines) if line.path == around), None)
        if index is not None:
            lo, hi = max(0, index - radius), min(len(rows), index + radius + 1)
            rows = (["  ..."] if lo > 0 else []) + rows[lo:hi] + (["  ..."] if hi < len(rows) else [])
    return "\n".join(rows)
