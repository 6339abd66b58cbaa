"""Which stack frames are the user's: the line that called a layer or an op, and whose code raised.

A frame is internal when its file lies in padiff's own folder, the framework's package folder or the
standard library, unless it lies in a model zoo shipped inside a framework (paddle.vision.models), which
is user code as far as call sites go. Folders are compared as whole names: a sibling `padiff_ext/` is
user code.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..frameworks.base import Adapter

__all__ = ["PADIFF_DIR", "internal_dirs", "internal_frame", "call_site", "defined_at", "raised_in_padiff"]

PADIFF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")


def _folder(path: str) -> str:
    return os.path.join(path, "")  # with a trailing separator: .../paddle/ is not .../paddleformers


def internal_dirs(adapter: Adapter) -> tuple[str, ...]:
    """padiff's folder, the framework's and the standard library's."""
    return (PADIFF_DIR, _folder(adapter.package_dir), _folder(os.path.dirname(os.__file__)))


def internal_frame(filename: str, skip: tuple[str, ...], keep: tuple[str, ...]) -> bool:
    """A frame of padiff, of the framework's library or of the standard library, but not of a model zoo
    shipped inside a framework (paddle.vision.models: user code, as in `match.kinds.is_builtin`)."""
    return filename.startswith(skip) and not filename.startswith(keep)


def call_site(skip: tuple[str, ...], keep: tuple[str, ...] = (), depth: int = 2) -> str:
    """file:line of the innermost user frame above the caller's caller."""
    frame: Any = sys._getframe(depth)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not internal_frame(filename, skip, keep):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def defined_at(layer: Any) -> str:
    """file:line where the layer's forward is defined."""
    code = getattr(getattr(type(layer), "forward", None), "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else ""


def raised_in_padiff(error: BaseException) -> bool:
    """Whether the innermost frame of the error's traceback is padiff's own code (a hook), not the model's."""
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and last.startswith(PADIFF_DIR)
