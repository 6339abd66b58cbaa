"""The vision models that torchvision and paddle.vision both ship, built with random weights.

Each entry says how a user would build the pair (keyword arguments that line the two up), the smallest
input both accept, and what padiff is expected to find; docs/real-models.md explains every expectation.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Same:
    """The two libraries build the same network: padiff must pass and pair every base layer, except
    layers of the classes in `uncompared` (each case says why they need no counterpart)."""

    uncompared: tuple[str, ...] = ()


@dataclass(frozen=True)
class Differ:
    """The two networks really differ: padiff must name this culprit (paths relative to the root)."""

    phase: str
    base_path: str
    raw_path: str


@dataclass(frozen=True)
class Arch:
    torch_name: str
    paddle_name: str
    size: int = 64
    torch_kwargs: dict[str, Any] = field(default_factory=dict)
    paddle_kwargs: dict[str, Any] = field(default_factory=dict)


ARCHS: dict[str, Arch] = {
    a.torch_name: a
    for a in (
        Arch("resnet18", "resnet18"),
        Arch("resnet34", "resnet34"),
        Arch("resnet50", "resnet50"),
        Arch("wide_resnet50_2", "wide_resnet50_2"),
        Arch("resnext50_32x4d", "resnext50_32x4d"),
        Arch("vgg11", "vgg11"),
        Arch("vgg11_bn", "vgg11", paddle_kwargs={"batch_norm": True}),
        Arch("vgg16", "vgg16"),
        Arch("vgg16_bn", "vgg16", paddle_kwargs={"batch_norm": True}),
        Arch("mobilenet_v2", "mobilenet_v2"),
        Arch("mobilenet_v3_small", "mobilenet_v3_small"),
        Arch("mobilenet_v3_large", "mobilenet_v3_large"),
        Arch("shufflenet_v2_x1_0", "shufflenet_v2_x1_0"),
        Arch("densenet121", "densenet121"),
        Arch("squeezenet1_0", "squeezenet1_0"),
        Arch("squeezenet1_1", "squeezenet1_1"),
        # paddle's AlexNet has no adaptive pooling: its classifier expects 6x6 features, from 224x224
        Arch("alexnet", "alexnet", size=224),
        # paddle's GoogLeNet always computes its two auxiliary heads, whose Linear layers expect 224x224
        Arch("googlenet", "googlenet", size=224, torch_kwargs={"init_weights": True}),
        # paddle's InceptionV3 has no auxiliary head: switch torchvision's off, as a user would
        Arch(
            "inception_v3", "inception_v3", size=75, torch_kwargs={"aux_logits": False, "init_weights": True}
        ),
    )
}


def build_pair(arch: Arch, mode: str) -> tuple[Any, Any]:
    import paddle
    import paddle.vision.models as paddle_models
    import torch
    import torchvision.models as torch_models

    torch.manual_seed(0)
    paddle.seed(0)
    base = getattr(torch_models, arch.torch_name)(weights=None, **arch.torch_kwargs)
    raw = getattr(paddle_models, arch.paddle_name)(pretrained=False, **arch.paddle_kwargs)
    for model in (base, raw):
        model.train() if mode == "train" else model.eval()
    return base, raw


def images(arch: Arch, batch: int = 2, size: int | None = None) -> np.ndarray:
    side = size or arch.size
    return np.random.default_rng(0).standard_normal((batch, 3, side, side)).astype("float32")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bare_seconds(base: Any, raw: Any, x: np.ndarray) -> float:
    """One forward and backward of each model, without padiff (mean of the float outputs as loss)."""
    import paddle
    import torch

    start = time.perf_counter()
    out = base(torch.from_numpy(x))
    _first(out).float().mean().backward()
    out = raw(paddle.to_tensor(x))
    _first(out).astype("float32").mean().backward()
    seconds = time.perf_counter() - start
    base.zero_grad()
    raw.clear_gradients()
    return seconds


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else getattr(out, "logits", out)


def measure(compare: Any, base: Any, raw: Any, x: np.ndarray) -> tuple[Any, dict[str, float]]:
    """Run `compare()`, timing it against a bare forward+backward of both; peak RSS growth, roughly."""
    bare = bare_seconds(base, raw, x)
    peak_before = _peak_mb()
    start = time.perf_counter()
    result = compare()
    seconds = time.perf_counter() - start
    return result, {"bare_s": bare, "padiff_s": seconds, "peak_growth_mb": _peak_mb() - peak_before}


def cost(name: str, mode: str, repeats: int = 3) -> dict[str, Any]:
    """Medians of wall and CPU seconds of a bare forward+backward of both models, of `padiff.compare`
    and of `padiff.compare(confirm=False)`, and the growth of the process's peak RSS during the first
    compare (run this in a fresh process per model: the peak never goes down). CPU seconds count every
    thread of the process; on a shared machine they move less than wall seconds when other jobs run."""
    import padiff

    arch = ARCHS[name]
    base, raw = build_pair(arch, mode)
    x = images(arch)
    bare_seconds(base, raw, x)  # warm-up: first-call allocations and kernel selection

    def timed(fn) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    def median(values: list[tuple[float, float]], i: int) -> float:
        return round(sorted(v[i] for v in values)[len(values) // 2], 2)

    bare = [timed(lambda: bare_seconds(base, raw, x)) for _ in range(repeats)]
    peak_before = _peak_mb()
    reports: list[Any] = []
    padiff_runs = [timed(lambda: reports.append(padiff.compare(base, raw, x)))]
    growth = _peak_mb() - peak_before
    padiff_runs += [timed(lambda: padiff.compare(base, raw, x)) for _ in range(repeats - 1)]
    unconfirmed = [timed(lambda: padiff.compare(base, raw, x, confirm=False)) for _ in range(repeats)]
    return {
        "model": name,
        "mode": mode,
        "passed": reports[0].passed,
        "confirmed": any(n.startswith("accumulated rounding crossed") for n in reports[0].notes),
        "bare_s": median(bare, 0),
        "padiff_s": median(padiff_runs, 0),
        "padiff_noconfirm_s": median(unconfirmed, 0),
        "bare_cpu_s": median(bare, 1),
        "padiff_cpu_s": median(padiff_runs, 1),
        "padiff_noconfirm_cpu_s": median(unconfirmed, 1),
        "peak_before_mb": round(peak_before),
        "peak_growth_mb": round(growth),
    }


# `python -m tests.real.zoo resnet18 eval [repeats]`: one row of the cost table in docs/real-models.md
if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(cost(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)))
