"""Random twin networks for padiff, built from one plain-data spec in torch and in paddle.

A *spec* is JSON-like data drawn once from ``random.Random(seed)``: the frameworks of base and raw, the
train/eval mode, the input, and a list of layer *nodes* (dicts), each with the dotted ``path`` padiff
will report for it. ``build(spec, framework)`` (``tests/models/generated.py``, re-exported here) turns the
same spec into a model of either framework with the same attribute names, so both twins have the same
layer paths. ``plant(spec, seed)`` returns a copy of the spec with one change at one node, and where
padiff must report it. Drawing and planting are plain data: this module imports no framework.

Shapes are tracked while drawing, so every spec runs. The node ops:

  linear, conv1d, conv2d, bn1d, bn2d, ln, gn, act (relu, gelu, tanh, sigmoid, silu,
  leaky_relu), dropout, pool1d, pool2d (max/avg), embed (first layer for token inputs), attn (q/k/v
  Linear, softmax inline), gpool (mean over the spatial or sequence axes: a custom layer), seq
  (Sequential), stack (custom layer looping over a LayerList), residual (custom layer: x + body(x)).

Plants: a different activation, a norm eps of 1e-1 instead of 1e-5 (not on a paddle LayerNorm: it
refuses eps > 1e-3), a conv padding one larger (the output shape changes; never inside a residual
block, whose add needs the shape), a residual block without its add.
Run ``python -m tests.gen SEED`` to print the spec and the plant of one seed.
"""

from __future__ import annotations

import copy
import json
import random
import sys

import numpy as np

from tests.models.generated import build_spec as build
from tests.models.generated import randomize_norms

__all__ = ["make_spec", "plant", "build", "make_input", "randomize_norms", "describe", "PLANT_KINDS"]

PLANT_KINDS = ("activation", "norm_eps", "padding", "residual")
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu")
# relu and leaky_relu agree on inputs >= 0 (e.g. after another relu): never swap one for the other
_LOOKALIKE = {"relu": "leaky_relu", "leaky_relu": "relu"}
PAIRS = (("torch", "paddle"), ("paddle", "torch"), ("torch", "torch"), ("paddle", "paddle"))
PAIR_WEIGHTS = (14, 4, 1, 1)  # torch base / paddle raw mostly
EPS, PLANTED_EPS = 1e-5, 1e-1
VOCAB = 20
_MAX_DEPTH = 2  # containers inside containers inside the root
# per kind of activation shape: the ops with weights, and the ops that change the kind or the sizes
_WEIGHTED = {"vector": ["linear"], "seq": ["linear", "attn"], "image": ["conv"] * 2, "signal": ["conv"] * 2}
_RESHAPING = {"vector": [], "seq": ["gpool"], "image": ["pool", "gpool"], "signal": ["pool", "gpool"]}


# --- drawing a spec -----------------------------------------------------------------------------------


class _Drawer:
    """Draws nodes while tracking the activation shape: ("vector", f), ("seq", l, d), ("image", c, h, w),
    ("signal", c, l)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        # may the activation hold exact zeros (after a relu)? Then no leaky_relu and no max pool next:
        # at 0, torch's leaky_relu gradient is the slope and paddle's is 1, and max pool ties are broken
        # differently: real framework differences that padiff rightly reports, not part of a clean twin
        self.zeros = False

    def nodes(self, state: tuple, count: int, depth: int, keep_shape: bool) -> tuple[list, tuple]:
        """`count` nodes from `state`; with `keep_shape` they end in the shape they started from."""
        out = []
        for _ in range(count):
            node, state = self.node(state, depth, keep_shape)
            out.append(node)
        return out, state

    def node(self, state: tuple, depth: int, keep_shape: bool) -> tuple[dict, tuple]:
        rng = self.rng
        kind = state[0]
        menu = ["act", "act", "norm", "norm", "dropout", *_WEIGHTED[kind]]
        if not keep_shape:
            menu += _RESHAPING[kind]
        if depth < _MAX_DEPTH:
            menu += ["residual", "container"]
        op = rng.choice(menu)
        if op == "container":
            op = rng.choice(["seq", "stack"])
        node, state = getattr(self, "_" + op)(state, depth, keep_shape)
        return node, state

    # leaf ops ---------------------------------------------------------------------------------------

    def activation(self) -> dict:
        fn = self.rng.choice([fn for fn in ACTIVATIONS if not (self.zeros and fn == "leaky_relu")])
        self.zeros = fn == "relu" or (self.zeros and fn != "sigmoid")  # the others keep 0 at 0
        return {"op": "act", "fn": fn}

    def _act(self, state, depth, keep_shape):
        return self.activation(), state

    def _norm(self, state, depth, keep_shape):
        rng, kind = self.rng, state[0]
        options = []
        if kind in ("vector", "seq") and state[-1] >= 3:  # over 2 features a LayerNorm outputs +-1
            options.append({"op": "ln", "d": state[-1], "eps": EPS})
        if kind in ("image", "signal"):
            groups = [g for g in (2, 3, 4) if state[1] % g == 0 and g < state[1]]
            options += [{"op": "gn", "g": g, "c": state[1], "eps": EPS} for g in groups[:1]]
        if kind != "seq":
            options.append({"op": "bn2d" if kind == "image" else "bn1d", "c": state[1], "eps": EPS})
        if not options:
            return self._act(state, depth, keep_shape)
        node = rng.choice(options)
        self.zeros = False  # every norm gets a random bias
        return node, state

    def _dropout(self, state, depth, keep_shape):
        return {"op": "dropout", "p": 0.5}, state  # padiff switches dropout off in train mode

    def _linear(self, state, depth, keep_shape):
        self.zeros = False
        width = state[-1]
        out = width if keep_shape else self.rng.choice([4, 6, 8, 12])
        return {"op": "linear", "in": width, "out": out}, (*state[:-1], out)

    def _attn(self, state, depth, keep_shape):
        self.zeros = False
        return {"op": "attn", "d": state[2]}, state

    def _conv(self, state, depth, keep_shape):
        self.zeros = False
        rng, kind = self.rng, state[0]
        channels, sizes = state[1], state[2:]
        out = channels if keep_shape else rng.choice([2, 4, 6, 8])
        kernel, pad = rng.choice([(3, 1), (1, 0)] + ([] if keep_shape or min(sizes) < 5 else [(3, 0)]))
        sizes = tuple(s + 2 * pad - kernel + 1 for s in sizes)
        op = "conv2d" if kind == "image" else "conv1d"
        return {"op": op, "in": channels, "out": out, "k": kernel, "pad": pad}, (kind, out, *sizes)

    def _pool(self, state, depth, keep_shape):
        kind, sizes = state[0], state[2:]
        if min(sizes) < 4:  # keep every spatial size >= 2: a size-1 axis would broadcast in comparisons
            return self._act(state, depth, keep_shape)
        op = "pool2d" if kind == "image" else "pool1d"
        node = {"op": op, "type": "avg" if self.zeros else self.rng.choice(["max", "avg"])}
        return node, (kind, state[1], *(s // 2 for s in sizes))

    def _gpool(self, state, depth, keep_shape):
        if state[0] == "seq":
            return {"op": "gpool", "axis": "seq"}, ("vector", state[2])
        return {"op": "gpool", "axis": "spatial"}, ("vector", state[1])

    # containers -------------------------------------------------------------------------------------

    def _residual(self, state, depth, keep_shape):
        zeros = self.zeros
        body, _ = self.nodes(state, self.rng.randint(1, 3), depth + 1, keep_shape=True)
        self.zeros = self.zeros or zeros
        return {"op": "residual", "add": True, "body": body}, state

    def _seq(self, state, depth, keep_shape):
        body, state = self.nodes(state, self.rng.randint(2, 3), depth + 1, keep_shape)
        return {"op": "seq", "body": body}, state

    def _stack(self, state, depth, keep_shape):
        body, state = self.nodes(state, self.rng.randint(1, 3), depth + 1, keep_shape)
        return {"op": "stack", "body": body}, state


def _draw_input(rng: random.Random) -> tuple[dict, tuple]:
    batch = rng.randint(2, 4)
    kind = rng.choice(["vector", "seq", "image", "signal", "tokens"])
    if kind == "vector":
        f = rng.choice([4, 6, 8])
        return {"kind": kind, "shape": [batch, f]}, ("vector", f)
    if kind in ("seq", "tokens"):
        length, d = rng.randint(3, 6), rng.choice([4, 8])
        if kind == "tokens":
            return {"kind": kind, "shape": [batch, length], "vocab": VOCAB, "d": d}, ("seq", length, d)
        return {"kind": kind, "shape": [batch, length, d]}, ("seq", length, d)
    channels = rng.choice([2, 3, 4])
    if kind == "image":
        h, w = rng.randint(5, 8), rng.randint(5, 8)
        return {"kind": kind, "shape": [batch, channels, h, w]}, ("image", channels, h, w)
    length = rng.randint(6, 12)
    return {"kind": kind, "shape": [batch, channels, length]}, ("signal", channels, length)


def _assign_paths(nodes: list[dict], prefix: str) -> None:
    """Root children get readable names (``conv2d_0``); container children are numbered as the
    framework numbers them (``seq_1.0``, ``stack_2.items.0``, ``residual_3.body.0``)."""
    for index, node in enumerate(nodes):
        node["path"] = f"{node['op']}_{index}" if not prefix else f"{prefix}{index}"
        inner = {"seq": ".", "stack": ".items.", "residual": ".body."}.get(node["op"])
        if inner is not None:
            _assign_paths(node["body"], node["path"] + inner)


def make_spec(seed: int) -> dict:
    """The spec of one random twin pair; the same seed always gives the same spec."""
    rng = random.Random(seed)
    base, raw = rng.choices(PAIRS, weights=PAIR_WEIGHTS)[0]
    mode = "train" if rng.random() < 0.25 else "eval"
    inp, state = _draw_input(rng)
    drawer = _Drawer(rng)
    layers = []
    if inp["kind"] == "tokens":
        layers.append({"op": "embed", "vocab": VOCAB, "d": inp["d"]})
    if inp["kind"] in ("image", "signal"):  # a stem conv, as CNNs have
        stem, state = drawer._conv(state, 0, keep_shape=False)
        layers.append(stem)
    body, _ = drawer.nodes(state, rng.randint(3, 5), 0, keep_shape=False)
    layers += body
    _assign_paths(layers, "")
    spec = {"seed": seed, "base": base, "raw": raw, "mode": mode, "input": inp, "layers": layers}
    if not _targets(spec):  # nothing to plant (rare): end with an activation
        layers.append(drawer.activation())
        _assign_paths(layers, "")
    return spec


# --- plants --------------------------------------------------------------------------------------------


def _walk(nodes: list[dict], inside_residual: bool = False):
    for node in nodes:
        yield node, inside_residual
        if "body" in node:
            yield from _walk(node["body"], inside_residual or node["op"] == "residual")


def _targets(spec: dict) -> dict[str, list[dict]]:
    """Nodes each plant kind can change so that padiff must see it at exactly that node."""
    targets: dict[str, list[dict]] = {kind: [] for kind in PLANT_KINDS}
    for node, inside_residual in _walk(spec["layers"]):
        op = node["op"]
        if op == "act":
            targets["activation"].append(node)
        elif op in ("bn1d", "bn2d", "gn") or (op == "ln" and spec["raw"] == "torch"):
            targets["norm_eps"].append(node)  # paddle's LayerNorm refuses eps > 1e-3
        elif op in ("conv1d", "conv2d") and not inside_residual:  # a residual add needs the same shape
            targets["padding"].append(node)
        elif op == "residual":
            targets["residual"].append(node)
    return {kind: nodes for kind, nodes in targets.items() if nodes}


def plant(spec: dict, seed: int | None = None) -> tuple[dict, dict]:
    """(raw spec with one change, {"kind", "path", "change"}); drawn from ``seed`` (default: the spec's)."""
    rng = random.Random(f"plant-{spec['seed'] if seed is None else seed}")
    targets = _targets(spec)
    kind = rng.choice(sorted(targets))
    path = rng.choice(targets[kind])["path"]
    planted = copy.deepcopy(spec)
    node = next(n for n, _ in _walk(planted["layers"]) if n["path"] == path)
    if kind == "activation":
        choices = [fn for fn in ACTIVATIONS if fn not in (node["fn"], _LOOKALIKE.get(node["fn"]))]
        change = f"{node['fn']} -> {rng.choice(choices)}"
        node["fn"] = change.split(" -> ")[1]
    elif kind == "norm_eps":
        node["eps"] = PLANTED_EPS
        change = f"eps {EPS} -> {PLANTED_EPS}"
    elif kind == "padding":
        node["pad"] += 1
        change = f"padding {node['pad'] - 1} -> {node['pad']}"
    else:
        node["add"] = False
        change = "residual add dropped"
    return planted, {"kind": kind, "path": path, "change": change}


def make_input(spec: dict) -> np.ndarray:
    rng = np.random.default_rng(spec["seed"])
    inp = spec["input"]
    if inp["kind"] == "tokens":
        return rng.integers(0, inp["vocab"], size=inp["shape"], dtype=np.int64)
    return rng.standard_normal(inp["shape"]).astype(np.float32)


def describe(spec: dict, plant_info: dict | None = None) -> str:
    """The spec as one JSON line (paste it into ``json.loads`` to rebuild), plus the plant if any."""
    text = f"seed={spec['seed']} spec={json.dumps(spec, separators=(',', ':'))}"
    if plant_info is not None:
        text += f"\nplant={json.dumps(plant_info)}"
    return text


if __name__ == "__main__":  # python -m tests.gen SEED
    one = make_spec(int(sys.argv[1]))
    print(json.dumps(one, indent=1))
    print(json.dumps(plant(one)[1]))
