"""A dump folder's manifest: what it holds, in which format, and how it is read back safely.

A dump folder holds `weights.safetensors` (the model's state before the first step), one
`step_NNNN.safetensors` per step and `manifest.json`, written last: a folder without a manifest is not a
dump, and one holding a `WRITING` marker, temporary files or step files without a manifest is a dump
whose writer died midway. The manifest carries its format name and version; a newer version than this
padiff reads is refused, never guessed at. JSON files are replaced atomically (temporary file, fsync,
rename). Reading parses JSON only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DumpError
from .tensorfile import fsync_dir

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "RUN_FORMAT",
    "MANIFEST",
    "MARKER",
    "WEIGHTS",
    "step_file",
    "write_json",
    "read_manifest",
    "prepare_folder",
]

FORMAT = "padiff-dump"
FORMAT_VERSION = 1
RUN_FORMAT = "padiff-run"  # a multi-rank run's own manifest (`run`)
MANIFEST = "manifest.json"
MARKER = "WRITING"  # present while a dump is being written
WEIGHTS = "weights.safetensors"
_REQUIRED = ("format", "version", "environment", "model", "steps", "weights", "summary_only")


def step_file(step: int) -> str:
    return f"step_{step:04d}.safetensors"


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON at `path` atomically: a reader sees the old file or the new one, whole."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, separators=(",", ":"), allow_nan=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _leftovers(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.iterdir())
    return [n for n in names if n == MARKER or n.endswith((".tmp", ".tmp2", ".safetensors"))]


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a complete dump at `folder`; a DumpError saying why anything else is not one."""
    path = Path(folder)
    if not path.is_dir():
        what = "a file" if path.exists() else "missing"
        raise DumpError(f"{path} is not a dump folder ({what})", hint="pass a folder written by padiff.dump")
    manifest = path / MANIFEST
    if not manifest.is_file():
        left = _leftovers(path)
        if left:
            raise DumpError(
                f"{path} is an interrupted dump: its writer stopped before writing {MANIFEST} "
                f"(found {', '.join(left[:4])})",
                hint="dump the run again; an interrupted dump is never read as complete",
            )
        raise DumpError(
            f"{path} is not a padiff dump (no {MANIFEST})", hint="pass a folder written by padiff.dump"
        )
    try:
        data = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DumpError(
            f"{manifest} is not valid JSON: {error}", hint="the dump is corrupt; dump it again"
        ) from error
    return check_manifest(data, manifest)


def check_manifest(data: Any, where: Path) -> dict[str, Any]:
    if isinstance(data, dict) and data.get("format") == RUN_FORMAT:
        raise DumpError(
            f"{where.parent} is a multi-rank run ({data.get('world_size')} ranks), not one dump",
            hint="compare it whole (padiff compare / compare_dumps), or open one rank's folder (rank_0/)",
        )
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DumpError(f"{where} is not a padiff dump manifest", hint="pass a folder written by padiff.dump")
    version = data.get("version")
    if not isinstance(version, int):
        raise DumpError(f"{where} has no format version", hint="the dump is corrupt; dump it again")
    if version > FORMAT_VERSION:
        raise DumpError(
            f"{where} is a dump of format {version}, newer than this padiff reads ({FORMAT_VERSION})",
            hint="upgrade padiff to the version that wrote the dump",
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing or not isinstance(data["steps"], list):
        raise DumpError(f"{where} lacks {missing or ['steps']}", hint="the dump is corrupt; dump it again")
    if (where.parent / MARKER).exists():
        raise DumpError(
            f"{where.parent} is being written, or its writer died after the manifest",
            hint="wait for the writer to finish, or dump the run again",
        )
    return data


def prepare_folder(folder: str | Path, overwrite: bool) -> Path:
    """An empty folder to dump into, holding the WRITING marker. An existing non-empty folder is only
    reused with `overwrite` and when it holds a dump (or an interrupted one): its manifest goes first."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise DumpError(f"{path} exists and is not a folder", hint="choose a new folder for the dump")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise DumpError(
                f"{path} is not empty; padiff does not overwrite it",
                hint="choose a new folder, or pass overwrite=True to replace a dump there",
            )
        if not (path / MANIFEST).exists() and not _leftovers(path):
            raise DumpError(
                f"{path} holds files that are not a padiff dump; padiff does not overwrite them",
                hint="choose a new folder for the dump",
            )
        (path / MANIFEST).unlink(missing_ok=True)  # from here on it is an interrupted dump, not the old one
        fsync_dir(path)
        for name in _leftovers(path):
            (path / name).unlink()
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text(f"pid {os.getpid()}\n")
    fsync_dir(path)
    return path
