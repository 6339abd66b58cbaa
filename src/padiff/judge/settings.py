"""The settings diff: for each pair of built-in layers of one kind, the settings that differ, and likewise
for the two optimizers; read through the tables of `settings_table`.

A setting differs when the two values, each brought to torch's convention, are not equal: a paddle
BatchNorm with momentum=0.9 agrees with torch's 0.1, one with 0.1 does not. Every difference is listed
in the report's notes whatever the verdict (a LayerNorm epsilon of 1e-5 against 1e-6 moves outputs by
less than float32's tolerance), and joins the culprit's reason when the culprit is such a layer.
Frameworks without a table entry, and settings a layer does not have, are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..frameworks.base import Adapter
from ..match.kinds import is_builtin, layer_kind, same_kind
from .settings_table import (
    LAYER_SETTINGS,
    OPTIMIZER_KINDS,
    OPTIMIZER_SETTINGS,
    Fixed,
    Setting,
    Source,
    same_form,
    spatial_dims,
)

__all__ = ["SettingDiff", "layer_settings_diff", "optimizer_settings_diff", "settings_notes", "reason_for"]

_MISSING = object()


@dataclass(frozen=True)
class SettingDiff:
    """One setting that differs between a pair of layers ("" paths: the optimizers)."""

    base_path: str
    raw_path: str
    base_type: str
    raw_type: str
    name: str
    base_value: str  # as shown: the value in torch's convention, the framework's own beside it
    raw_value: str

    @property
    def text(self) -> str:
        return f"{self.name} {self.base_value} vs {self.raw_value}"


def _read(source: Source, layer: Any) -> Any:
    if isinstance(source, Fixed):
        return source.value
    if callable(source):
        return source(layer)
    for name in (source,) if isinstance(source, str) else source:
        if hasattr(layer, name):
            return getattr(layer, name)
    return _MISSING


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return repr(value)


def _own_name(source: Source) -> str:
    name = source if isinstance(source, str) else source[0] if isinstance(source, tuple) else ""
    return name.lstrip("_")


def _layer_settings(layer: Any, framework: str, kind: str) -> dict[str, tuple[Any, str]]:
    """{setting name: (value in torch's convention, as shown)} for one layer."""
    out: dict[str, tuple[Any, str]] = {}
    dims = spatial_dims(kind)
    table: tuple[Setting, ...] = LAYER_SETTINGS.get(kind, ())
    for setting in table:
        if framework not in ("torch", "paddle"):
            continue
        source: Source = setting.torch if framework == "torch" else setting.paddle
        value = _read(source, layer)
        if value is _MISSING:
            continue
        if value is None and setting.none_is and setting.none_is in out:
            out[setting.name] = out[setting.none_is]
            continue
        form = setting.forms.get(framework, setting.form)(value, dims)
        shown = _shown(form)
        if setting.explain and form != same_form(value, dims):  # converted: show the framework's own spelling
            shown += f" ({framework} {_own_name(source)}={_shown(value)})"
        out[setting.name] = (form, shown)
    return out


def layer_settings_diff(
    pairs: Iterable[tuple[str, str]], base: tuple[Adapter, Any], raw: tuple[Adapter, Any]
) -> list[SettingDiff]:
    """The differing settings of each (base path, raw path) pair of built-in layers of one kind."""
    layers = []
    for adapter, model in (base, raw):
        by_path: dict[str, Any] = {}
        for path, layer in adapter.named_sublayers(model):
            by_path.setdefault(path, layer)
        layers.append(by_path)
    diffs, seen = [], set()
    for base_path, raw_path in pairs:
        base_layer, raw_layer = layers[0].get(base_path), layers[1].get(raw_path)
        if (base_path, raw_path) in seen or base_layer is None or raw_layer is None:
            continue
        seen.add((base_path, raw_path))
        if not (is_builtin(base_layer) and same_kind(base_layer, raw_layer)):
            continue
        kind = layer_kind(base_layer)
        base_settings = _layer_settings(base_layer, base[0].name, kind)
        raw_settings = _layer_settings(raw_layer, raw[0].name, kind)
        for name, (base_form, base_shown) in base_settings.items():
            if name in raw_settings and raw_settings[name][0] != base_form:
                diffs.append(
                    SettingDiff(
                        base_path,
                        raw_path,
                        type(base_layer).__name__,
                        type(raw_layer).__name__,
                        name,
                        base_shown,
                        raw_settings[name][1],
                    )
                )
    return diffs


def _flat(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with list values spread over numbered keys: betas [0.9, 0.999] -> betas.0, betas.1."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, (list, tuple)):
            out.update({f"{key}.{i}": v for i, v in enumerate(value)})
        else:
            out[key] = value
    return out


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def optimizer_settings_diff(
    base: tuple[str, str, dict[str, Any]], raw: tuple[str, str, dict[str, Any]]
) -> list[SettingDiff]:
    """Differing settings of two optimizers, each given as (framework, class name, settings as
    `Adapter.optimizer_settings` reads them); across frameworks through `OPTIMIZER_SETTINGS`."""
    (base_framework, base_class, base_settings), (raw_framework, raw_class, raw_settings) = base, raw
    base_settings, raw_settings = _flat(base_settings), _flat(raw_settings)
    diffs = []

    def differ(name: str, base_value: Any, raw_value: Any) -> None:
        if not _same_value(base_value, raw_value):
            diffs.append(
                SettingDiff("", "", base_class, raw_class, name, _shown(base_value), _shown(raw_value))
            )

    kinds = [OPTIMIZER_KINDS.get(c.lower(), c.lower()) for c in (base_class, raw_class)]
    if kinds[0] != kinds[1]:
        diffs.append(SettingDiff("", "", base_class, raw_class, "optimizer", base_class, raw_class))
    if base_framework == raw_framework:
        for key in base_settings.keys() & raw_settings.keys():
            differ(key, base_settings[key], raw_settings[key])
        return sorted(diffs, key=lambda d: d.name != "optimizer")
    frameworks = (base_framework, raw_framework)
    if set(frameworks) != {"torch", "paddle"}:
        return diffs
    for name, torch_key, paddle_key, default in OPTIMIZER_SETTINGS:
        keys = [torch_key if f == "torch" else paddle_key for f in frameworks]
        values = [s.get(k, default) for s, k in zip((base_settings, raw_settings), keys)]
        if values[0] is not None and values[1] is not None:
            differ(name, *values)
    return diffs


def _paths(diff: SettingDiff) -> str:
    if diff.base_path == diff.raw_path:
        return f"'{diff.base_path or '(root)'}'"
    return f"'{diff.base_path or '(root)'}' / '{diff.raw_path or '(root)'}'"


def settings_notes(layer_diffs: list[SettingDiff], optimizer_diffs: list[SettingDiff]) -> list[str]:
    """One note per distinct difference, naming the layers that have it (the first 6)."""
    grouped: dict[tuple[str, str, str], list[SettingDiff]] = {}
    by_pair: dict[tuple[str, str], list[SettingDiff]] = {}
    for diff in layer_diffs:
        by_pair.setdefault((diff.base_path, diff.raw_path), []).append(diff)
    for pair_diffs in by_pair.values():
        first = pair_diffs[0]
        text = "; ".join(d.text for d in pair_diffs)
        grouped.setdefault((first.base_type, first.raw_type, text), []).append(first)
    notes = []
    for (base_type, raw_type, text), diffs in grouped.items():
        classes = base_type if base_type == raw_type else f"{base_type} / {raw_type}"
        shown = ", ".join(_paths(d) for d in diffs[:6]) + (
            f" and {len(diffs) - 6} more" if len(diffs) > 6 else ""
        )
        layers = f"{len(diffs)} {classes} layers" if len(diffs) > 1 else f"{classes}"
        notes.append(f"settings differ (base vs raw): {text} in {layers} {shown}")
    if optimizer_diffs:
        notes.append("optimizer settings differ (base vs raw): " + "; ".join(d.text for d in optimizer_diffs))
    return notes


def reason_for(diffs: list[SettingDiff], base_path: str, raw_path: str) -> str:
    """'settings differ: epsilon 1e-05 vs 1e-06' for the pair at these paths, or ''."""
    mine = [d.text for d in diffs if (d.base_path, d.raw_path) == (base_path, raw_path)]
    return "settings differ: " + "; ".join(mine) if mine else ""
