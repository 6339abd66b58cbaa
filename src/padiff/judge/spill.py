"""Hold arrays in memory up to a budget, and the rest in an anonymous temporary file.

The budget is `compare(memory_budget=...)` in bytes; None means `BUDGET_SHARE` (a quarter) of the RAM
available when the comparison starts (MemAvailable on Linux; the free physical pages elsewhere; 1 GiB
when neither can be read). Below the budget the base trace stays in memory and nothing touches the disk;
past it, each further array is appended to the file in one sequential write, and read back through a
private (copy-on-write) memory map of its bytes when raw's counterpart arrives (no copy: the OS page cache serves it,
and the mapping goes with the array). The file is deleted when the store closes.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from dataclasses import dataclass
from typing import IO, Union

import numpy as np

__all__ = ["ArrayStore", "Handle", "BUDGET_SHARE", "default_memory_budget", "available_memory"]

BUDGET_SHARE = 0.25  # of the available RAM, when memory_budget is None
_FALLBACK_AVAILABLE = 4 * 2**30  # bytes assumed available where the OS does not say


def available_memory() -> int:
    """Bytes of RAM available now: Linux's MemAvailable, else the free physical pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return _FALLBACK_AVAILABLE


def default_memory_budget() -> int:
    return int(BUDGET_SHARE * available_memory())


@dataclass(frozen=True)
class _OnDisk:
    offset: int
    shape: tuple[int, ...]
    dtype: str


Handle = Union[np.ndarray, _OnDisk]


class ArrayStore:
    """`put` an array, `get` it back by its handle; `spilled` counts the bytes written to the file."""

    def __init__(self, memory_budget: int | None = None):
        self.memory_budget = default_memory_budget() if memory_budget is None else memory_budget
        self.in_memory = 0
        self.spilled = 0
        self._file: IO[bytes] | None = None
        self._end = 0  # bytes written so far: the next array's offset
        self._flushed = 0  # bytes the OS has (buffered writes flushed), readable through a map

    def put(self, array: np.ndarray) -> Handle:
        # a masked array (a packed sequence's padding) stays in memory: the file holds plain values only
        if self.in_memory + array.nbytes <= self.memory_budget or isinstance(array, np.ma.MaskedArray):
            self.in_memory += array.nbytes
            return array
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="padiff-trace-")
        handle = _OnDisk(self._end, tuple(array.shape), array.dtype.str)
        self._file.write(np.ascontiguousarray(array).data)
        self._end += array.nbytes
        self.spilled += array.nbytes
        return handle

    def get(self, handle: Handle) -> np.ndarray:
        if isinstance(handle, np.ndarray):
            return handle
        if self._file is None:
            raise ValueError("array store is closed")
        dtype = np.dtype(handle.dtype)
        count = int(np.prod(handle.shape, dtype=np.int64))
        if count == 0:
            return np.empty(handle.shape, dtype=dtype)
        if self._flushed < self._end:
            self._file.flush()
            self._flushed = self._end
        start = handle.offset - handle.offset % mmap.ALLOCATIONGRANULARITY  # maps start on a page
        length = handle.offset - start + count * dtype.itemsize
        mapped = mmap.mmap(self._file.fileno(), length, access=mmap.ACCESS_COPY, offset=start)
        # copy-on-write: a private, writable view of the page cache; the map closes with its last view
        return np.frombuffer(mapped, dtype=dtype, count=count, offset=handle.offset - start).reshape(
            handle.shape
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
