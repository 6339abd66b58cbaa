"""The command line on dumps: `padiff compare`, `show`, `html`, their exit codes, outputs and golden text.

`compare` exits 0 when the dumps agree and 1 when they differ, and writes the JSON / HTML / diff_log it
was asked for; `show` describes a dump (exit 0) or a saved report (its verdict); `html` exits 0 once it
wrote the page. The terminal report, the JSON report and `show DUMP` are pinned in tests/golden/
(regenerate with --update-golden). The progress bar is tqdm's, shown on a terminal after a delay.
"""

from __future__ import annotations

import io
import json
import re
import time

import pytest

import padiff
from padiff.cli import main as cli_main
from padiff.dump.compare import Progress
from tests.checks import assert_compared
from tests.dumps import dump_pair
from tests.models import build, example_input
from tests.test_golden import _check, _mask


@pytest.fixture
def update(request):
    return request.config.getoption("--update-golden")


@pytest.fixture
def dumps(tmp_path):
    """(base, clean raw, planted raw) dump folders of the mlp twin, torch -> paddle."""
    x = example_input("mlp")
    base, clean = dump_pair(build("mlp", "torch"), build("mlp", "paddle", seed=1), x, tmp_path / "clean")
    raw = build("mlp", "paddle", plant="activation", seed=1)
    padiff.load_weights(raw, base)
    return base, clean, padiff.dump(raw, x, tmp_path / "planted")


def _mask_dump(text: str) -> str:
    text = re.sub(r"padiff dump \S+", "padiff dump DIR", text)
    text = re.sub(r"at \d{4}-\d\d-\d\dT[\d:+-]+\)", "at TIME)", text)
    text = re.sub(r"environment: .*", "environment: (masked)", text)
    return re.sub(r"\d+(\.\d+)? (B|KB|MB|GB)", "N B", text)


def test_compare_exits_with_the_verdict_and_writes_what_was_asked(dumps, tmp_path, capsys, update):
    base, clean, planted = dumps
    assert cli_main(["compare", str(base), str(clean), "--no-progress"]) == 0
    assert "padiff: PASSED" in capsys.readouterr().out
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main([
        "compare", str(base), str(planted), "--json", str(out / "r.json"), "--html", str(out / "r.html"),
        "--save", str(out / "diff_log"), "--table",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    assert "act1: ReLU    <--- HERE" in printed and "phase" in printed  # the trees and the table
    report = padiff.Report.from_json((out / "r.json").read_text())
    assert (report.first_diff.base_path, report.first_diff.kind.value) == ("act1", "layer")
    assert 'class="culprit"' in (out / "r.html").read_text()
    assert (out / "diff_log" / "report.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["diff_log", "r.html", "r.json"]  # no temporary left
    _check("dump_mlp_activation.txt", _mask(printed.split("phase ")[0].rstrip()) + "\n", update)
    data = json.loads((out / "r.json").read_text())
    data["diffs"] = data["diffs"][:2]  # every record has the same fields: two pin the schema
    data["base_tree"], data["raw_tree"] = data["base_tree"][:2], data["raw_tree"][:2]
    _check("dump_mlp_activation.json", _mask(json.dumps(data, indent=1, sort_keys=True)) + "\n", update)


def test_show_describes_a_dump_and_reads_a_saved_report(dumps, tmp_path, capsys, update):
    base, clean, planted = dumps
    assert cli_main(["show", str(base)]) == 0
    text = capsys.readouterr().out
    assert "1 step," in text and "fc1: Linear" in text and "step 0:" in text
    _check("dump_show_mlp.txt", _mask_dump(text), update)
    saved = padiff.compare_dumps(base, planted).save(tmp_path / "saved")
    assert cli_main(["show", str(saved)]) == 1
    passing = padiff.compare_dumps(base, clean)
    assert_compared(passing, build("mlp", "torch"))
    assert cli_main(["show", str(passing.save(tmp_path / "passing"))]) == 0


def test_html_exits_0_once_the_page_is_written(dumps, tmp_path, capsys):
    base, _, planted = dumps
    saved = padiff.compare_dumps(base, planted).save(tmp_path / "saved")
    assert cli_main(["html", str(saved), str(tmp_path / "page.html")]) == 0
    assert "act1" in (tmp_path / "page.html").read_text()
    # negative controls: nothing to read, and nowhere to write
    assert cli_main(["html", str(tmp_path / "nowhere"), str(tmp_path / "p2.html")]) == 2
    assert cli_main(["html", str(saved), str(tmp_path / "no" / "dir" / "p.html")]) == 2
    assert not (tmp_path / "p2.html").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_shows_on_a_terminal_after_its_delay(terminal):
    stream = _Terminal() if terminal else io.StringIO()
    with Progress(True, 1000, file=stream, delay=0.05) as advance:
        for _ in range(4):
            time.sleep(0.05)
            advance(250)
    assert ("padiff compare" in stream.getvalue()) is terminal
    quiet = _Terminal()
    with Progress(True, 1000, file=quiet, delay=30) as advance:  # a compare shorter than the delay
        advance(1000)
    assert quiet.getvalue() == ""
