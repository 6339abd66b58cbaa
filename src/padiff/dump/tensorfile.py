"""Tensor files in the safetensors format, written as the run goes and read back without copying.

Writing: tensors are appended to a temporary file as they arrive (a background thread does the writes,
so the run and the disk overlap), after a header region reserved at the start; `close` writes the JSON
header into that region (padded with spaces, as the format allows), fsyncs, and renames the file into
place, so a reader sees either the whole file or none. A header that outgrows its region is written in
front of a copy of the data instead (slower, never wrong). Every tensor starts at a multiple of 64 bytes
(small `pad/` entries fill the gaps), so the reader's zero-copy arrays are aligned.

Reading: the header is validated against the file (dtypes, shapes, byte ranges covering the data exactly
and the file's size), so a truncated or corrupt file is a `DumpError`, never a wrong array; arrays are
read-only views of a memory map. Nothing in a file is executed: JSON and raw bytes only.
"""

from __future__ import annotations

import json
import mmap
import os
import queue
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DumpError

__all__ = ["TensorWriter", "TensorFile", "fsync_dir", "DTYPES"]

# safetensors dtype names <-> numpy; BF16 is stored as the top half of float32 and read back upcast
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}  # fmt: skip
_CODES = {np.dtype(v).str: k for k, v in DTYPES.items() if k != "BF16"}
ALIGN = 64
_MAX_HEADER = 256 * 2**20
_QUEUE_BYTES = 64 * 2**20  # tensors handed to the writer thread and not yet written


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TensorWriter:
    """One safetensors file, written tensor by tensor; `close` makes it appear at `path` atomically."""

    def __init__(self, path: Path, reserve: int = 64 * 1024):
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.reserve = _header_size(reserve)  # so that the data starts at a multiple of ALIGN
        self.entries: dict[str, dict[str, Any]] = {}
        self.offset = 0  # bytes of data so far
        self.bytes = 0  # bytes of tensor data (padding left out)
        self._file: Any = open(self.tmp, "wb+")  # noqa: SIM115 - closed in close() / abort()
        self._file.seek(8 + self.reserve)
        self._queue: queue.Queue = queue.Queue()
        self._room = threading.Semaphore(_QUEUE_BYTES // 2**16)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="padiff-dump-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            data, units = item
            try:
                if self._error is None:
                    self._file.write(data)
            except BaseException as error:  # reported by the next add or by close
                self._error = error
            finally:
                for _ in range(units):
                    self._room.release()

    def add(self, name: str, array: np.ndarray, dtype: str | None = None) -> None:
        """Append `array` as tensor `name`; dtype "bfloat16" stores a float32 array as BF16."""
        if self._error is not None:
            raise DumpError(f"writing {self.tmp} failed: {self._error}", hint="check free disk space")
        if name in self.entries:
            raise ValueError(f"tensor {name!r} written twice")
        array = np.asarray(array)
        if not array.flags.c_contiguous:
            array = array.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
        code = _code(array, dtype)
        if code == "BF16":
            array = (array.astype("<f4", copy=False).view("<u4") >> 16).astype("<u2")
        elif array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        pad = -self.offset % ALIGN
        if pad:
            self._put(f"pad/{self.offset}", "U8", [pad], np.zeros(pad, np.uint8))
        self._put(name, code, list(array.shape), array)
        self.bytes += array.nbytes

    def _put(self, name: str, code: str, shape: list[int], array: np.ndarray) -> None:
        self.entries[name] = {
            "dtype": code,
            "shape": shape,
            "data_offsets": [self.offset, self.offset + array.nbytes],
        }
        self.offset += array.nbytes
        if array.nbytes:
            units = max(1, min(array.nbytes >> 16, _QUEUE_BYTES >> 16))
            for _ in range(units):
                self._room.acquire()
            self._queue.put((memoryview(array.data).cast("B"), units))

    def close(self, metadata: dict[str, str] | None = None) -> None:
        """Header, fsync, rename into place (and fsync the folder)."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            self.abort()
            raise DumpError(f"writing {self.path} failed: {self._error}", hint="check free disk space")
        header = dict(self.entries)
        if metadata:
            header["__metadata__"] = dict(metadata)
        text = json.dumps(header, separators=(",", ":")).encode()
        if len(text) <= self.reserve:
            self._file.seek(0)
            self._file.write(struct.pack("<Q", self.reserve) + text + b" " * (self.reserve - len(text)))
        else:
            self._rewrite(text)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)

    def _rewrite(self, text: bytes) -> None:
        """The header did not fit its reserved region: write header + data to a second file."""
        size = _header_size(len(text))
        other = self.tmp.with_name(self.tmp.name + "2")
        with open(other, "wb") as out:
            out.write(struct.pack("<Q", size) + text + b" " * (size - len(text)))
            self._file.flush()
            self._file.seek(8 + self.reserve)
            while chunk := self._file.read(16 * 2**20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        self._file.close()
        os.replace(other, self.tmp)
        self._file = open(self.tmp, "rb+")  # noqa: SIM115 - closed by close()

    def abort(self) -> None:
        """Stop and remove the temporary file (an interrupted dump leaves nothing that looks complete)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)


def _header_size(length: int) -> int:
    """The smallest header region of at least `length` bytes after which the data starts aligned."""
    return -(-(length + 8) // ALIGN) * ALIGN - 8


def _code(array: np.ndarray, dtype: str | None) -> str:
    if dtype == "bfloat16" and array.dtype == np.float32:
        low = array.view(np.uint32) & 0xFFFF
        if not low.any():  # an upcast bf16 tensor: exactly representable
            return "BF16"
    code = _CODES.get(array.dtype.newbyteorder("<").str if array.dtype.byteorder == ">" else array.dtype.str)
    if code is None:
        raise DumpError(f"cannot store a tensor of dtype {array.dtype}", hint="numeric and bool tensors only")
    return code


class TensorFile:
    """A safetensors file opened for reading: validated header, arrays as read-only memory-map views."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except OSError as error:
            raise DumpError(f"cannot read {path}: {error}", hint="the dump folder is incomplete") from error
        self.entries, self.metadata, self.data_start = self._header(size)

    def _fail(self, why: str) -> DumpError:
        return DumpError(
            f"{self.path} is not a complete tensor file: {why}",
            hint="the file is truncated or corrupt; dump the run again",
        )

    def _header(self, size: int) -> tuple[dict[str, dict[str, Any]], dict[str, str], int]:
        if self._map is None or size < 8:
            raise self._fail(f"{size} bytes")
        (length,) = struct.unpack("<Q", self._map[:8])
        if length > min(size - 8, _MAX_HEADER):
            raise self._fail(f"header of {length} bytes in a file of {size}")
        try:
            header = json.loads(self._map[8 : 8 + length].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise self._fail(f"header is not JSON ({error})") from error
        if not isinstance(header, dict):
            raise self._fail("header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        ranges = []
        for name, entry in header.items():
            ranges.append(self._check_entry(name, entry))
        ranges.sort()
        end = 0
        for start, stop in ranges:
            if start != end:
                raise self._fail(f"tensor data not contiguous at byte {start}")
            end = stop
        if 8 + length + end != size:
            raise self._fail(f"header says {8 + length + end} bytes, the file has {size}")
        return header, metadata, 8 + length

    def _check_entry(self, name: str, entry: Any) -> tuple[int, int]:
        try:
            dtype, shape, (start, stop) = DTYPES[entry["dtype"]], entry["shape"], entry["data_offsets"]
            count = int(np.prod(shape, dtype=np.int64))
            ok = all(isinstance(d, int) and d >= 0 for d in shape) and isinstance(start, int)
        except (KeyError, TypeError, ValueError) as error:
            raise self._fail(f"entry {name!r} is malformed") from error
        if not ok or not isinstance(stop, int) or stop - start != count * dtype.itemsize or start < 0:
            raise self._fail(f"entry {name!r} has inconsistent shape and byte range")
        return start, stop

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        return [n for n in self.entries if not n.startswith("pad/")]

    def nbytes(self, name: str) -> int:
        start, stop = self.entries[name]["data_offsets"]
        return int(stop - start)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.entries[name]["shape"])

    def array(self, name: str) -> np.ndarray:
        """Tensor `name`: a read-only view of the file (BF16: a float32 copy)."""
        if name not in self.entries:
            raise DumpError(f"{self.path} has no tensor {name!r}", hint="the dump is incomplete or corrupt")
        entry = self.entries[name]
        dtype = DTYPES[entry["dtype"]]
        start, stop = entry["data_offsets"]
        count = (stop - start) // dtype.itemsize
        assert self._map is not None  # a file with entries has data
        array = np.frombuffer(self._map, dtype=dtype, count=count, offset=self.data_start + start)
        if entry["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(entry["shape"])
