"""Errors padiff raises. Every message names the layers on both sides and ends with a hint."""

from __future__ import annotations

__all__ = [
    "PadiffError",
    "StructureError",
    "WeightTransferError",
    "InputError",
    "RunError",
    "DumpError",
]


class PadiffError(Exception):
    """Base class of every error padiff raises on purpose."""

    def __init__(self, message: str, hint: str | None = None):
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")


class StructureError(PadiffError):
    """The two models' layer trees cannot be paired."""


class WeightTransferError(PadiffError):
    """A parameter could not be copied from base to raw (count, shape or class mismatch)."""

    paths: tuple[str, str] | None = None  # (base path, raw path) of the layers that do not pair, if known


class InputError(PadiffError):
    """Inputs, loss functions or options that padiff cannot use."""


class RunError(PadiffError):
    """The user's model raised while padiff was running it."""


class DumpError(PadiffError):
    """A dump directory is missing, malformed or of an unknown version."""
