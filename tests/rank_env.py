"""Helpers for the multi-rank tests that set the launchers' rank variables by hand, one rank at a time,
in this process: no launcher and no all-reduce, just the folders each rank writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import padiff

__all__ = ["VARIABLES", "as_rank"]

VARIABLES = {"paddle": ("PADDLE_TRAINER_ID", "PADDLE_TRAINERS_NUM"), "torch": ("RANK", "WORLD_SIZE")}


def as_rank(
    monkeypatch: pytest.MonkeyPatch,
    launcher: str,
    rank: int,
    world: int,
    model: Any,
    x: Any,
    path: Path,
    **kw: Any,
) -> Path:
    """`padiff.dump` as rank `rank` of `world` of `launcher` ("paddle" or "torch" variables)."""
    rank_name, world_name = VARIABLES[launcher]
    with monkeypatch.context() as env:
        env.setenv(rank_name, str(rank))
        env.setenv(world_name, str(world))
        return padiff.dump(model, x, path, **kw)
