"""Chromium for the page tests: Debian's `chromium` driven by playwright through its executable_path
(`make test-browser` installs both). Where either is missing every test here is skipped, so `make test`
(which deselects the `browser` marker anyway) runs cleanly without a browser.

Each page a test opens is written to the artifacts folder ($PADIFF_BROWSER_ARTIFACTS, default
build/browser/) with its screenshot, and kept there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PADIFF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(
    os.environ.get("PADIFF_BROWSER_ARTIFACTS") or Path(__file__).parents[2] / "build" / "browser"
)


@dataclass
class Opened:
    """A page open in Chromium, with everything it said and asked for while loading and being used."""

    page: Any
    url: str
    console: list[str] = field(default_factory=list)  # "type: text"
    errors: list[str] = field(default_factory=list)  # uncaught page errors
    requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (make test-browser)"
    )
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (make test-browser installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to sandbox as root, which containers and CI runners often are
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser):
    """open_page(name, html) writes the page to the artifacts folder and opens it from there."""
    contexts = []

    def open_(name: str, html: str) -> Opened:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(5000)  # a local page: anything slower is a failure
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page, path.resolve().as_uri())
        page.on("console", lambda message: opened.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.on("request", lambda request: opened.requests.append(request.url))
        page.goto(opened.url)
        return opened

    yield open_
    for context in contexts:
        context.close()
