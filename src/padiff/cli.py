"""Command line: read back a saved report.

    padiff show diff_log/            # or diff_log/report.json: print the summary and both trees
    padiff show diff_log/ --table    # every compared pair
    padiff html diff_log/ out.html   # the self-contained HTML page
Exit status: 0 when the report passed, 1 when it found a difference, 2 on bad input.
Reading a report only parses JSON: nothing in it is executed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DumpError
from .report import Report
from .report.terminal import render_table

__all__ = ["main", "load_report"]


def load_report(path: str | Path) -> Report:
    target = Path(path)
    if target.is_dir():
        target = target / "report.json"
    try:
        text = target.read_text()
    except OSError as error:
        raise DumpError(f"no report at {target}", hint="pass a folder written by report.save()") from error
    try:
        return Report.from_json(text)
    except DumpError as error:
        reason = str(error).splitlines()[0]
        raise DumpError(f"{target} is not a padiff report: {reason}", hint=error.hint) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="padiff", description="Read back a saved padiff report.")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print a saved report")
    show.add_argument("report", help="a folder written by report.save(), or its report.json")
    show.add_argument("--table", action="store_true", help="also print every compared pair")
    html = commands.add_parser("html", help="write a saved report as one HTML page")
    html.add_argument("report")
    html.add_argument("output")
    args = parser.parse_args(argv)
    try:
        report = load_report(args.report)
    except DumpError as error:
        print(f"padiff: {error}", file=sys.stderr)
        return 2
    if args.command == "show":
        print(report)
        if args.table:
            print(render_table(report.diffs))
    else:
        report.save_html(args.output)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
