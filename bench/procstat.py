"""The memory probes every benchmark reads (Linux): a `Vm*` line of /proc/self/status, and the peak-RSS
mark set back to the current RSS so that the next VmHWM reading is the peak of what follows; and the
medians of timed runs. Scripts in bench/ import it as `procstat` (their own folder is first on
sys.path)."""

from __future__ import annotations

import statistics

__all__ = ["status_kib", "reset_peak_rss", "medians"]


def status_kib(field: str) -> int:
    """A `Vm*` line of /proc/self/status (VmRSS, VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def reset_peak_rss() -> None:
    """Set VmHWM (peak RSS) back to the current RSS."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def medians(runs: list[dict]) -> dict:
    """The median wall and CPU seconds of timed runs (each a dict with "seconds" and "cpu_seconds"), and
    the runs themselves."""
    return {
        "seconds": statistics.median(run["seconds"] for run in runs),
        "cpu_seconds": statistics.median(run["cpu_seconds"] for run in runs),
        "runs": runs,
    }
