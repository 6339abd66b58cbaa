"""A LayerMap for dumps: layers named by their dotted paths, from a dict or a YAML / JSON file.

Offline there are no layer objects to hand to `padiff.LayerMap`, so layers are named by path (as in
`state_dict` names, "" for the root):

    map: {"blocks.0.attn": "blocks.0.attention"}   # base path: raw path, compared at their boundary only
    ignore: ["wrapper"]                            # a path in either model (or both): needs no counterpart
    ignore_recursively: ["aux_head"]               # left out with everything inside it
    ignore_class: ["Dropout"]                      # class names, in either model
    rename_params: {"fc.w": "fc.weight"}           # raw state name: base state name
    fuse: {"attn.qkv_proj": {"parts": ["attn.q_proj", "attn.k_proj", "attn.v_proj"], "groups": 2}}
                                                   # a fused Linear of one model: its parts in the other

Rule: every path must name a layer of the model it is meant for (a map's base path in base, its raw
path in raw; an ignored path in at least one of them), every class name a class of one of them; anything
else is an `InputError` naming the path and the closest existing ones. The result is an ordinary
`LayerMap` over the two stand-in models, so it is resolved exactly as `compare` resolves one. Files are
parsed as data only (JSON, or YAML through `yaml.safe_load`).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..frameworks.base import Adapter
from ..match.layermap import LayerMap

__all__ = ["load_layer_map", "layer_map_for_dumps", "KEYS"]

KEYS = ("map", "ignore", "ignore_recursively", "ignore_class", "rename_params", "fuse")


def load_layer_map(path: str | Path) -> dict[str, Any]:
    """The layer map held by a YAML or JSON file."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise InputError(f"cannot read layer map {file}: {error}", hint="pass a YAML or JSON file") from error
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ImportError as error:
        raise InputError(
            "reading a YAML layer map needs PyYAML", hint="pip install pyyaml, or use JSON"
        ) from error
    except Exception as error:  # a parser error of either format
        raise InputError(
            f"layer map {file} is not valid: {error}", hint="see README.md, 'Offline'"
        ) from error
    return data if data is not None else {}


def _closest(path: str, known: list[str]) -> str:
    near = difflib.get_close_matches(path, known, n=3, cutoff=0.5)
    return f" (closest: {', '.join(repr(p) for p in near)})" if near else ""


def layer_map_for_dumps(spec: Any, base: tuple[Adapter, Any], raw: tuple[Adapter, Any]) -> LayerMap:
    """`spec` (a dict, or a file path) as a LayerMap over the two stand-in models."""
    if isinstance(spec, LayerMap):
        raise InputError(
            "compare_dumps takes a layer map by paths, not a padiff.LayerMap of layer objects",
            hint='pass {"map": {"base.path": "raw.path"}, "ignore": [...]} or a YAML/JSON file',
        )
    if isinstance(spec, (str, Path)):
        spec = load_layer_map(spec)
    if not isinstance(spec, dict) or any(key not in KEYS for key in spec):
        unknown = sorted(set(spec) - set(KEYS)) if isinstance(spec, dict) else type(spec).__name__
        raise InputError(
            f"a layer map holds only {', '.join(KEYS)}; got {unknown}", hint="see README.md, 'Offline'"
        )
    layers = [dict(adapter.named_sublayers(model)) for adapter, model in (base, raw)]
    layer_map = LayerMap()
    pairs = {}
    for base_path, raw_path in _mapping(spec, "map").items():
        pairs[_layer(layers[0], base_path, "base")] = _layer(layers[1], raw_path, "raw")
    if pairs:
        layer_map.map = pairs
    layer_map.ignore(_either(layers, _paths(spec, "ignore"), "ignore"))
    layer_map.ignore_recursively(_either(layers, _paths(spec, "ignore_recursively"), "ignore_recursively"))
    classes = _paths(spec, "ignore_class")
    found = {type(layer).__name__ for side in layers for layer in side.values()}
    for name in classes:
        if name not in found:
            raise InputError(
                f"layer map ignore_class: no layer of class {name!r} in either model{_closest(name, sorted(found))}",
                hint="name a class of one of the two models",
            )
    layer_map.ignore(
        [layer for side in layers for path, layer in side.items() if path and type(layer).__name__ in classes]
    )
    renames = _mapping(spec, "rename_params")
    if renames:
        layer_map.rename_params(renames)
    for fused, declared in (spec.get("fuse") or {}).items():
        if not isinstance(declared, dict) or not isinstance(declared.get("parts"), list):
            raise InputError(
                f"layer map fuse: {fused!r} needs parts", hint='e.g. {"parts": ["a.q", "a.k"], "groups": 1}'
            )
        parts = _either(layers, [str(p) for p in declared["parts"]], "fuse")
        layer_map.fuse(_either(layers, [str(fused)], "fuse")[0], parts, declared.get("groups", 1))
    return layer_map


def _mapping(spec: dict, key: str) -> dict[str, str]:
    value = spec.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InputError(f"layer map {key} must map strings to strings", hint=f'e.g. {key}: {{"a.b": "a.c"}}')
    return value


def _paths(spec: dict, key: str) -> list[str]:
    value = spec.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"layer map {key} must be a list of strings", hint=f'e.g. {key}: ["blocks.0.drop"]')
    return value


def _layer(layers: dict[str, Any], path: str, role: str) -> Any:
    if path not in layers:
        raise InputError(
            f"layer map names {role} layer {path!r}, which the {role} model does not have{_closest(path, list(layers))}",
            hint="use dotted paths as the layer tree shows them (padiff show DUMP)",
        )
    return layers[path]


def _either(layers: list[dict[str, Any]], paths: list[str], key: str) -> list[Any]:
    out = []
    for path in paths:
        found = [side[path] for side in layers if path in side]
        if not found:
            known = sorted(set(layers[0]) | set(layers[1]))
            raise InputError(
                f"layer map {key} names {path!r}, a layer of neither model{_closest(path, known)}",
                hint="use dotted paths as the layer tree shows them (padiff show DUMP)",
            )
        out.extend(found)
    return out
