"""A dump folder as it is written: the initial weights first, then one file per step, the manifest last.

Rule: nothing in the folder looks complete before it is. The folder holds a WRITING marker from the
start; each tensor file appears by an atomic rename once whole; `manifest.json` is written (atomically)
only after every step file, and the marker is removed after it. A writer that dies or raises leaves a
folder that readers report as an interrupted dump. The header region reserved in each step file is sized
from the step before it, so later steps never need their data copied.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from ..capture.hooks import RunState
from ..frameworks.base import Adapter
from .describe import describe_environment, describe_model
from .manifest import FORMAT, FORMAT_VERSION, MANIFEST, MARKER, WEIGHTS, prepare_folder, write_json
from .sink import StepWriter
from .summary import SAMPLES, SEED
from .tensorfile import TensorWriter, fsync_dir

__all__ = ["DumpWriter"]

_FIRST_RESERVE = 256 * 1024


class DumpWriter:
    def __init__(
        self,
        path: str | Path,
        adapter: Adapter,
        model: Any,
        kind: str,
        summary_only: bool,
        overwrite: bool,
        distributed: dict[str, Any] | None = None,
    ):
        self.adapter, self.kind, self.summary_only = adapter, kind, summary_only
        self.distributed = distributed  # this rank of a multi-rank run (`ranks.RankInfo`), else None
        self.model_info = describe_model(adapter, model)
        self.environment = describe_environment(adapter, model)
        self.folder = prepare_folder(path, overwrite)
        self.steps: list[dict[str, Any]] = []
        self.current: StepWriter | None = None
        self.reserve = _FIRST_RESERVE
        self.weights = self._write_weights(model)

    def _write_weights(self, model: Any) -> dict[str, Any]:
        writer = TensorWriter(self.folder / WEIGHTS, _FIRST_RESERVE)
        try:
            seen: set[str] = set()
            for name, tensor in self.adapter.all_state(model):
                if name not in seen:
                    seen.add(name)
                    writer.add(name, self.adapter.to_numpy(tensor), self.adapter.dtype_name(tensor))
            writer.close({"format": FORMAT, "content": "initial weights"})
        except BaseException:
            writer.abort()
            raise
        return {"file": WEIGHTS, "bytes": (self.folder / WEIGHTS).stat().st_size}

    def begin_step(self) -> StepWriter:
        self.current = StepWriter(self.folder, len(self.steps), self.adapter, self.summary_only, self.reserve)
        return self.current

    def end_step(self, state: RunState, notes: list[str]) -> dict[str, Any]:
        assert self.current is not None
        step = self.current
        self.current = None
        entry = step.close(state, notes)
        header = len(step.writer.entries) * 96 + 4096
        self.reserve = max(self.reserve, header * 3 // 2)
        self.steps.append(entry)
        return entry

    def finish(self, notes: list[str], settings: dict[str, Any]) -> Path:
        """The manifest, written last; then the folder stops being 'being written'."""
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "environment": self.environment,
            "model": self.model_info,
            "settings": settings,
            "summary_only": self.summary_only,
            "summary": {"samples": SAMPLES, "seed": SEED},
            "weights": self.weights,
            "steps": self.steps,
            "notes": notes,
        }
        if self.distributed is not None:
            manifest["distributed"] = self.distributed
        write_json(self.folder / MANIFEST, manifest)
        (self.folder / MARKER).unlink(missing_ok=True)
        fsync_dir(self.folder)
        return self.folder

    def abort(self) -> None:
        """Stop writing: temporary files go, the marker stays (the folder reads as an interrupted dump)."""
        if self.current is not None:
            self.current.abort()
            self.current = None
