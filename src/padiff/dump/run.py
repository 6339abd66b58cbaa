"""A multi-rank run on disk: `PATH/rank_<k>/` per rank, and the run's manifest that rank 0 writes last.

Rule: each rank writes a complete dump of its own into `rank_<k>/` (`ranks.RankInfo` in its manifest's
`distributed`); no rank writes into another's folder. Rank 0, once its own dump is complete, waits until
every other rank's folder holds a complete dump of the same launch and world size, and only then writes
`PATH/manifest.json` (format `padiff-run`): a folder without it is an interrupted run, never read as
complete. A rank that fails marks its folder `aborted`, and rank 0 stops waiting and says so; a rank that
never finishes is waited for `PADIFF_RANK_WAIT` seconds (default 600). Nothing else may be in `PATH`:
a folder holding a single-process dump or other files is refused, a complete run is replaced only with
`overwrite=True` (rank 0 removes the run's manifest first, each rank replaces its own folder).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from ..errors import DumpError
from .manifest import MANIFEST, MARKER, RUN_FORMAT, write_json
from .ranks import RankInfo, detect_rank, rank_folder_name
from .tensorfile import fsync_dir

__all__ = [
    "RUN_FORMAT",
    "RUN_VERSION",
    "WAIT_VARIABLE",
    "RunLayout",
    "dump_target",
    "rank_folders",
    "rank_state",
]

RUN_VERSION = 1
WAIT_VARIABLE = "PADIFF_RANK_WAIT"
_DEFAULT_WAIT_S = 600.0
_RANK_FOLDER = re.compile(r"rank_(\d+)")
ABORTED = "aborted"


def rank_folders(path: Path) -> dict[int, Path]:
    """The `rank_<k>` folders in `path`, by rank."""
    if not path.is_dir():
        return {}
    found = (_RANK_FOLDER.fullmatch(p.name) for p in path.iterdir() if p.is_dir())
    return {int(m.group(1)): path / m.group(0) for m in found if m is not None}


def rank_state(folder: Path, info: RankInfo | None = None) -> str:
    """'complete' (of `info`'s launch and world size, when given), 'aborted', 'missing' or 'writing'."""
    marker = folder / MARKER
    if marker.exists():
        try:
            return ABORTED if marker.read_text().startswith(ABORTED) else "writing"
        except OSError:
            return "writing"
    if not (folder / MANIFEST).is_file():
        return "missing" if not folder.exists() or not any(folder.iterdir()) else "writing"
    if info is None:
        return "complete"
    try:
        written = RankInfo.from_json(json.loads((folder / MANIFEST).read_text()).get("distributed"))
    except (OSError, ValueError, AttributeError):
        return "writing"
    same = written is not None and (written.world_size, written.launch) == (info.world_size, info.launch)
    return "complete" if same else "writing"  # a stale dump of another launch: its rank will replace it


def _wait_seconds() -> float:
    text = os.environ.get(WAIT_VARIABLE)
    if text is None:
        return _DEFAULT_WAIT_S
    try:
        return float(text)
    except ValueError:
        raise DumpError(
            f"{WAIT_VARIABLE} is {text!r}, not a number of seconds",
            hint=f"unset {WAIT_VARIABLE} or set it to e.g. 600",
        ) from None


def _prepare_run(run: Path, info: RankInfo, overwrite: bool) -> None:
    if run.exists() and not run.is_dir():
        raise DumpError(f"{run} exists and is not a folder", hint="choose a new folder for the dump")
    if run.is_dir():
        ranks = set(rank_folders(run).values())
        other = sorted(
            p.name for p in run.iterdir() if p not in ranks and p.name not in (MANIFEST, MANIFEST + ".tmp")
        )
        if other:
            raise DumpError(
                f"{run} holds files that are not a multi-rank padiff dump (found {', '.join(other[:4])}); "
                f"rank {info.rank} of {info.world_size} does not write there",
                hint="choose a new folder for the multi-rank dump",
            )
        if (run / MANIFEST).exists() and not overwrite:
            raise DumpError(
                f"{run} holds a complete multi-rank dump; padiff does not overwrite it",
                hint="choose a new folder, or pass overwrite=True (on every rank) to replace it",
            )
        if (run / MANIFEST).exists() and info.rank == 0:
            (run / MANIFEST).unlink(missing_ok=True)  # from here on the old run reads as interrupted
            fsync_dir(run)
    run.mkdir(parents=True, exist_ok=True)


class RunLayout:
    """Where one rank writes (`folder`), and what it does once its dump is complete (`finish`)."""

    def __init__(self, path: str | Path, info: RankInfo, overwrite: bool):
        self.run, self.info = Path(path), info
        _prepare_run(self.run, info, overwrite)
        self.folder = self.run / rank_folder_name(info.rank)

    def finish(self) -> Path:
        """Rank 0: wait for every rank, then write the run's manifest. Every rank returns the run folder."""
        if self.info.rank == 0:
            self._wait()
            self._write_manifest()
        return self.run

    def abort(self) -> None:
        """Mark this rank's folder as failed, so rank 0 stops waiting for it."""
        marker = self.folder / MARKER
        if marker.exists():
            marker.write_text(f"{ABORTED} (pid {os.getpid()})\n")

    def _wait(self) -> None:
        deadline = time.monotonic() + _wait_seconds()
        pending = list(range(1, self.info.world_size))
        pause = 0.02
        while pending:
            states = {k: rank_state(self.run / rank_folder_name(k), self.info) for k in pending}
            failed = [k for k, state in states.items() if state == ABORTED]
            if failed:
                raise DumpError(
                    f"rank {failed[0]} of {self.info.world_size} failed before its dump was complete "
                    f"({self.run / rank_folder_name(failed[0])} is an interrupted dump): {self.run / MANIFEST} "
                    f"was not written; rank 0's own dump is complete in {self.folder}",
                    hint="see that rank's error, fix it and run again",
                )
            pending = [k for k, state in states.items() if state != "complete"]
            if pending and time.monotonic() > deadline:
                raise DumpError(
                    f"rank 0 waited {_wait_seconds():g} s for rank{'s' if len(pending) > 1 else ''} "
                    f"{', '.join(map(str, pending))} of {self.info.world_size} to finish dumping into {self.run}: "
                    f"{self.run / MANIFEST} was not written; rank 0's own dump is complete in {self.folder}",
                    hint=f"every rank must dump into the same folder (on a filesystem all nodes share); "
                    f"set {WAIT_VARIABLE} to wait longer",
                )
            if pending:
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _write_manifest(self) -> None:
        manifest: dict[str, Any] = {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "launcher": self.info.launcher,
            "launch": self.info.launch,
            "world_size": self.info.world_size,
            "ranks": [{"rank": k, "folder": rank_folder_name(k)} for k in range(self.info.world_size)],
        }
        write_json(self.run / MANIFEST, manifest)


def dump_target(
    path: str | Path, framework: str, distributed: bool | None, overwrite: bool
) -> tuple[Path, RunLayout | None]:
    """The folder this process dumps into, and the run it is one rank of (None: a single-process dump)."""
    info = detect_rank(framework, distributed)
    if info is None:
        return Path(path), None
    layout = RunLayout(path, info, overwrite)
    return layout.folder, layout
