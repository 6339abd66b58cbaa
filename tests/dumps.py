"""Helpers for the dump tests: dump a twin pair the offline way, and hold two reports to be the same.

``offline(base, raw, x, folder)`` does what two separate processes would: dump base, start raw from
base's dumped weights, dump raw, compare the dumps. ``assert_same_report`` checks that two reports hold
the same verdict, culprit and pairs with the same metrics (JSON-equal, so NaN equals NaN).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import padiff

__all__ = ["offline", "assert_same_report", "dump_pair"]


def dump_pair(
    base: Any,
    raw: Any,
    x: Any,
    folder: Path,
    base_kwargs: dict | None = None,
    raw_kwargs: dict | None = None,
    layer_map: Any = None,
    **common: Any,
) -> tuple[Path, Path]:
    """Dump base; load its weights into raw (through `layer_map`); dump raw. `common` goes to both dumps,
    the dicts to one."""
    base_dir = padiff.dump(base, x, folder / "base", **{**common, **(base_kwargs or {})})
    padiff.load_weights(raw, base_dir, layer_map=layer_map)
    raw_dir = padiff.dump(raw, x, folder / "raw", **{**common, **(raw_kwargs or {})})
    return base_dir, raw_dir


def offline(base: Any, raw: Any, x: Any, folder: Path, **kwargs: Any) -> padiff.Report:
    return padiff.compare_dumps(*dump_pair(base, raw, x, folder, **kwargs))


def _records(report: padiff.Report) -> list[str]:
    return [json.dumps(d.to_dict(), sort_keys=True) for d in report.diffs]


def assert_same_report(offline_report: padiff.Report, live_report: padiff.Report) -> None:
    assert offline_report.passed == live_report.passed
    off_culprit, live_culprit = offline_report.first_diff, live_report.first_diff
    assert (off_culprit is None) == (live_culprit is None)
    if off_culprit is not None and live_culprit is not None:
        assert json.dumps(off_culprit.to_dict(), sort_keys=True) == json.dumps(
            live_culprit.to_dict(), sort_keys=True
        )
    off, live = _records(offline_report), _records(live_report)
    assert len(off) == len(live), (len(off), len(live))
    for index, (a, b) in enumerate(zip(off, live)):
        assert a == b, f"pair {index} differs:\noffline {a}\nlive    {b}"
    assert (
        offline_report.base_tree == live_report.base_tree and offline_report.raw_tree == live_report.raw_tree
    )
