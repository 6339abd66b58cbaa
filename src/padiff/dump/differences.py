"""What differs between two dumps' manifests besides their numbers: versions, environments, modes.

Rule: a difference is shown only where the two manifests say the same thing two ways: the versions of
padiff and numpy always, the framework's version when both sides use the same framework; the kind of
device (cpu / gpu, whatever the framework calls it), the parameter dtypes, the flags both frameworks
spell alike ("deterministic", "tf32"), and train/eval mode. Layer and optimizer settings are compared by
the live comparison's own settings diff (`judge.settings`), which reads the stand-in models' settings
as it reads real layers'.
"""

from __future__ import annotations

from typing import Any

from .reader import Dump

__all__ = ["manifest_differences"]


def _device(name: str) -> str:
    text = name.lower().replace("place(", "").replace(")", "").replace("cuda", "gpu")
    return text.split(":")[0]


def _environment(base: dict[str, Any], raw: dict[str, Any], same_framework: bool) -> list[str]:
    out = []
    keys = ["padiff", "numpy"] + (["framework_version"] if same_framework else [])
    for key in keys:
        if base.get(key) != raw.get(key):
            out.append(f"{key} {base.get(key)} (base) vs {raw.get(key)} (raw)")
    devices = [sorted({_device(str(d)) for d in side.get("devices", [])}) for side in (base, raw)]
    if devices[0] != devices[1]:
        out.append(f"device {','.join(devices[0]) or '?'} (base) vs {','.join(devices[1]) or '?'} (raw)")
    if base.get("dtypes") != raw.get("dtypes"):
        out.append(f"parameter dtypes {base.get('dtypes')} (base) vs {raw.get('dtypes')} (raw)")
    flags = [side.get("flags", {}) for side in (base, raw)]
    for key in ("deterministic", "tf32"):
        if key in flags[0] and key in flags[1] and flags[0][key] != flags[1][key]:
            out.append(f"{key} {flags[0][key]} (base) vs {flags[1][key]} (raw)")
    return out


def manifest_differences(base: Dump, raw: Dump) -> list[str]:
    """Notes on what the two dumps' manifests say differently (see the module docstring)."""
    notes = []
    same_framework = base.framework == raw.framework
    env = _environment(base.manifest["environment"], raw.manifest["environment"], same_framework)
    if env:
        notes.append("the two dumps were written in different environments: " + "; ".join(env))
    modes = ["train" if d.manifest["model"].get("training") else "eval" for d in (base, raw)]
    if modes[0] != modes[1]:
        notes.append(f"base was dumped in {modes[0]} mode, raw in {modes[1]} mode")
    return notes
