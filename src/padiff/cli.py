"""Command line: compare two dumps, and read back a saved report or a dump.

    padiff compare BASE_DIR RAW_DIR [--atol A] [--rtol R] [--layer-map map.yaml] [--html out.html]
                                    [--json out.json] [--save DIR] [--table] [--trees] [--no-progress]
    padiff show PATH [--table] [--trees]   # a saved report (folder or report.json), or a dump folder
    padiff html REPORT OUT.html            # a saved report as one self-contained HTML page

A report prints short: on a pass the verdict, counts and notes; on a failure the culprit and both model
trees around it. `--trees` prints both trees whole, `--table` every compared pair.

Exit status: `compare` and `show REPORT` exit 0 when the two sides agree, 1 when they differ; `show DUMP`
and `html` exit 0 when they showed or wrote what was asked; every command exits 2 on bad input (a
folder that is not a dump or a report, a truncated file, a newer format, an interrupted dump, two dumps
of different models, a layer map naming layers that do not exist), having written nothing. Outputs are
written whole or not at all (temporary file, rename). Reading a report or a dump parses JSON and tensor
bytes only: nothing in them is executed. `compare` shows a progress bar on a terminal once it has run
for a second. A multi-rank run (a folder of `rank_<k>/` dumps) is compared rank by rank with one
verdict, shown rank by rank, and its saved report read back (docs/distributed.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import DumpError, PadiffError
from .report import Report
from .report.ranked import RankedReport
from .report.terminal import render_table

__all__ = ["main", "load_report"]


def load_report(path: str | Path) -> Report | RankedReport:
    target = Path(path)
    if target.is_dir():
        target = target / "report.json"
    try:
        text = target.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DumpError(f"no report at {target}", hint="pass a folder written by report.save()") from error
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    try:
        if isinstance(data, dict) and data.get("kind") == "ranks":
            return RankedReport.from_dict(data)
        return Report.from_json(text)
    except DumpError as error:
        reason = str(error).splitlines()[0]
        raise DumpError(f"{target} is not a padiff report: {reason}", hint=error.hint) from error


def _is_dump(path: Path) -> bool:
    """A folder that is (or was meant to be) a dump rather than a saved report."""
    from .dump.manifest import MANIFEST, MARKER

    return (
        path.is_dir()
        and not (path / "report.json").exists()
        and ((path / MANIFEST).exists() or (path / MARKER).exists() or any(path.glob("*.safetensors*")))
    )


def _write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file beside `path`, renamed into place when whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_output(value: str | None, what: str) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if not path.parent.is_dir():
        raise DumpError(
            f"cannot write {what} to {path}: {path.parent} is not a folder", hint="create it first"
        )
    if path.is_dir():
        raise DumpError(f"cannot write {what} to {path}: it is a folder", hint="name a file")
    return path


def _compare(args: argparse.Namespace) -> int:
    from .dump import compare_dumps

    html, json_out = _check_output(args.html, "the HTML page"), _check_output(args.json, "the JSON report")
    save = None if args.save is None else Path(args.save)
    if save is not None and save.exists() and not save.is_dir():
        raise DumpError(f"cannot save the report to {save}: it is a file", hint="name a folder")
    report = compare_dumps(
        args.base,
        args.raw,
        atol=args.atol,
        rtol=args.rtol,
        layer_map=args.layer_map,
        progress=not args.no_progress,
    )
    print(report.render(trees=args.trees or None))
    if args.table:
        print(render_table(report.diffs))
    if html is not None:
        _write(html, report.save_html)
    if json_out is not None:
        _write(json_out, lambda tmp: tmp.write_text(report.to_json()))
    if save is not None:
        report.save(save)
    return 0 if report.passed else 1


def _show(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if _is_dump(path):
        from .dump.show import render_folder

        print(render_folder(path))
        return 0
    report = load_report(path)
    print(report.render(trees=args.trees or None))
    if args.table:
        print(render_table(report.diffs))
    return 0 if report.passed else 1


def _html(args: argparse.Namespace) -> int:
    output = _check_output(args.output, "the HTML page")
    report = load_report(args.report)
    assert output is not None
    _write(output, report.save_html)
    print(f"wrote {output} ({'passed' if report.passed else 'failed'} report)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="padiff", description="Compare dumps; read saved reports and dumps."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="compare two dumps (padiff.dump / padiff.record folders)")
    compare.add_argument("base", help="the reference run's dump folder")
    compare.add_argument("raw", help="the dump folder of the run under test")
    compare.add_argument("--atol", type=float, default=None, help="absolute tolerance (default: by dtype)")
    compare.add_argument("--rtol", type=float, default=None, help="relative tolerance (default: by dtype)")
    compare.add_argument(
        "--layer-map", default=None, help="YAML or JSON file pairing / ignoring layers by path"
    )
    compare.add_argument("--html", default=None, help="also write the report as one HTML page")
    compare.add_argument("--json", default=None, help="also write the report as JSON (docs/report-format.md)")
    compare.add_argument("--save", default=None, help="also write a diff_log/ folder (report.save)")
    compare.add_argument("--table", action="store_true", help="also print every compared pair")
    compare.add_argument("--trees", action="store_true", help="also print both model trees whole")
    compare.add_argument("--no-progress", action="store_true", help="no progress bar")
    show = commands.add_parser("show", help="print a saved report, or what a dump folder holds")
    show.add_argument("path", help="a folder written by report.save() (or its report.json), or a dump folder")
    show.add_argument("--table", action="store_true", help="reports: also print every compared pair")
    show.add_argument("--trees", action="store_true", help="reports: print both model trees whole")
    html = commands.add_parser("html", help="write a saved report as one HTML page")
    html.add_argument("report")
    html.add_argument("output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run = {"compare": _compare, "show": _show, "html": _html}[args.command]
    try:
        return run(args)
    except PadiffError as error:
        print(f"padiff: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
