"""The Report a comparison returns: verdict, culprit, every compared pair; terminal, folder and JSON forms."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DumpError
from ..judge.records import LayerDiff
from ..localize.culprit import Culprit
from .html import render_html
from .terminal import render_summary, render_table, render_text, render_trees
from .tree import TreeLine

__all__ = ["Report"]

FORMAT_VERSION = 2  # the JSON schema, documented in docs/report-format.md
# formats this padiff reads: 1 lacks fields added since, which take their defaults
READABLE_FORMATS = (1, 2)


@dataclass
class Report:
    passed: bool
    first_diff: Culprit | None
    diffs: list[LayerDiff]
    base_framework: str
    raw_framework: str
    base_tree: list[TreeLine] = field(default_factory=list)
    raw_tree: list[TreeLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return render_text(self)

    def render(self, trees: bool | None = None) -> str:
        """The terminal text. `trees`: None (as `str(report)`) shows both model trees around the culprit on
        a failure and none on a pass; True both whole trees; False none."""
        return render_text(self, trees)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "passed": self.passed,
            "base_framework": self.base_framework,
            "raw_framework": self.raw_framework,
            "first_diff": None if self.first_diff is None else self.first_diff.to_dict(),
            "diffs": [d.to_dict() for d in self.diffs],
            "base_tree": [vars(line) for line in self.base_tree],
            "raw_tree": [vars(line) for line in self.raw_tree],
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=True)

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        """The report `to_dict` wrote; a DumpError for anything else (another format version included)."""
        version = data.get("format") if isinstance(data, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise DumpError(
                f"a padiff report of format {version}, newer than this padiff reads ({FORMAT_VERSION})",
                hint="upgrade padiff to read it",
            )
        if version not in READABLE_FORMATS or isinstance(version, bool):
            raise DumpError(
                f"not a padiff report of format {', '.join(map(str, READABLE_FORMATS))} (format: {version!r})",
                hint="read it with the padiff version that wrote it, or write it again with report.save()",
            )
        try:
            return cls(
                passed=data["passed"],
                first_diff=None if data["first_diff"] is None else Culprit.from_dict(data["first_diff"]),
                diffs=[LayerDiff.from_dict(d) for d in data["diffs"]],
                base_framework=data["base_framework"],
                raw_framework=data["raw_framework"],
                base_tree=[TreeLine(**line) for line in data["base_tree"]],
                raw_tree=[TreeLine(**line) for line in data["raw_tree"]],
                notes=list(data["notes"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DumpError(
                f"a malformed padiff report: {type(error).__name__}: {error}",
                hint="it must come from report.save()",
            ) from error

    @classmethod
    def from_json(cls, text: str) -> Report:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise DumpError(
                f"not JSON: {error}", hint="pass the report.json written by report.save()"
            ) from error
        return cls.from_dict(data)

    def to_html(self) -> str:
        """One self-contained HTML page (no script, nothing fetched): the verdict and the culprit, a chart of
        every pair's error, both model trees (folding) and the table of pairs, filtering to failing rows."""
        return render_html(self)

    def save_html(self, path: str | Path = "padiff_report.html") -> Path:
        """`to_html()` written to `path` (UTF-8)."""
        out = Path(path)
        out.write_text(self.to_html(), encoding="utf-8")
        return out

    def save(self, directory: str | Path = "diff_log") -> Path:
        """Write summary.txt, layers.txt (every compared pair), base_tree.txt, raw_tree.txt, report.json,
        report.html."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.txt").write_text(render_summary(self) + "\n")
        (out / "layers.txt").write_text(render_table(self.diffs) + "\n")
        base_text, raw_text = render_trees(self, separate=True)
        (out / "base_tree.txt").write_text(base_text + "\n")
        (out / "raw_tree.txt").write_text(raw_text + "\n")
        (out / "report.json").write_text(self.to_json())
        self.save_html(out / "report.html")
        return out
