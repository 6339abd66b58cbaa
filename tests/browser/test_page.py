"""The HTML report opened in a real headless Chromium (make test-browser): the verdict and the culprit read
on top, one drawn chart mark per compared pair with the culprit's at the planted layer, phases and
statuses drawn apart, the filter hides the passing rows, the trees fold, a mark leads to its row; nothing
is fetched and the console stays silent. The clean twin's page is the control: no culprit anywhere, and
the filter leaves no row. Pages and screenshots stay in build/browser/ (conftest.py)."""

from __future__ import annotations

import pytest

import padiff
from padiff.cli import main as cli_main
from tests.dumps import dump_pair
from tests.gen import build as build_spec
from tests.gen import make_input
from tests.models import build, example_input
from tests.test_generated import SIGMOID_BN_SPEC

pytestmark = pytest.mark.browser


def _quiet(opened) -> None:
    """Nothing said on the console, no error, nothing fetched but the page itself."""
    assert opened.console == [] and opened.errors == []
    assert opened.requests == [opened.url]


def _visible_rows(page) -> list[str]:
    rows = page.locator("table.pairs tbody tr")
    return [rows.nth(i).get_attribute("class") for i in range(rows.count()) if rows.nth(i).is_visible()]


def _show(page, which: str) -> None:
    page.click(f"label[for=rows-{which}]")


def test_the_planted_page(open_page, planted):
    opened = open_page("cnn_bn_eps", planted.to_html())
    page, c = opened.page, planted.first_diff
    assert "padiff: FAILED at block.bn1" in page.inner_text("h1")
    top = page.inner_text("#culprit")
    for said in (
        "block.bn1",
        "BatchNorm2d",
        "BatchNorm2D",
        c.base_site,
        "epsilon 1e-05 vs 0.1",
        "worst element",
    ):
        assert said in top
    marks = page.locator("#chart .mark")
    assert marks.count() == len(planted.diffs)
    chart = page.locator("#chart").bounding_box()
    for i in range(marks.count()):  # drawn inside the chart, not only present
        box = marks.nth(i).bounding_box()
        assert box and chart["x"] <= box["x"] <= chart["x"] + chart["width"], i
    culprit = page.locator("#chart .mark.culprit")
    assert culprit.count() == 1
    index = int(culprit.get_attribute("data-pair"))
    assert planted.diffs[index].key == c.evidence.key and planted.diffs[index].raw_path == "block.bn1"
    assert page.text_content("#chart .culprit-label") == "culprit: block.bn1"  # SVG text
    assert page.locator("#tree-base .culprit-layer").get_attribute("data-path") == "block.bn1"
    assert page.locator("#tree-raw .culprit-layer").get_attribute("data-path") == "block.bn1"
    opened.screenshot("cnn_bn_eps")

    failing = sum(not d.passed for d in planted.diffs)
    assert len(_visible_rows(page)) == len(planted.diffs)
    _show(page, "failing")
    assert sorted(_visible_rows(page)) == sorted(["culprit"] + ["diff"] * (failing - 1))
    _show(page, "all")
    assert len(_visible_rows(page)) == len(planted.diffs)

    culprit.click()  # a mark leads to its row
    assert page.evaluate("location.hash") == f"#pair-{index}"
    bn1 = page.locator("#tree-base [data-path='block.bn1']")
    assert bn1.is_visible()
    page.click("#tree-base details[data-path='block'] > summary")  # fold the block
    assert not bn1.is_visible()
    page.click("#tree-base details[data-path='block'] > summary")
    assert bn1.is_visible()
    _quiet(opened)


def test_the_clean_page_marks_no_culprit(open_page, clean):
    opened = open_page("cnn_clean", clean.to_html())
    page = opened.page
    assert "padiff: PASSED" in page.inner_text("h1") and page.locator("#culprit").count() == 0
    assert page.locator("#chart .mark").count() == len(clean.diffs)
    assert page.locator(".culprit, .culprit-layer, .culprit-ring, .culprit-label").count() == 0
    _show(page, "failing")
    assert _visible_rows(page) == []
    opened.screenshot("cnn_clean")
    _quiet(opened)


def _style(page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")


def test_phases_and_statuses_are_drawn_apart(open_page, planted):
    spec = SIGMOID_BN_SPEC
    report = padiff.compare(build_spec(spec, "torch"), build_spec(spec, "paddle", seed=1), make_input(spec))
    excused = [i for i, d in enumerate(report.diffs) if d.judged is not None and d.judged.excused]
    assert report.passed and excused
    opened = open_page("sigmoid_bn_excused", report.to_html())
    page = opened.page
    hollow = page.locator("#chart .mark.excused")
    assert [int(hollow.nth(i).get_attribute("data-pair")) for i in range(hollow.count())] == excused
    assert _style(page, "#chart .mark.excused", "fill") == "rgb(255, 255, 255)"
    fills = {
        p: _style(page, f"#chart .mark.ok.{p}", "fill") for p in ("forward", "backward", "grad", "buffer")
    }
    assert len(set(fills.values())) == 4, fills  # one colour per phase (and one shape: the href)
    _show(page, "failing")
    assert _visible_rows(page) == []  # an excused pair passes
    _show(page, "judged")
    assert _visible_rows(page) == ["excused"] * len(excused)
    opened.screenshot("sigmoid_bn_excused")
    _quiet(opened)
    # control: on the planted page a difference is outlined in red and none is hollow
    other = open_page("cnn_bn_eps_styles", planted.to_html()).page
    assert _style(other, "#chart .mark.diff", "stroke") == "rgb(204, 0, 0)"
    assert other.locator("#chart .mark.excused").count() == 0


def test_a_comparison_of_two_dumps(open_page, tmp_path):
    x = example_input("mlp")
    base, _ = dump_pair(build("mlp", "torch"), build("mlp", "paddle", seed=1), x, tmp_path / "clean")
    raw = build("mlp", "paddle", plant="activation", seed=1)
    padiff.load_weights(raw, base)
    planted_dir = padiff.dump(raw, x, tmp_path / "planted")
    html = tmp_path / "report.html"
    assert cli_main(["compare", str(base), str(planted_dir), "--html", str(html), "--no-progress"]) == 1
    report = padiff.compare_dumps(base, planted_dir)
    opened = open_page("dump_mlp_activation", html.read_text())
    page = opened.page
    assert "padiff: FAILED at act1" in page.inner_text("h1") and "Tanh" in page.inner_text("#culprit")
    assert page.locator("#chart .mark").count() == len(report.diffs)
    index = int(page.locator("#chart .mark.culprit").get_attribute("data-pair"))
    assert report.diffs[index].raw_path == "act1"
    _show(page, "failing")
    assert len(_visible_rows(page)) == sum(not d.passed for d in report.diffs)
    opened.screenshot("dump_mlp_activation")
    _quiet(opened)
