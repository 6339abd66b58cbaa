"""Open a dump folder for reading: its manifest checked, every tensor file validated, stand-in model built.

Rule: a dump is read only when it is complete and whole. The manifest must be of a format this padiff
reads (`manifest.read_manifest`), every file it lists must be present with the size it recorded, and
every tensor file's header must describe exactly the bytes the file holds (`tensorfile.TensorFile`);
all of this is checked when the dump is opened, before anything is compared or written. Tensors are
then read on demand, as views of the files. Nothing is executed: JSON and raw bytes only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DumpError
from .manifest import read_manifest
from .standin import StandInAdapter, StandInLayer, build_standin
from .tensorfile import TensorFile

__all__ = ["Dump", "open_dump"]


class Dump:
    """A complete dump: manifest, tensor files (validated), and the stand-in model with its adapter."""

    def __init__(self, folder: Path, manifest: dict[str, Any], role: str):
        self.folder, self.manifest, self.role = folder, manifest, role
        self.weights = self._open(manifest["weights"], "weights")
        self.step_files = [self._open(step, f"step {i}") for i, step in enumerate(manifest["steps"])]
        self.model, self.adapter = build_standin(manifest["model"], self.initial)

    def _open(self, entry: Any, what: str) -> TensorFile:
        try:
            name, size = str(entry["file"]), int(entry["bytes"])
        except (KeyError, TypeError, ValueError) as error:
            raise DumpError(
                f"{self.folder}: the manifest's {what} entry is malformed", hint="dump it again"
            ) from error
        path = self.folder / Path(name).name  # a name, never a path out of the folder
        if not path.is_file():
            raise DumpError(
                f"{self.folder} lacks {path.name} ({what})", hint="the dump is incomplete; dump it again"
            )
        actual = path.stat().st_size
        if actual != size:
            raise DumpError(
                f"{path} has {actual} bytes but the manifest says {size}: truncated or replaced",
                hint="the dump is incomplete or corrupt; dump it again",
            )
        return TensorFile(path)

    @property
    def framework(self) -> str:
        return str(self.manifest["model"].get("framework", "?"))

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.manifest["steps"])

    @property
    def summary_only(self) -> bool:
        return bool(self.manifest.get("summary_only"))

    def initial(self, name: str) -> np.ndarray:
        """A state's value before the first step."""
        return self.weights.array(name)

    def standin(self) -> tuple[StandInAdapter, StandInLayer]:
        return self.adapter, self.model

    def tensor_bytes(self, step: int | None = None) -> int:
        """Bytes of tensor data in one step's file (or in all of them)."""
        steps = self.steps if step is None else [self.steps[step]]
        return sum(int(s.get("tensor_bytes", 0)) for s in steps)


def open_dump(folder: str | Path, role: str = "dump") -> Dump:
    path = Path(folder)
    manifest = read_manifest(path)
    try:
        return Dump(path, manifest, role)
    except DumpError as error:
        message = str(error).split("\nhint: ")[0]
        raise DumpError(f"{role} dump: {message}", hint=error.hint) from error
