"""Bad input to the offline commands: each a padiff error with a hint, exit code 2, nothing overwritten.

A folder that is not a dump, a truncated tensor file, a manifest of a newer format, a dump whose writer
died midway, two dumps of different models, a layer map naming layers that do not exist; and a dump
whose files were replaced by a pickle, which must be refused without being unpickled.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import padiff
from padiff.cli import main as cli_main
from padiff.dump.manifest import MANIFEST, MARKER
from tests.checks import assert_compared
from tests.dumps import dump_pair
from tests.models import build, example_input


@pytest.fixture
def pair(tmp_path):
    """A good pair of dumps (mlp torch -> paddle), copied fresh for each test."""
    return dump_pair(build("mlp", "torch"), build("mlp", "paddle", seed=1), example_input("mlp"), tmp_path)


def _cli_refuses(base, raw, tmp_path, *extra: str, match: str, capsys) -> None:
    """The CLI exits 2 with `match` in its message, and writes none of its outputs, touching none."""
    existing = tmp_path / "existing.json"
    existing.write_text("keep me")
    html = tmp_path / "out.html"
    code = cli_main(["compare", str(base), str(raw), "--json", str(existing), "--html", str(html), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert match in err and "hint:" in err
    assert existing.read_text() == "keep me" and not html.exists()


def test_the_good_pair_compares_and_writes_its_outputs(pair, tmp_path, capsys):
    """Negative control for everything below: the same command on the untouched pair."""
    out = tmp_path / "report.json"
    assert cli_main(["compare", str(pair[0]), str(pair[1]), "--json", str(out)]) == 0
    assert padiff.Report.from_json(out.read_text()).passed
    assert_compared(padiff.compare_dumps(*pair), build("mlp", "torch"))


@pytest.mark.parametrize("what", ["missing", "empty", "a file", "other files"])
def test_a_folder_that_is_not_a_dump(pair, tmp_path, what, capsys):
    target = tmp_path / "target"
    if what == "empty":
        target.mkdir()
    elif what == "a file":
        target.write_text("hello")
    elif what == "other files":
        target.mkdir()
        (target / "notes.txt").write_text("hello")
    with pytest.raises(padiff.DumpError, match="not a"):
        padiff.compare_dumps(pair[0], target)
    _cli_refuses(pair[0], target, tmp_path, match="not a", capsys=capsys)


def test_a_truncated_step_file(pair, tmp_path, capsys):
    step = pair[1] / "step_0000.safetensors"
    step.write_bytes(step.read_bytes()[:-100])
    with pytest.raises(padiff.DumpError, match="truncated"):
        padiff.compare_dumps(*pair)
    _cli_refuses(*pair, tmp_path, match="truncated", capsys=capsys)


def test_a_corrupt_tensor_header_of_the_recorded_size(pair, tmp_path, capsys):
    step = pair[0] / "step_0000.safetensors"
    data = bytearray(step.read_bytes())
    data[8:20] = b"#" * 12  # the JSON header is no longer JSON; the size is unchanged
    step.write_bytes(bytes(data))
    _cli_refuses(*pair, tmp_path, match="not a complete tensor file", capsys=capsys)


def test_a_manifest_of_a_newer_format(pair, tmp_path, capsys):
    manifest = json.loads((pair[0] / MANIFEST).read_text())
    manifest["version"] = 99
    (pair[0] / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(padiff.DumpError, match="newer") as caught:
        padiff.compare_dumps(*pair)
    assert "upgrade padiff" in str(caught.value)
    _cli_refuses(*pair, tmp_path, match="format 99", capsys=capsys)


@pytest.mark.parametrize("damage", ["not json", "no steps", "not ours"])
def test_a_damaged_manifest(pair, tmp_path, damage, capsys):
    manifest = json.loads((pair[1] / MANIFEST).read_text())
    text = {
        "not json": "{ nope",
        "no steps": json.dumps({k: v for k, v in manifest.items() if k != "steps"}),
        "not ours": json.dumps({"format": "something-else"}),
    }[damage]
    (pair[1] / MANIFEST).write_text(text)
    _cli_refuses(*pair, tmp_path, match="raw" if damage == "no steps" else "", capsys=capsys)


def test_a_dump_whose_writer_died_midway(pair, tmp_path, capsys):
    (pair[1] / MANIFEST).unlink()
    (pair[1] / MARKER).write_text("pid 1\n")
    _cli_refuses(*pair, tmp_path, match="interrupted dump", capsys=capsys)
    (pair[1] / MARKER).unlink()  # step files without a manifest: interrupted as well
    _cli_refuses(*pair, tmp_path, match="interrupted dump", capsys=capsys)


def test_two_dumps_of_different_models(pair, tmp_path, capsys):
    other = padiff.dump(build("cnn", "paddle"), example_input("cnn"), tmp_path / "cnn")
    with pytest.raises(padiff.DumpError, match="do not pair"):
        padiff.compare_dumps(pair[0], other)
    _cli_refuses(pair[0], other, tmp_path, match="do not pair", capsys=capsys)


def test_a_layer_map_naming_layers_that_do_not_exist(pair, tmp_path, capsys):
    bad = tmp_path / "map.yaml"
    bad.write_text("ignore:\n  - fc9\n")
    with pytest.raises(padiff.InputError, match="'fc9', a layer of neither model") as caught:
        padiff.compare_dumps(*pair, layer_map=bad)
    assert "closest" in str(caught.value)
    _cli_refuses(*pair, tmp_path, "--layer-map", str(bad), match="fc9", capsys=capsys)
    mapped = tmp_path / "map.json"
    mapped.write_text(json.dumps({"map": {"fc1": "nope"}}))
    _cli_refuses(*pair, tmp_path, "--layer-map", str(mapped), match="raw layer 'nope'", capsys=capsys)
    unknown = tmp_path / "keys.yaml"
    unknown.write_text("pair: {fc1: fc1}\n")
    _cli_refuses(*pair, tmp_path, "--layer-map", str(unknown), match="holds only", capsys=capsys)


def test_a_layer_map_of_existing_layers_is_taken(pair, tmp_path):
    """Negative control: a map naming real layers works (act1 ignored on both sides: not compared)."""
    good = tmp_path / "map.yaml"
    good.write_text("ignore: [act1]\n")
    report = padiff.compare_dumps(*pair, layer_map=good)
    assert report.passed
    assert "act1" not in {d.base_path for d in report.diffs}
    assert_compared(report, pairs=["fc1", "fc2", "fc3"])


class _Planted:
    """Unpickling this would write a file: the proof that a loader executed code from a dump."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("executed",))


def test_loading_never_unpickles(pair, tmp_path, capsys):
    marker = tmp_path / "executed.txt"
    payload = pickle.dumps(_Planted(str(marker)))
    for name in ("weights.safetensors", "step_0000.safetensors"):
        (pair[1] / name).write_bytes(payload)
    manifest = json.loads((pair[1] / MANIFEST).read_text())
    manifest["weights"]["bytes"] = manifest["steps"][0]["bytes"] = len(payload)
    (pair[1] / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(padiff.DumpError):
        padiff.compare_dumps(*pair)
    with pytest.raises(padiff.DumpError):
        padiff.load_weights(build("mlp", "paddle"), pair[1])
    _cli_refuses(*pair, tmp_path, match="not a complete tensor file", capsys=capsys)
    assert cli_main(["show", str(pair[1])]) == 2
    assert not marker.exists()
    pickle.loads(payload)  # control: the payload really does execute when unpickled
    assert marker.exists()


def test_load_weights_into_a_model_that_does_not_pair_changes_nothing(pair):
    cnn = build("cnn", "paddle")
    before = {k: v.numpy().copy() for k, v in cnn.state_dict().items()}
    with pytest.raises(padiff.WeightTransferError):
        padiff.load_weights(cnn, pair[0])
    assert all((cnn.state_dict()[k].numpy() == v).all() for k, v in before.items())
