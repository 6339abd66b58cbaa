"""Every test under tests/real is an end-to-end run on third-party models: marked `real`, run only by
`make test-models` (its own venv). Each module skips itself when its libraries are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.real)
