"""One rank of a 2-process data-parallel run on CPU, started by torchrun or paddle's launcher (tests/test_dump_ranks.py).

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/rank_worker.py torch BASE OUT
    python -m paddle.distributed.launch --nproc_per_node 2 tests/rank_worker.py paddle BASE OUT

Each rank starts the mlp twin from the single-process base dump's weights, wraps it for data parallelism
(torch DDP over gloo, paddle.DataParallel) and dumps its half of the global batch four times:
  clean   padiff.dump, contiguous halves, SGD for two steps (as base was dumped)
  act     the same, rank 1's act1 is Tanh instead of ReLU (a planted change on one rank's data path)
  data    the same, one value of rank 1's half changed by its data loading
  record  padiff.record around a hand-written loop, every second sample per rank (DistributedSampler's
          split), SGD for two steps
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import padiff
from tests.models import build, example_input

LR = 0.1
STEPS = 2


def _setup(framework: str) -> tuple[int, int, Any]:
    if framework == "torch":
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size(), DistributedDataParallel
    import paddle
    import paddle.distributed as pdist

    pdist.init_parallel_env()
    return pdist.get_rank(), pdist.get_world_size(), paddle.DataParallel


def _sgd(framework: str, params: Any) -> Any:
    if framework == "torch":
        import torch

        return torch.optim.SGD(params, lr=LR)
    import paddle

    return paddle.optimizer.SGD(learning_rate=LR, parameters=params)


def _model(framework: str, base: Path, wrap: Any, plant: str | None) -> Any:
    model = build("mlp", framework, seed=1, plant=plant)
    padiff.load_weights(model, base)
    return wrap(model)


def _record(framework: str, wrapped: Any, shard: Any, out: Path) -> None:
    optimizer = _sgd(framework, wrapped.parameters())
    tensor = _tensor(framework, shard)
    with padiff.record(wrapped, out, optimizer=optimizer) as rec:
        for _ in range(STEPS):
            wrapped(tensor).mean().backward()
            optimizer.step()
            optimizer.zero_grad() if framework == "torch" else optimizer.clear_grad()
            rec.step()


def _tensor(framework: str, array: Any) -> Any:
    if framework == "torch":
        import torch

        return torch.from_numpy(array)
    import paddle

    return paddle.to_tensor(array)


def main(framework: str, base: Path, out: Path) -> None:
    rank, world, wrap = _setup(framework)
    x = example_input("mlp")
    share = x.shape[0] // world
    halves = x[rank * share : (rank + 1) * share]
    for variant in ("clean", "act", "data"):
        plant = "activation" if variant == "act" and rank == 1 else None
        shard = halves.copy()
        if variant == "data" and rank == 1:
            shard[0, 3] += 0.5
        model = _model(framework, base, wrap, plant)
        padiff.dump(model, shard, out / variant, optimizer=lambda p: _sgd(framework, p), steps=STEPS)
    _record(framework, _model(framework, base, wrap, None), x[rank::world].copy(), out / "record")
    print(f"rank {rank} of {world}: done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
