"""What a passing report must show it compared, so that no test passes on a comparison of nothing.

``assert_compared(report, model)`` is called by every test that expects a report to pass: each phase the
test relies on compared at least one pair, and every layer named (by default every leaf layer of the
given twin) was compared. ``spy_reports`` gives the reports behind ``padiff.auto_diff``'s bare bool.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = ["PHASES", "assert_compared", "leaf_paths", "spy_reports"]

PHASES = ("forward", "backward", "grad")  # one step, parameters with gradients


def _named_sublayers(model: Any) -> list[tuple[str, Any]]:
    if hasattr(model, "named_modules"):
        return list(model.named_modules())
    return list(model.named_sublayers(include_self=True))


def leaf_paths(model: Any) -> set[str]:
    """Dotted paths of the layers of ``model`` that hold no layers ("" when the root is one)."""
    return {path for path, layer in _named_sublayers(model) if not list(layer.children())}


def assert_compared(
    report: Any, *twins: Any, pairs: Iterable[str | tuple[str, str]] = (), phases: Iterable[str] = PHASES
) -> None:
    """Every phase in ``phases`` compared at least one pair, and each of ``pairs`` (a path both sides
    share, or (base_path, raw_path)) and every leaf layer of each of ``twins`` (whose paths both sides
    share) was compared in one of them."""
    phases = tuple(phases)
    counts = Counter(d.phase.value for d in report.diffs)
    assert all(counts[phase] for phase in phases), f"expected pairs in {phases}, compared {dict(counts)}"
    seen = {(d.base_path, d.raw_path) for d in report.diffs if d.phase.value in phases}
    expected = {(p, p) if isinstance(p, str) else tuple(p) for p in pairs}
    expected |= {(path, path) for twin in twins for path in leaf_paths(twin)}
    assert expected <= seen, f"not compared: {sorted(expected - seen)}; compared {sorted(seen)}"


def spy_reports(monkeypatch: Any) -> list:
    """The reports of the comparisons ``padiff.auto_diff`` runs from now on, in order."""
    import padiff.compat

    reports: list = []
    compare = padiff.compat.compare

    def spy(*args: Any, **kwargs: Any) -> Any:
        reports.append(compare(*args, **kwargs))
        return reports[-1]

    monkeypatch.setattr(padiff.compat, "compare", spy)
    return reports
