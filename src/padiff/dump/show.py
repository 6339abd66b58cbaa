"""`padiff show DUMP`: what a dump folder holds, in words: who wrote it where, the model's tree, each step
and its size.

Rule: everything shown is read from the manifest and the tensor files' headers (the dump is opened and
checked whole, as `compare_dumps` opens it); no tensor data is read. A multi-rank run is shown rank by
rank, the model's tree once (rank 0's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..report.tree import format_tree, tree_lines
from .reader import Dump
from .runread import open_side

__all__ = ["render_dump", "render_folder", "human_bytes"]


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def _environment(env: dict[str, Any]) -> str:
    flags = env.get("flags", {})
    shown = [f"{key} {flags[key]}" for key in ("deterministic", "tf32", "matmul_precision") if key in flags]
    return (
        f"{env.get('framework', '?')} {env.get('framework_version', '?')}, padiff {env.get('padiff', '?')}, "
        f"python {env.get('python', '?')}, numpy {env.get('numpy', '?')}; device {', '.join(env.get('devices', [])) or '?'}; "
        f"dtypes {', '.join(env.get('dtypes', [])) or '-'}" + (f"; {', '.join(shown)}" if shown else "")
    )


def _step(index: int, step: dict[str, Any], dump: Dump) -> str:
    file = dump.step_files[index]
    calls = len(step.get("nodes", []))
    events = step.get("events", [])
    names = file.names()
    layer_tensors = sum(1 for n in names if n.startswith("t/"))
    grads = sum(1 for n in names if n.startswith("grad/"))
    line = (
        f"  step {index}: {calls} calls, {len(events)} events, {layer_tensors} layer tensors, "
        f"{grads} parameter gradients, {human_bytes(int(step.get('bytes', 0)))} ({step.get('file', '?')})"
    )
    optimizer = step.get("optimizer")
    if step.get("updated"):
        line += f"; optimizer step{' (' + str(optimizer.get('kind')) + ')' if optimizer else ''}"
    if step.get("dropout_neutralised"):
        line += f"; {step['dropout_neutralised']} dropout layers switched off"
    return line


def render_folder(folder: str | Path) -> str:
    """A single dump, one rank's dump, or a whole multi-rank run (each rank's dump, one tree)."""
    side = open_side(folder, "dump")
    if len(side.dumps) == 1 and not (Path(folder) / "rank_0").is_dir():
        return render_dump(next(iter(side.dumps.values())))
    launcher = f" under {side.launcher}" if side.launcher else ""
    lines = [
        f"padiff multi-rank dump {side.folder}: {side.world_size} ranks{launcher}, each a dump of its own:"
    ]
    for rank, dump in sorted(side.dumps.items()):
        text = render_dump(dump, tree=False).splitlines()
        lines += [f"rank {rank}: " + text[0], *text[1:]]
    first = side.dumps[min(side.dumps)]
    lines += [
        f"{first.framework} model (rank {min(side.dumps)}'s):",
        format_tree(tree_lines(*first.standin())),
    ]
    return "\n".join(lines)


def render_dump(dump: Dump, tree: bool = True) -> str:
    manifest = dump.manifest
    model = manifest["model"]
    states = model.get("states", {})
    params = sum(1 for s in states.values() if s.get("trainable"))
    total = int(manifest["weights"].get("bytes", 0)) + sum(int(s.get("bytes", 0)) for s in dump.steps)
    root = tree_lines(dump.adapter, dump.model)
    lines = [
        f"padiff dump {dump.folder} (format {manifest['version']}, written by padiff.{manifest.get('kind', 'dump')} "
        f"at {manifest.get('created', '?')})",
        f"  environment: {_environment(manifest['environment'])}",
        f"  model: {root[0].cls if root else '?'} in {'train' if model.get('training') else 'eval'} mode, "
        f"{len(root)} layers, {params} parameter tensors and {len(states) - params} buffers",
        f"  weights before the first step: {human_bytes(int(manifest['weights'].get('bytes', 0)))} ({manifest['weights'].get('file')})",
    ]
    if manifest.get("summary_only"):
        lines.append(
            "  summary_only: layer tensors kept as statistics (sampled values, min, max, mean, L2 norm)"
        )
    count = len(dump.steps)
    lines.append(f"  {count} step{'' if count == 1 else 's'}, {human_bytes(total)} in all:")
    lines += [_step(i, step, dump) for i, step in enumerate(dump.steps)]
    lines += [f"  note: {note}" for note in manifest.get("notes", [])]
    distributed = manifest.get("distributed")
    if isinstance(distributed, dict):
        lines.insert(
            1,
            f"  rank {distributed.get('rank')} of {distributed.get('world_size')} ({distributed.get('launcher')})",
        )
    if tree:
        lines.append(f"{dump.framework} model:")
        lines.append(format_tree(root))
    return "\n".join(lines)
