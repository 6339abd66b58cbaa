"""The framework-free unit tests (tests/unit: call tree, alignment, localization, tolerances) pass in a
Python where neither torch nor paddle can be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCKED_PYTEST = """
import sys

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "paddle"):
            raise ImportError("blocked by test: " + name)
        return None

sys.meta_path.insert(0, _Blocker())
import pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", TARGET])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "paddle"))
print("FRAMEWORKS", loaded)
sys.exit(int(code))
"""


def _run(target: str) -> subprocess.CompletedProcess:
    code = f"TARGET = {target!r}\n" + textwrap.dedent(BLOCKED_PYTEST)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_unit_tests_pass_without_torch_or_paddle():
    done = _run("tests/unit")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "FRAMEWORKS []" in done.stdout


def test_the_blocker_stops_a_test_that_needs_a_framework():
    """Negative control: a test module that imports torch fails to collect under the same blocker."""
    done = _run("tests/test_boundary.py")
    assert done.returncode != 0 and "ImportError: blocked by test:" in done.stdout
