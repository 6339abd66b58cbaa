"""What people read, pinned: terminal and folder reports compared against tests/golden/.

Regenerate after an intended change with `pytest tests/test_golden.py --update-golden` and review the
diff. Absolute paths and numbers are masked so the files hold wording, structure and layer names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import padiff
from padiff.cli import main as cli_main
from tests.checks import assert_compared
from tests.models import build, example_input

GOLDEN = Path(__file__).parent / "golden"


def _mask(text: str) -> str:
    text = re.sub(r"(/[^\s:'\"]+/)([^/\s:'\"]+\.py):(\d+)", lambda m: f"{m.group(2)}:N", text)
    text = re.sub(r"(?<![\w.])-?\d+\.\d+(e[-+]?\d+)?%?|(?<![\w.])\d+e[-+]?\d+|(?<![\w.\[])\bnan\b", "#", text)
    return text


def _check(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"missing golden file {path}: run pytest {__file__} --update-golden"
    assert text == path.read_text(), f"{name} changed; if intended, rerun with --update-golden and review"


@pytest.fixture
def update(request):
    return request.config.getoption("--update-golden")


def _planted_report():
    return padiff.compare(
        build("cnn", "torch"), build("cnn", "paddle", plant="bn_eps", seed=1), example_input("cnn")
    )


def test_terminal_report_of_a_planted_bug(update):
    _check("cnn_bn_eps.txt", _mask(str(_planted_report())) + "\n", update)


def test_terminal_report_of_a_clean_twin(update):
    base = build("mlp", "torch")
    report = padiff.compare(base, build("mlp", "paddle", seed=1), example_input("mlp"))
    assert_compared(report, base)
    _check("mlp_clean.txt", _mask(str(report)) + "\n", update)


def test_terminal_report_of_a_deep_model_shows_the_trees_around_the_culprit(update):
    size = {"depth": 3}
    report = padiff.compare(
        build("transformer", "torch", **size),
        build("transformer", "paddle", plant="softmax_axis", seed=1, **size),
        example_input("transformer", **size),
    )
    _check("transformer_softmax_axis.txt", _mask(str(report)) + "\n", update)


def test_saved_folder_and_json_keys(update, tmp_path):
    report = _planted_report()
    folder = report.save(tmp_path / "diff_log")
    names = sorted(p.name for p in folder.iterdir())
    data = json.loads((folder / "report.json").read_text())
    shape = {"files": names, "keys": sorted(data), "first_diff": sorted(data["first_diff"])}
    _check("cnn_bn_eps_folder.json", json.dumps(shape, indent=1) + "\n", update)
    _check("cnn_bn_eps_layers.txt", _mask((folder / "layers.txt").read_text()), update)


def test_cli_prints_a_saved_report_and_exits_with_its_verdict(tmp_path, capsys):
    failing = _planted_report().save(tmp_path / "failing")
    assert cli_main(["show", str(failing)]) == 1
    assert "<--- HERE" in capsys.readouterr().out
    base = build("mlp", "torch")
    passing = padiff.compare(base, build("mlp", "paddle", seed=1), example_input("mlp"))
    assert_compared(passing, base)
    assert cli_main(["show", str(passing.save(tmp_path / "passing") / "report.json")]) == 0
    assert cli_main(["html", str(failing), str(tmp_path / "page.html")]) == 0  # 0: the page was written
    page = (tmp_path / "page.html").read_text()
    assert "block.bn1" in page and 'class="culprit"' in page and "<script" not in page
    # negative controls: a missing report and a file that is not a report
    assert cli_main(["show", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "bad.json").write_text('{"passed": true}')
    assert cli_main(["show", str(tmp_path / "bad.json")]) == 2
