"""A layer map by paths (dict or YAML file) on dumps gives the report a LayerMap of the same layers gives
live: ignored layers, layers ignored with their insides, ignored classes, and mapped pairs."""

from __future__ import annotations

import pytest

import padiff
from tests.checks import assert_compared
from tests.dumps import assert_same_report, dump_pair
from tests.models import build, example_input


def _live_map(kind: str, base, raw) -> padiff.LayerMap:
    layer_map = padiff.LayerMap()
    if kind == "ignore":
        layer_map.ignore([base.blocks[0].ln1, raw.blocks[0].ln1])
    elif kind == "ignore_recursively":
        layer_map.ignore_recursively([base.blocks[0].mlp, raw.blocks[0].mlp])
    elif kind == "ignore_class":
        layer_map.ignore_class(base, type(base.blocks[0].drop1))
        layer_map.ignore_class(raw, type(raw.blocks[0].drop1))
    else:
        layer_map.map = {base.blocks[0].attn: raw.blocks[0].attn}
    return layer_map


SPECS = {
    "ignore": {"ignore": ["blocks.0.ln1"]},
    "ignore_recursively": {"ignore_recursively": ["blocks.0.mlp"]},
    "ignore_class": {"ignore_class": ["Dropout"]},
    "map": {"map": {"blocks.0.attn": "blocks.0.attn"}},
}


@pytest.mark.parametrize("plant", [None, "softmax_axis"])
@pytest.mark.parametrize("kind", list(SPECS))
def test_a_layer_map_by_paths_gives_the_live_report(kind, plant, tmp_path):
    x = example_input("transformer")
    models = [build("transformer", "torch"), build("transformer", "paddle", plant=plant, seed=1)]
    for model in models:
        model.eval()
    folders = dump_pair(*models, x, tmp_path, layer_map=SPECS[kind])  # weights copied through the map too
    report = padiff.compare_dumps(*folders, layer_map=SPECS[kind])
    base, raw = build("transformer", "torch"), build("transformer", "paddle", plant=plant, seed=1)
    base.eval()
    raw.eval()
    live = padiff.compare(base, raw, x, layer_map=_live_map(kind, base, raw), confirm=False, api_level=False)
    assert_same_report(report, live)
    compared = {d.base_path for d in report.diffs if d.phase.value == "forward"}
    if kind == "ignore_recursively":
        assert "blocks.0.mlp.fc1" not in compared
    if kind == "map":
        assert "blocks.0.attn.q" not in compared and "blocks.0.attn" in compared
    if kind == "ignore_recursively" and plant is None:
        # as live: the left-out block keeps raw's own weights, so the block around it is where they part
        assert report.first_diff.base_path == "blocks.0"
    elif plant is None:
        assert report.passed, str(report)
        assert_compared(report, pairs=["blocks.0.attn", "head", "norm"])
    else:
        assert report.first_diff.base_path == "blocks.0.attn"


def test_a_yaml_file_is_read_as_data(tmp_path):
    x = example_input("transformer")
    folders = dump_pair(build("transformer", "torch"), build("transformer", "paddle", seed=1), x, tmp_path)
    spec = tmp_path / "map.yaml"
    spec.write_text(
        "# pair and ignore by path\nignore_recursively:\n  - blocks.0.mlp\nignore_class: [Dropout]\n"
    )
    report = padiff.compare_dumps(*folders, layer_map=spec)
    assert report.passed
    assert not any(d.base_path.startswith("blocks.0.mlp.") for d in report.diffs)
    assert_compared(report, pairs=["blocks.0.attn.q", "head"])
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("ignore: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(padiff.InputError, match="not valid"):
        padiff.compare_dumps(*folders, layer_map=hostile)
