"""What differs between two dumps besides their numbers: versions, environments, modes, layer settings.

Rule: a difference is shown only where the two manifests say the same thing two ways. Versions of padiff
and numpy always; the framework's version when both sides use the same framework; the device kind,
parameter dtypes and the flags both frameworks spell alike ("deterministic", "tf32"); train/eval mode of
the models; and, for each pair of layers the comparison paired, the settings in `SETTINGS` both layers
hold, after translating paddle's spelling (`_epsilon` -> eps, `ksize` -> kernel_size, `_approximate`
False -> "none") and writing a list of equal values as that value. A setting one side leaves as None is
not compared (the frameworks' defaults differ in how they say "default"). Floats agree within 1e-6.
"""

from __future__ import annotations

import math
from typing import Any

from .reader import Dump

__all__ = ["manifest_differences", "SETTINGS"]

SETTINGS = (
    "eps negative_slope approximate p padding_idx stride padding dilation groups kernel_size ceil_mode "
    "training momentum"
).split()
_ALIASES = {"epsilon": "eps", "ksize": "kernel_size"}
_SAME_FRAMEWORK_ONLY = {"momentum"}  # paddle's momentum is 1 - torch's
_SHOWN = 6


def _canonical(key: str) -> str:
    key = key.lstrip("_")
    return _ALIASES.get(key, key)


def _value(key: str, value: Any) -> Any:
    if isinstance(value, list) and value and all(v == value[0] for v in value):
        value = value[0]
    if key == "approximate" and isinstance(value, bool):
        value = "tanh" if value else "none"
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _settings(dump: Dump) -> dict[str, dict[str, Any]]:
    """{layer path: canonical settings} of every layer in the dump's walk."""
    model = dump.manifest["model"]
    layers = model.get("layers", [])
    out = {}
    for path, uid in model.get("walk", []):
        raw = layers[int(uid)].get("settings", {}) if 0 <= int(uid) < len(layers) else {}
        out[str(path)] = {
            _canonical(k): _value(_canonical(k), v) for k, v in raw.items() if _canonical(k) in SETTINGS
        }
    return out


def _device(name: str) -> str:
    text = name.lower().replace("place(", "").replace(")", "").replace("cuda", "gpu")
    return text.split(":")[0]


def _environment(base: dict[str, Any], raw: dict[str, Any], same_framework: bool) -> list[str]:
    out = []
    keys = ["padiff", "numpy"] + (["framework_version"] if same_framework else [])
    for key in keys:
        if base.get(key) != raw.get(key):
            out.append(f"{key} {base.get(key)} (base) vs {raw.get(key)} (raw)")
    devices = [sorted({_device(d) for d in side.get("devices", [])}) for side in (base, raw)]
    if devices[0] != devices[1]:
        out.append(f"device {','.join(devices[0]) or '?'} (base) vs {','.join(devices[1]) or '?'} (raw)")
    if base.get("dtypes") != raw.get("dtypes"):
        out.append(f"parameter dtypes {base.get('dtypes')} (base) vs {raw.get('dtypes')} (raw)")
    flags = [side.get("flags", {}) for side in (base, raw)]
    for key in ("deterministic", "tf32"):
        if key in flags[0] and key in flags[1] and flags[0][key] != flags[1][key]:
            out.append(f"{key} {flags[0][key]} (base) vs {flags[1][key]} (raw)")
    return out


def _layer_settings(base: Dump, raw: Dump, pairs: list[tuple[str, str]]) -> list[str]:
    same_framework = base.framework == raw.framework
    base_settings, raw_settings = _settings(base), _settings(raw)
    out = []
    for base_path, raw_path in pairs:
        ours, theirs = base_settings.get(base_path, {}), raw_settings.get(raw_path, {})
        for key in SETTINGS:
            if key in _SAME_FRAMEWORK_ONLY and not same_framework:
                continue
            a, b = ours.get(key), theirs.get(key)
            if a is None or b is None or _same(a, b):
                continue
            where = (
                (base_path or "(root)")
                if base_path == raw_path
                else f"{base_path or '(root)'} / {raw_path or '(root)'}"
            )
            out.append(f"{where} {key} {a!r} (base) vs {b!r} (raw)")
    return out


def manifest_differences(base: Dump, raw: Dump, pairs: list[tuple[str, str]]) -> list[str]:
    """Notes on what the two dumps' manifests say differently; `pairs` are the (base, raw) layer paths the
    comparison paired."""
    notes = []
    env = _environment(
        base.manifest["environment"], raw.manifest["environment"], base.framework == raw.framework
    )
    if env:
        notes.append("the two dumps were written in different environments: " + "; ".join(env))
    modes = ["train" if d.manifest["model"].get("training") else "eval" for d in (base, raw)]
    if modes[0] != modes[1]:
        notes.append(f"base was dumped in {modes[0]} mode, raw in {modes[1]} mode")
    settings = _layer_settings(base, raw, pairs)
    if settings:
        more = f" and {len(settings) - _SHOWN} more" if len(settings) > _SHOWN else ""
        notes.append("paired layers with different settings: " + "; ".join(settings[:_SHOWN]) + more)
    return notes
