"""Which rank of a multi-process run this process is, and the data-parallel wrapper around its model.

Rule: a dump made under a launcher goes to `PATH/rank_<k>/` (a complete dump of its own), never to a
folder another rank writes. The rank and world size are read from the launcher's environment: torchrun's
`RANK` / `WORLD_SIZE` (or the initialized `torch.distributed` group, when the model's framework is torch
and torch is already imported), paddle's launcher's `PADDLE_TRAINER_ID` / `PADDLE_TRAINERS_NUM`; the
model's own framework's variables first, then the other's, so two ranks never write one folder. A world
of one rank is a plain dump. The launch is named by what every rank of one launch shares (torchrun's run
id, master address and port, restart count; paddle's master endpoint and trainer endpoints), so rank 0
can tell this launch's rank folders from a stale run's (`run.py` writes and reads the run itself).

A model wrapped for data parallelism (torch `DistributedDataParallel` / `DataParallel`, paddle
`DataParallel`) is recorded as the model it wraps, with the same paths and state names as the model run
in a single process, and still called through the wrapper, which all-reduces the gradients.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError

__all__ = ["RankInfo", "detect_rank", "unwrap_parallel", "rank_folder_name", "WRAPPERS"]

# (module defining the class, class name) -> attribute holding the wrapped model
WRAPPERS: dict[tuple[str, str], str] = {
    ("torch.nn.parallel.distributed", "DistributedDataParallel"): "module",
    ("torch.nn.parallel.data_parallel", "DataParallel"): "module",
    ("paddle.distributed.parallel", "DataParallel"): "_layers",
}

# launcher -> (rank variable, world-size variable, variables naming the launch)
_LAUNCHERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "torchrun": (
        "RANK",
        "WORLD_SIZE",
        ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT"),
    ),
    "paddle.distributed.launch": (
        "PADDLE_TRAINER_ID",
        "PADDLE_TRAINERS_NUM",
        ("PADDLE_MASTER", "PADDLE_TRAINER_ENDPOINTS"),
    ),
}
_FIRST = {"torch": "torchrun", "paddle": "paddle.distributed.launch"}


@dataclass(frozen=True)
class RankInfo:
    """One process of a multi-process run, as written to its dump's manifest (`distributed`)."""

    rank: int
    world_size: int
    launcher: str  # "torchrun", "paddle.distributed.launch", or "torch.distributed" (a group, no launcher)
    launch: str  # what every rank of one launch shares; "" when the environment names nothing

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> RankInfo | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(int(data["rank"]), int(data["world_size"]), str(data["launcher"]), str(data["launch"]))
        except (KeyError, TypeError, ValueError):
            return None


def rank_folder_name(rank: int) -> str:
    return f"rank_{rank}"


def _torch_group() -> tuple[int, int] | None:
    """(rank, world size) of torch's initialized default group, if torch is imported and one is."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return int(dist.get_rank()), int(dist.get_world_size())


def _integer(env: Mapping[str, str], name: str, launcher: str) -> int:
    text = env[name]
    try:
        return int(text)
    except ValueError:
        raise InputError(
            f"{launcher}'s {name} is {text!r}, not a whole number",
            hint=f"set {name} to this process's number",
        ) from None


def _from_environment(launcher: str, env: Mapping[str, str]) -> RankInfo | None:
    rank_name, size_name, launch_names = _LAUNCHERS[launcher]
    if rank_name not in env and size_name not in env:
        return None
    if rank_name not in env or size_name not in env:
        given, missing = (rank_name, size_name) if rank_name in env else (size_name, rank_name)
        raise InputError(
            f"the environment sets {given} but not {missing}: padiff cannot tell which rank of how many "
            "this process is",
            hint=f"set both, or neither (a single-process dump); {launcher} sets both",
        )
    rank, size = _integer(env, rank_name, launcher), _integer(env, size_name, launcher)
    if size < 1 or not 0 <= rank < size:
        raise InputError(
            f"{launcher}'s environment says rank {rank} of {size}",
            hint=f"{rank_name} must be at least 0 and less than {size_name}",
        )
    launch = "|".join(f"{name}={env[name]}" for name in launch_names if name in env)
    return RankInfo(rank, size, launcher, launch)


def detect_rank(
    framework: str, distributed: bool | None, env: Mapping[str, str] | None = None
) -> RankInfo | None:
    """This process's rank, or None for a single-process dump. `distributed`: None reads the
    environment; False is a single-process dump whatever it says; True requires a launcher's variables."""
    if distributed is False:
        return None
    env = os.environ if env is None else env
    first = _FIRST.get(framework, "torchrun")
    group = _torch_group() if framework == "torch" else None
    info = None
    for launcher in (first, *(name for name in _LAUNCHERS if name != first)):
        info = _from_environment(launcher, env)
        if info is not None:
            break
    if group is not None and (info is None or (info.rank, info.world_size) != group):
        launch = info.launch if info is not None else ""
        info = RankInfo(group[0], group[1], "torch.distributed", launch)  # the group is the truth
    if info is None and distributed:
        raise InputError(
            "distributed=True, but no launcher's rank is in the environment",
            hint="run under torchrun or python -m paddle.distributed.launch, or set RANK and WORLD_SIZE",
        )
    if info is None or info.world_size == 1:
        return info if distributed and info is not None else None
    return info


def unwrap_parallel(model: Any) -> Any:
    """The model inside a data-parallel wrapper (see `WRAPPERS`), else the model itself."""
    for cls in type(model).__mro__:
        attribute = WRAPPERS.get((cls.__module__, cls.__name__))
        if attribute is not None and hasattr(model, attribute):
            return getattr(model, attribute)
    return model
