"""The HTML page (padiff/report/html.py), read as markup: one self-contained file with the verdict and the
culprit on top, one chart mark per compared pair, both trees folding with each layer's worst error, the
table of pairs with its filter; the same page from a live comparison, from its saved JSON and from a
comparison of two dumps. tests/browser/ opens the page in a real Chromium (make test-browser).

Every check on a planted twin has its control on the clean twin: the culprit is marked exactly at the
planted layer there, and nowhere on the clean page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import padiff
from padiff.cli import main as cli_main
from tests.dumps import dump_pair
from tests.gen import build as build_spec
from tests.gen import make_input
from tests.models import build, example_input
from tests.test_generated import SIGMOID_BN_SPEC

VOID = {"meta", "input", "br", "img", "link", "hr", "wbr"}


class Page(HTMLParser):
    """Every element of a page with its attributes and text; fails on a tag closed out of order."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(text)
        self.close()
        assert not self._open, f"unclosed: {[e['tag'] for e in self._open]}"

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "text": "", **{k: (v or "") for k, v in attrs}}
        element["within"] = [e["id"] for e in self._open if "id" in e]
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):  # <path .../> in the SVG
        self.elements.append({"tag": tag, "text": "", **{k: (v or "") for k, v in attrs}})

    def handle_endtag(self, tag):
        assert self._open and self._open[-1]["tag"] == tag, f"</{tag}> closes {self._open[-1:]}"
        self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def having(self, css: str, tag: str | None = None) -> list[dict]:
        """Elements whose class list holds `css` (and of `tag`)."""
        return [
            e for e in self.elements if css in e.get("class", "").split() and (tag is None or e["tag"] == tag)
        ]

    def by_id(self, name: str) -> dict:
        (found,) = [e for e in self.elements if e.get("id") == name]
        return found


def _culprit_index(page: Page) -> list[int]:
    return [int(e["data-pair"]) for e in page.having("mark") if "culprit" in e["class"].split()]


def test_the_culprit_is_marked_at_the_planted_layer_and_nowhere_on_the_clean_page(planted, clean):
    page = Page(planted.to_html())
    c = planted.first_diff
    assert (c.base_path, c.base_type, c.raw_type) == ("block.bn1", "BatchNorm2d", "BatchNorm2D")
    (index,) = _culprit_index(page)
    assert planted.diffs[index].key == c.evidence.key and planted.diffs[index].raw_path == "block.bn1"
    assert [e["data-path"] for e in page.having("culprit-layer")] == ["block.bn1", "block.bn1"]  # both trees
    assert [e["id"] for e in page.having("culprit", "tr")] == [f"pair-{index}"]
    assert "culprit: block.bn1" in page.having("culprit-label")[0]["text"]
    # control: the clean twin's page marks no culprit anywhere
    quiet = Page(clean.to_html())
    assert clean.passed and not _culprit_index(quiet)
    assert not quiet.having("culprit-layer") and not quiet.having("culprit", "tr")
    assert not quiet.having("culprit-label") and not quiet.having("culprit-ring")


def test_the_top_says_the_verdict_and_where(planted, clean):
    text = planted.to_html()
    top = Page(text).by_id("culprit")["text"]
    c = planted.first_diff
    assert "padiff: FAILED at block.bn1" in Page(text).elements[0]["text"]  # <html>: the header is first
    for said in ("block.bn1", "BatchNorm2d", "BatchNorm2D", c.base_site, c.raw_site, c.base_defined):
        assert said in top
    assert "epsilon 1e-05 vs 0.1" in top  # the settings the two layers differ in
    assert f"base {c.metrics.worst_base:.6g}  raw {c.metrics.worst_raw:.6g}" in top  # the worst element
    assert "float64 judge" in top and "single step" in top
    quiet = Page(clean.to_html())
    assert "padiff: PASSED" in quiet.elements[0]["text"] and not [
        e for e in quiet.elements if e.get("id") == "culprit"
    ]


def test_one_mark_per_pair_drawn_by_its_status(planted, clean):
    for report in (planted, clean):
        page = Page(report.to_html())
        marks = page.having("mark")
        assert [int(m["data-pair"]) for m in marks] == list(range(len(report.diffs)))
        assert [m["href"] for m in marks] == [f"#shape-{d.phase.value}" for d in report.diffs]
        failing = [i for i, d in enumerate(report.diffs) if not d.passed]
        assert [int(m["data-pair"]) for m in marks if "diff" in m["class"].split()] == failing
        assert len(page.having("diff", "tr")) + len(page.having("culprit", "tr")) == len(failing)
        assert len(page.having("ok", "tr")) == len(report.diffs) - len(failing)
    assert planted.diffs and sum(not d.passed for d in planted.diffs) == 3


def _tolerance_y(page: Page) -> float:
    (line,) = page.having("tolerance", "line")
    return float(line["y1"])


def test_heights_follow_the_tolerance(planted, clean):
    """In SVG y grows downwards: a pair within tolerance is drawn at or below the line, the culprit above."""
    for report in (planted, clean):
        page = Page(report.to_html())
        line = _tolerance_y(page)
        for mark, d in zip(page.having("mark"), report.diffs):
            if d.passed:
                assert float(mark["y"]) >= line - 0.1, (mark, d.raw_path)
    page = Page(planted.to_html())
    (index,) = _culprit_index(page)
    assert float(page.having("mark")[index]["y"]) < _tolerance_y(page) - 20


def test_pairs_the_float64_judge_excused_are_drawn_apart(planted):
    spec = SIGMOID_BN_SPEC
    report = padiff.compare(build_spec(spec, "torch"), build_spec(spec, "paddle", seed=1), make_input(spec))
    excused = [i for i, d in enumerate(report.diffs) if d.judged is not None and d.judged.excused]
    assert report.passed and excused
    page = Page(report.to_html())
    hollow = [int(m["data-pair"]) for m in page.having("mark") if "excused" in m["class"].split()]
    assert hollow == excused
    assert all(float(page.having("mark")[i]["y"]) < _tolerance_y(page) for i in excused)  # above the line
    assert [e["id"] for e in page.having("excused", "tr")] == [f"pair-{i}" for i in excused]
    # control: the planted twin's differences are no rounding, and none is drawn hollow
    assert not [m for m in Page(planted.to_html()).having("mark") if "excused" in m["class"].split()]


def test_trees_fold_and_show_each_layers_worst_error(planted):
    page = Page(planted.to_html())
    for side in ("tree-base", "tree-raw"):
        layers = {e["data-path"]: e for e in page.having("layer") if side in e["within"]}
        assert set(layers) == {line.path for line in planted.base_tree}
        bn1, conv1, stem, block = layers["block.bn1"], layers["block.conv1"], layers["stem"], layers["block"]
        assert bn1["data-status"] == "diff" and float(bn1["data-worst"]) > 100
        assert conv1["data-status"] == "ok" and float(conv1["data-worst"]) < 1  # control: its neighbour
        assert "data-worst" not in stem  # a container: no pair of its own
        assert block["tag"] == "details" and "holds-diff" in block["class"]
        assert "holds-diff" not in stem["class"]  # control: nothing under stem differs
        assert conv1["tag"] == "div"  # a leaf layer does not fold


def test_large_trees_open_only_where_something_differs():
    size = {"depth": 6}
    report = padiff.compare(
        build("transformer", "torch", **size),
        build("transformer", "paddle", plant="softmax_axis", seed=1, **size),
        example_input("transformer", **size),
    )
    page = Page(report.to_html())
    folding = [e for e in page.having("layer", "details") if "tree-base" in e["within"]]
    opened = {e["data-path"] for e in folding if "open" in e}
    assert len(report.base_tree) > 80 and report.first_diff.base_path == "blocks.0.attn"
    assert opened == {"", "blocks", "blocks.0", "blocks.0.attn"}, opened
    assert {e["data-path"] for e in folding} > opened  # the other blocks are folded


def test_a_saved_report_and_a_dump_comparison_render_alike(planted, tmp_path):
    again = padiff.Report.from_json(planted.to_json())
    assert again.to_html() == planted.to_html()
    saved = planted.save(tmp_path / "diff_log")
    assert cli_main(["html", str(saved), str(tmp_path / "page.html")]) == 0
    assert (tmp_path / "page.html").read_text() == planted.to_html()
    x = example_input("mlp")
    base, _ = dump_pair(build("mlp", "torch"), build("mlp", "paddle", seed=1), x, tmp_path / "clean")
    raw = build("mlp", "paddle", plant="activation", seed=1)
    padiff.load_weights(raw, base)
    planted_dir = padiff.dump(raw, x, tmp_path / "planted")
    assert cli_main(["compare", str(base), str(planted_dir), "--html", str(tmp_path / "dumps.html")]) == 1
    offline = padiff.compare_dumps(base, planted_dir)
    page = Page((tmp_path / "dumps.html").read_text())
    assert len(page.having("mark")) == len(offline.diffs) and offline.diffs
    (index,) = _culprit_index(page)
    assert offline.diffs[index].raw_path == "act1" == offline.first_diff.raw_path


def test_the_page_is_self_contained(planted):
    text = planted.to_html()
    page = Page(text)
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\(|@import|https?:", text)
    policy = [e for e in page.elements if e.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in policy[0]["content"]
    ids = {e["id"] for e in page.elements if "id" in e}
    links = [e["href"] for e in page.elements if "href" in e]
    assert links and all(link.startswith("#") and link[1:] in ids for link in links)  # every link inside


def test_the_browser_tests_skip_cleanly_without_a_browser(tmp_path):
    """`make test` deselects the `browser` marker; run anyway with no Chromium, every browser test skips
    and the run passes. Control: every test there carries the marker `make test` leaves out."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.browser import test_page

    assert test_page.pytestmark.name == "browser"
    root = Path(__file__).parents[1]
    env = {
        **os.environ,
        "PADIFF_CHROMIUM": str(tmp_path / "no-chromium"),
        "PADIFF_BROWSER_ARTIFACTS": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/browser"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    tests = [name for name in dir(test_page) if name.startswith("test_")]
    assert (
        f"{len(tests)} skipped" in run.stdout
        # a fresh environment lacks playwright too (make test-browser installs it): either skip is clean
        and ("no Chromium at" in run.stdout or "playwright is not installed" in run.stdout)
        and "passed" not in run.stdout
    )
