"""Hold arrays in memory up to a budget and the rest in an anonymous temporary file.

The base trace of a large model is bigger than the model's own activations; keeping its overflow on
disk (the OS page cache, which the OS can reclaim) bounds padiff's resident memory. Arrays are written
once and read back once, when raw's counterpart arrives.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO, Union

import numpy as np

__all__ = ["ArrayStore", "Handle", "DEFAULT_MEMORY_BUDGET"]

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes kept in memory before spilling


@dataclass(frozen=True)
class _OnDisk:
    offset: int
    shape: tuple[int, ...]
    dtype: str


Handle = Union[np.ndarray, _OnDisk]


class ArrayStore:
    def __init__(self, memory_budget: int = DEFAULT_MEMORY_BUDGET):
        self.memory_budget = memory_budget
        self.in_memory = 0
        self.spilled = 0
        self._file: IO[bytes] | None = None

    def put(self, array: np.ndarray) -> Handle:
        # a masked array (a packed sequence's padding) stays in memory: the file holds plain values only
        if self.in_memory + array.nbytes <= self.memory_budget or isinstance(array, np.ma.MaskedArray):
            self.in_memory += array.nbytes
            return array
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="padiff-trace-")
        self._file.seek(0, 2)
        handle = _OnDisk(self._file.tell(), tuple(array.shape), array.dtype.str)
        self._file.write(np.ascontiguousarray(array).data)
        self.spilled += array.nbytes
        return handle

    def get(self, handle: Handle) -> np.ndarray:
        if isinstance(handle, np.ndarray):
            return handle
        if self._file is None:
            raise ValueError("array store is closed")
        self._file.seek(handle.offset)
        count = int(np.prod(handle.shape, dtype=np.int64))
        return np.fromfile(self._file, dtype=np.dtype(handle.dtype), count=count).reshape(handle.shape)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
