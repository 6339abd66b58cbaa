"""The memory probes every benchmark reads (Linux): a `Vm*` line of /proc/self/status, and the peak-RSS
mark set back to the current RSS so that the next VmHWM reading is the peak of what follows. Scripts in
bench/ import it as `procstat` (their own folder is first on sys.path)."""

from __future__ import annotations

__all__ = ["status_kib", "reset_peak_rss"]


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
