"""What offline comparison costs: dump writing against the disk, comparing two dumps, memory while comparing.

Issue 15's targets, measured on the folder given (default: a temporary folder on the disk of $TMPDIR):

  disk      `dd if=/dev/zero bs=16M conv=fsync` of --size-mb: the disk's own fsync'd sequential rate
  writer    padiff's tensor-file writer (the path every dump takes) writing --size-mb of 4 MB float32
            tensors, header, fsync and rename included: target >= 80% of the disk's rate
  dump      padiff.dump of a deep MLP (torch; --depth Linear+Tanh layers of --width, batch --batch): the
            end-to-end rate (dump bytes / wall time) and, for reference, the same run captured in memory
            only (what padiff.compare does for base), so the time spent on the files shows
  compare   padiff.compare_dumps of that dump against the paddle port's, from a warm page cache (one
            untimed compare first): bytes of raw's tensor data per second; target >= 1 GB/s. Shown beside
            it: `compare_arrays` alone on 16 MB pairs, the judging every comparison (live too) does
  memory    in a fresh process: the peak of Python/numpy allocations (tracemalloc) during compare_dumps,
            against the largest tensor pair the run holds; target: bounded by that pair, not the run.
            The peak resident size is shown too; it also counts the dump files' pages mapped from the
            page cache, which the OS can drop at will.

    python bench/dump.py                              # 1 GB of disk writes, depth 8, width 2048, batch 512
    python bench/dump.py --size-mb 256 --depth 4 --json dump.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

from procstat import reset_peak_rss, status_kib

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
MB = 2**20


def disk_rate(folder: Path, size_mb: int) -> float:
    """Bytes per second of dd writing `size_mb` with conv=fsync (the best of two runs)."""
    target = folder / "dd.bin"
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={target}", "bs=16M", f"count={max(1, size_mb // 16)}", "conv=fsync"],
            check=True,
            capture_output=True,
        )
        rates.append(max(1, size_mb // 16) * 16 * MB / (time.perf_counter() - start))
        target.unlink()
    return max(rates)


def writer_rate(folder: Path, size_mb: int) -> float:
    """Bytes per second of TensorWriter writing `size_mb` of 4 MB tensors (the best of two runs)."""
    import numpy as np

    from padiff.dump.tensorfile import TensorWriter

    block = np.random.default_rng(0).standard_normal(MB).astype(np.float32)  # 4 MB
    rates = []
    for _ in range(2):
        path = folder / "writer.safetensors"
        start = time.perf_counter()
        writer = TensorWriter(path, 64 * 1024)
        for index in range(max(1, size_mb // 4)):
            writer.add(f"t/{index}", block)
        writer.close()
        rates.append(writer.bytes / (time.perf_counter() - start))
        path.unlink()
    return max(rates)


def _models(depth: int, width: int):
    import paddle
    import torch

    torch.manual_seed(0)
    # Tanh, not ReLU: a deep ReLU stack's gradients hit its kink, a rounding failure only confirmation
    # (which needs the models) explains, and a failing compare also reads the initial weights again
    base = torch.nn.Sequential(
        *[m for _ in range(depth) for m in (torch.nn.Linear(width, width), torch.nn.Tanh())]
    )
    raw = paddle.nn.Sequential(
        *[m for _ in range(depth) for m in (paddle.nn.Linear(width, width), paddle.nn.Tanh())]
    )
    return base, raw


def judge_rate() -> float:
    """Bytes per second (one side) of `compare_arrays` alone on 16 MB float32 pairs: the judging every
    comparison, live or offline, does per pair."""
    import numpy as np

    from padiff.judge.metrics import compare_arrays

    base = np.random.default_rng(0).standard_normal(4 * MB).astype(np.float32)
    raw = base + np.float32(1e-6)
    compare_arrays(base, raw)
    start = time.perf_counter()
    for _ in range(5):
        compare_arrays(base, raw)
    return 5 * base.nbytes / (time.perf_counter() - start)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def dump_and_compare(folder: Path, depth: int, width: int, batch: int) -> dict:
    import numpy as np

    import padiff
    from padiff.capture.run import capture_run
    from padiff.frameworks.base import adapter_for
    from padiff.judge.base_trace import BaseTrace
    from padiff.match.policy import LayerPolicy

    base, raw = _models(depth, width)
    x = np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32)
    padiff.dump(base, x, folder / "warmup")  # first-call costs (imports, allocator) out of the timing
    shutil.rmtree(folder / "warmup")
    adapter = adapter_for(base)
    start = time.perf_counter()
    trace = BaseTrace(adapter, memory_budget=1 << 62)
    capture_run(
        adapter, base, (adapter.from_numpy(x, requires_grad=True),), {}, trace, LayerPolicy(), None, "base"
    )
    capture = time.perf_counter() - start
    trace.close()
    for p in base.parameters():
        p.grad = None
    start = time.perf_counter()
    base_dir = padiff.dump(base, x, folder / "base")
    dumped = time.perf_counter() - start
    padiff.load_weights(raw, base_dir)
    raw_dir = padiff.dump(raw, x, folder / "raw")
    report = padiff.compare_dumps(base_dir, raw_dir)  # warms the page cache
    times = []
    for _ in range(3):
        start = time.perf_counter()
        report = padiff.compare_dumps(base_dir, raw_dir)
        times.append(time.perf_counter() - start)
    from padiff.dump.reader import open_dump

    raw_bytes = open_dump(raw_dir).tensor_bytes()
    return {
        "dump_bytes": _folder_bytes(base_dir),
        "dump_seconds": dumped,
        "capture_in_memory_seconds": capture,
        "dump_rate": _folder_bytes(base_dir) / dumped,
        "compare_seconds": min(times),
        "compare_raw_tensor_bytes": raw_bytes,
        "compare_rate": raw_bytes / min(times),
        "compare_passed": report.passed,
        "pairs": len(report.diffs),
    }


def memory_worker(base_dir: str, raw_dir: str) -> dict:
    """In this fresh process: peak allocations during one compare_dumps (after one to warm up)."""
    import numpy as np

    import padiff
    from padiff.dump.reader import open_dump

    padiff.compare_dumps(base_dir, raw_dir)
    largest = max(
        int(np.prod(entry["shape"])) * 4
        for name, entry in open_dump(raw_dir).step_files[0].entries.items()
        if not name.startswith("pad/")
    )
    rss_before = status_kib("VmRSS")
    reset_peak_rss()  # the peak-RSS mark back to the current RSS
    tracemalloc.start()
    padiff.compare_dumps(base_dir, raw_dir)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "peak_allocated": peak,
        "largest_tensor": largest,
        "peak_rss_increase": (status_kib("VmHWM") - rss_before) * 1024,
        "raw_tensor_bytes": open_dump(raw_dir).tensor_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None, help="where to write (default: a temporary folder)")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--json", default=None)
    parser.add_argument("--memory-worker", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.memory_worker:
        print(json.dumps(memory_worker(*args.memory_worker)))
        return
    root = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="padiff-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        figures = {"disk_rate": disk_rate(root, args.size_mb), "writer_rate": writer_rate(root, args.size_mb)}
        figures.update(dump_and_compare(root, args.depth, args.width, args.batch))
        figures["judge_rate"] = judge_rate()
        worker = [sys.executable, __file__, "--memory-worker", str(root / "base"), str(root / "raw")]
        done = subprocess.run(worker, capture_output=True, text=True, check=True)
        figures.update(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if not args.folder:
            shutil.rmtree(root, ignore_errors=True)
    _print(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


def _print(f: dict) -> None:
    def rate(value: float) -> str:
        return f"{value / 1e6:.0f} MB/s"

    print(f"disk (dd conv=fsync)          {rate(f['disk_rate'])}")
    print(
        f"dump writer                   {rate(f['writer_rate'])}  = {f['writer_rate'] / f['disk_rate']:.0%} of the disk (target >= 80%)"
    )
    print(
        f"padiff.dump end to end        {rate(f['dump_rate'])}  ({f['dump_bytes'] / MB:.0f} MB in {f['dump_seconds']:.2f} s; "
        f"the same run captured in memory: {f['capture_in_memory_seconds']:.2f} s)"
    )
    extra = f["dump_seconds"] - f["capture_in_memory_seconds"]
    if extra > 0:
        print(
            f"  the files cost {extra:.2f} s over the in-memory capture: {rate(f['dump_bytes'] / extra)} of dump written"
        )
    print(
        f"compare_dumps (warm cache)    {f['compare_rate'] / 1e9:.2f} GB/s of raw's tensor data "
        f"({f['compare_raw_tensor_bytes'] / MB:.0f} MB in {f['compare_seconds']:.2f} s, {f['pairs']} pairs; target >= 1 GB/s)"
    )
    print(
        f"  for reference: compare_arrays alone judges {f['judge_rate'] / 1e9:.2f} GB/s (one side) on this machine"
    )
    print(
        f"memory while comparing        peak allocations {f['peak_allocated'] / MB:.0f} MB = "
        f"{f['peak_allocated'] / f['largest_tensor']:.1f} x the largest tensor ({f['largest_tensor'] / MB:.0f} MB); "
        f"the run holds {f['raw_tensor_bytes'] / MB:.0f} MB per side; peak RSS +{f['peak_rss_increase'] / MB:.0f} MB "
        "(mapped file pages included)"
    )


if __name__ == "__main__":
    main()
