"""The core imports and fails politely in a Python where neither torch nor paddle can be imported."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

import padiff

# Installed before anything else runs in the child: any import of torch or paddle (or a submodule) fails.
META_PATH_BLOCKER = """
import sys

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "paddle"):
            raise ImportError(f"blocked by test: {name}")
        return None

sys.meta_path.insert(0, _Blocker())
"""

# The other common way to make a module unimportable.
NONE_BLOCKER = """
import sys
sys.modules["torch"] = None
sys.modules["paddle"] = None
"""

USE_PADIFF = """
import json, sys
import padiff
result = {"layermap": type(padiff.LayerMap()).__name__, "compare": callable(padiff.compare)}
try:
    padiff.compare(object(), object(), None)
except Exception as error:
    result["error"] = type(error).__name__
    result["is_padiff_error"] = isinstance(error, padiff.PadiffError)
result["frameworks"] = sorted(
    m for m, mod in sys.modules.items() if m.split(".")[0] in ("torch", "paddle") and mod is not None
)
print(json.dumps(result))
"""

TRY_FRAMEWORK = """
import json
outcome = {}
for name in ("torch", "paddle"):
    try:
        __import__(name)
        outcome[name] = "imported"
    except ImportError as error:
        outcome[name] = type(error).__name__
print(json.dumps(outcome))
"""


def _run(*parts: str) -> dict:
    code = "\n".join(textwrap.dedent(p) for p in parts)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_core_works_without_torch_or_paddle():
    result = _run(META_PATH_BLOCKER, USE_PADIFF)
    assert result["layermap"] == "LayerMap"
    assert result["compare"] is True
    assert result["error"] == "InputError" and result["is_padiff_error"] is True
    assert result["frameworks"] == []


def test_blocker_really_blocks():
    """Negative control: in the same child, importing a framework fails."""
    assert _run(META_PATH_BLOCKER, TRY_FRAMEWORK) == {"torch": "ImportError", "paddle": "ImportError"}


def test_frameworks_are_installed_here():
    """Control of the control: the blocker, not a missing install, is what stops the import."""
    assert importlib.util.find_spec("torch") is not None
    assert importlib.util.find_spec("paddle") is not None


def test_importing_padiff_does_not_import_a_framework():
    """No blocker: padiff itself never imports torch or paddle; the user does."""
    code = "import sys, json, padiff; print(json.dumps(sorted(m for m in ('torch', 'paddle') if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_none_blocker_blocks():
    assert _run(NONE_BLOCKER, TRY_FRAMEWORK) == {
        "torch": "ModuleNotFoundError",
        "paddle": "ModuleNotFoundError",
    }


def test_core_works_when_frameworks_are_marked_missing_in_sys_modules():
    result = _run(NONE_BLOCKER, USE_PADIFF)
    assert result["error"] == "InputError" and result["is_padiff_error"] is True


def test_non_models_raise_input_error_not_attribute_error():
    """In this process both frameworks are loaded: still a PadiffError that names what was passed."""
    with pytest.raises(padiff.InputError) as caught:
        padiff.compare(object(), object(), None)
    assert isinstance(caught.value, padiff.PadiffError)
    assert "object" in str(caught.value) and "hint:" in str(caught.value)


def test_one_real_model_and_one_non_model_raises_input_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(padiff.InputError, match="raw"):
        padiff.compare(torch.nn.Linear(2, 2), object(), None)
