"""Open one side of an offline comparison: a single dump, one rank's dump, or a whole multi-rank run.

Rule: a side is a world size and the ranks present, each a complete dump (`reader.open_dump`). A run
folder is read only when rank 0 wrote its manifest (every rank had finished) and every rank it lists is
there, complete, and says it is that rank of that world size and launch; a folder of rank folders
without the run's manifest is an interrupted run, and the error says which ranks finished. A single
dump is world size 1 (rank 0), unless its manifest says it is one rank of a larger run (a `rank_<k>`
folder opened on its own). Every dump of a side is opened, and so checked whole, before anything is
compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DumpError
from .manifest import MANIFEST
from .ranks import RankInfo, rank_folder_name
from .reader import Dump, open_dump
from .run import RUN_FORMAT, RUN_VERSION, rank_folders, rank_state

__all__ = ["RankSide", "open_side", "is_run", "run_rank0"]


@dataclass
class RankSide:
    """One side: its folder, world size, launcher and the dumps of the ranks present, by rank."""

    folder: Path
    role: str
    world_size: int
    launcher: str
    dumps: dict[int, Dump]

    @property
    def single(self) -> bool:
        """One process's dump of the whole batch (world size 1)."""
        return self.world_size == 1

    def describe(self) -> str:
        if self.single:
            return f"{self.role} ({self.folder}) is a single-process dump"
        ranks = ", ".join(map(str, sorted(self.dumps)))
        return f"{self.role} ({self.folder}) holds rank{'s' if len(self.dumps) > 1 else ''} {ranks} of {self.world_size}"


def _run_manifest(folder: Path) -> dict[str, Any] | None:
    """The run manifest in `folder`, or None when `folder/manifest.json` is not one."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == RUN_FORMAT else None


def is_run(folder: str | Path) -> bool:
    """Whether `folder` is (or was being written as) a multi-rank run rather than one dump."""
    path = Path(folder)
    return _run_manifest(path) is not None or (not (path / MANIFEST).exists() and bool(rank_folders(path)))


def run_rank0(folder: str | Path) -> Path:
    """A run's rank 0 folder (every rank starts from the same weights), else the folder itself."""
    path = Path(folder)
    return path / rank_folder_name(0) if is_run(path) else path


def _world_size(folder: Path) -> int:
    """The world size the rank folders present say (their manifests), at least their count."""
    sizes = [len(rank_folders(folder)), max(rank_folders(folder), default=-1) + 1]
    for path in rank_folders(folder).values():
        info = _rank_info(path)
        sizes.append(0 if info is None else info.world_size)
    return max(sizes)


def _rank_info(path: Path) -> RankInfo | None:
    try:
        return RankInfo.from_json(json.loads((path / MANIFEST).read_text()).get("distributed"))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None


def _interrupted(folder: Path, role: str) -> DumpError:
    states = {k: rank_state(folder / rank_folder_name(k)) for k in range(_world_size(folder))}
    said = ", ".join(f"rank {k} {state}" for k, state in states.items())
    return DumpError(
        f"{role} {folder} is an interrupted multi-rank dump: rank 0 writes {MANIFEST} only after every rank "
        f"finished, and it is not there ({said})",
        hint="dump the run again; if rank 0 timed out waiting, every rank must write to one shared folder",
    )


def _open_run(folder: Path, data: dict[str, Any], role: str) -> RankSide:
    version, size = data.get("version"), data.get("world_size")
    if not isinstance(version, int) or version > RUN_VERSION:
        raise DumpError(
            f"{folder / MANIFEST} is a multi-rank run of format {version!r}, newer than this padiff reads ({RUN_VERSION})",
            hint="upgrade padiff to the version that wrote it",
        )
    if not isinstance(size, int) or size < 1:
        raise DumpError(f"{folder / MANIFEST} has no world size", hint="the run is corrupt; dump it again")
    launch = str(data.get("launch", ""))
    dumps: dict[int, Dump] = {}
    for rank in range(size):
        path = folder / rank_folder_name(rank)
        if not path.is_dir():
            raise DumpError(
                f"{role} run {folder} lacks {path.name}/: its manifest lists {size} ranks, rank {rank} is missing",
                hint="copy every rank's folder into the run folder (ranks written on other nodes too)",
            )
        dump = open_dump(path, f"{role} rank {rank}")
        info = RankInfo.from_json(dump.manifest.get("distributed"))
        if info is None or (info.rank, info.world_size, info.launch) != (rank, size, launch):
            said = "no rank" if info is None else f"rank {info.rank} of {info.world_size}"
            raise DumpError(
                f"{path} says it is {said}{'' if info is None or info.launch == launch else ' of another launch'}, "
                f"but the run {folder} lists it as rank {rank} of {size}",
                hint="a rank folder was copied in from another run; dump the run again",
            )
        dumps[rank] = dump
    return RankSide(folder, role, size, str(data.get("launcher", "?")), dumps)


def open_side(folder: str | Path, role: str) -> RankSide:
    """Open `folder` as one side of a comparison (see the module docstring)."""
    path = Path(folder)
    data = _run_manifest(path)
    if data is not None:
        return _open_run(path, data, role)
    if not (path / MANIFEST).exists() and rank_folders(path):
        raise _interrupted(path, role)
    dump = open_dump(path, role)
    info = RankInfo.from_json(dump.manifest.get("distributed"))
    if info is None:
        return RankSide(path, role, 1, "", {0: dump})
    return RankSide(path, role, info.world_size, info.launcher, {info.rank: dump})
