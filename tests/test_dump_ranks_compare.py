"""Pairing ranks, on runs whose rank variables were set by hand (no all-reduce, so each rank's parameter
gradients are its own shard's): a single process against 2 ranks is compared shard by shard (the rows
found from the inputs, contiguous or every second; the gradients layers send back divided by the world
size), a world size that cannot be compared is refused with the reason, a rank's batch that is not its
share of base's is an error, and the multi-rank report reads back from its JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import padiff
from padiff.cli import load_report
from padiff.cli import main as cli_main
from padiff.dump.shard import Shard
from padiff.judge.records import Phase
from padiff.report.ranked import RankedReport
from tests.models import build, example_input
from tests.rank_env import as_rank
from tests.test_report_schema import _documented


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "PADDLE_TRAINER_ID", "PADDLE_TRAINERS_NUM", "PADIFF_RANK_WAIT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return padiff.dump(
        build("mlp", "torch", seed=0), example_input("mlp"), tmp_path_factory.mktemp("b") / "base"
    )


def _run(monkeypatch, base, path, world=2, rows=None, plant_rank=None):
    """A run of `world` paddle ranks started from base's weights; rank k holds `rows(k)` of base's batch."""
    x = example_input("mlp")
    rows = rows or (lambda k: x[k::world])
    for rank in reversed(range(world)):
        model = build("mlp", "paddle", seed=1, plant="activation" if rank == plant_rank else None)
        padiff.load_weights(model, base)
        as_rank(monkeypatch, "paddle", rank, world, model, rows(rank).copy(), path)
    return path


@pytest.mark.parametrize("split", ["contiguous", "strided"])
def test_ranks_are_compared_with_their_rows_of_a_single_process(monkeypatch, tmp_path, base, split):
    x = example_input("mlp")
    rows = (lambda k: x[2 * k : 2 * k + 2]) if split == "contiguous" else (lambda k: x[k::2])
    run = _run(monkeypatch, base, tmp_path / "run", rows=rows)
    report = padiff.compare_dumps(base, run, diff_phase="forward")
    assert report.passed, str(report)
    assert all(any(f"({split} shards" in n for n in p.report.notes) for p in report.ranks)
    both = padiff.compare_dumps(base, run)  # no all-reduce here: only the parameter gradients differ
    for pair in both.ranks:
        assert all(d.passed for d in pair.report.diffs if d.phase is Phase.BACKWARD)  # divided by 2
        assert not all(d.passed for d in pair.report.diffs if d.phase is Phase.GRAD)
    planted = padiff.compare_dumps(base, _run(monkeypatch, base, tmp_path / "act", rows=rows, plant_rank=1))
    assert (planted.rank, planted.first_diff.base_path, planted.first_diff.phase) == (
        1,
        "act1",
        Phase.FORWARD,
    )


def test_a_cut_keeps_batch_major_rows_and_leaves_other_tensors_whole():
    shard = Shard(rank=1, world_size=2, batch=4, rows=(1, 3), layout="strided")
    heads = np.arange(4 * 3 * 5).reshape(12, 5)  # [batch * heads, d], batch-major
    cut = shard.cut(heads, raw_lead=6)
    assert np.array_equal(cut, heads.reshape(4, 3, 5)[[1, 3]].reshape(6, 5))
    assert shard.cut(heads, raw_lead=12) is heads  # raw holds as many rows: not a batch axis
    assert shard.cut(np.ones((8, 2)), raw_lead=3).shape == (8, 2)  # not its share: compared whole
    assert shard.cut_shape((12, 5), 6) == (6, 5)


def test_world_sizes_that_cannot_be_compared_are_refused_with_the_reason(monkeypatch, tmp_path, base, capsys):
    two = _run(monkeypatch, base, tmp_path / "two")
    x = example_input("mlp")
    four = _run(monkeypatch, base, tmp_path / "four", world=4, rows=lambda k: x[k : k + 1])
    single = padiff.dump(build("mlp", "paddle", seed=1), x, tmp_path / "single")
    assert cli_main(["compare", str(two), str(single), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "base ran on 2 ranks and raw in a single process" in err and "the other way round" in err
    assert cli_main(["compare", str(two), str(four), "--no-progress"]) == 2
    assert "base ran on 2 ranks and raw on 4" in capsys.readouterr().err
    assert padiff.compare_dumps(base, four, diff_phase="forward").passed  # 1 against 4 is comparable


def test_a_rank_that_does_not_hold_its_share_of_the_batch_is_an_error(monkeypatch, tmp_path, base):
    x = example_input("mlp")
    run = _run(monkeypatch, base, tmp_path / "run", rows=lambda k: x[k : k + 1])  # 2 of base's 4 samples
    with pytest.raises(
        padiff.DumpError, match=r"raw rank 0 of 2 does not hold 1/2 of base's batch"
    ) as caught:
        padiff.compare_dumps(base, run)
    assert "[4, 16] vs [1, 16]" in str(caught.value)


def test_summary_dumps_cannot_be_cut_into_shards(monkeypatch, tmp_path, base):
    x = example_input("mlp")
    run = tmp_path / "run"
    for rank in (1, 0):
        model = build("mlp", "paddle", seed=1)
        as_rank(monkeypatch, "paddle", rank, 2, model, x[rank::2].copy(), run, summary_only=True)
    with pytest.raises(padiff.DumpError, match="summary_only=True"):
        padiff.compare_dumps(base, run)


def test_load_weights_from_a_run_takes_rank_0s(monkeypatch, tmp_path, base):
    run = _run(monkeypatch, base, tmp_path / "run")
    fresh = build("mlp", "paddle", seed=7)
    assert "fc1.weight" in padiff.load_weights(fresh, run)
    assert np.array_equal(
        fresh.fc1.weight.numpy(), build("mlp", "torch", seed=0).fc1.weight.detach().numpy().T
    )


def test_the_multi_rank_report_reads_back(monkeypatch, tmp_path, base):
    run = _run(monkeypatch, base, tmp_path / "run", plant_rank=1)
    report = padiff.compare_dumps(base, run, diff_phase="forward")
    saved = report.save(tmp_path / "diff_log")
    again = load_report(saved)
    assert isinstance(again, RankedReport)
    assert again.to_json() == report.to_json()
    assert (again.rank, again.passed, again.first_diff.base_path) == (1, False, "act1")
    data = json.loads(report.to_json())
    assert _documented('A multi-rank report (`"kind": "ranks"`)') == set(data)  # docs/report-format.md
    assert _documented("A pair of ranks (`ranks[i]`)") == set(data["ranks"][0])
    with pytest.raises(padiff.DumpError, match="malformed multi-rank padiff report"):
        RankedReport.from_dict({"kind": "ranks", "ranks": [{"raw_rank": 0}]})
