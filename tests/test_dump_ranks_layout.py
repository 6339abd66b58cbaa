"""The folders a multi-rank run writes, with the launchers' rank variables set by hand (one process, one
rank at a time): `rank_<k>/` per rank with its rank in the manifest, the run's manifest written by rank 0
only once every rank finished, a failed or missing rank reported, nothing of another rank or run
overwritten, and a clear error for a rank environment padiff cannot read.
"""

from __future__ import annotations

import json
import time

import pytest

import padiff
from padiff.cli import main as cli_main
from padiff.dump.reader import open_dump
from tests.models import build, example_input
from tests.rank_env import as_rank


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "PADDLE_TRAINER_ID", "PADDLE_TRAINERS_NUM", "PADIFF_RANK_WAIT"):
        monkeypatch.delenv(name, raising=False)


def _halves(rank):
    return example_input("mlp")[rank * 2 : rank * 2 + 2]


@pytest.mark.parametrize(
    "framework, launcher", [("paddle", "paddle.distributed.launch"), ("torch", "torchrun")]
)
def test_each_rank_writes_its_own_folder_and_rank_0_the_run(monkeypatch, tmp_path, framework, launcher):
    model = build("mlp", framework, seed=1)
    run = tmp_path / "run"
    for rank in (1, 0):
        assert as_rank(monkeypatch, framework, rank, 2, model, _halves(rank), run) == run
    assert sorted(p.name for p in run.iterdir()) == ["manifest.json", "rank_0", "rank_1"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["format"], manifest["world_size"], manifest["launcher"]) == ("padiff-run", 2, launcher)
    for rank in (0, 1):
        dump = open_dump(run / f"rank_{rank}")
        assert (dump.manifest["distributed"]["rank"], dump.manifest["distributed"]["world_size"]) == (rank, 2)
        assert dump.manifest["distributed"]["launcher"] == launcher
    plain = as_rank(monkeypatch, framework, 1, 2, model, _halves(1), tmp_path / "plain", distributed=False)
    assert "distributed" not in open_dump(plain).manifest  # a single-process dump, whatever the environment
    alone = as_rank(monkeypatch, framework, 0, 1, model, _halves(0), tmp_path / "alone")
    assert (alone / "manifest.json").exists() and not (alone / "rank_0").exists()  # a world of one


def test_rank_0_writes_the_run_manifest_only_after_every_rank(monkeypatch, tmp_path, capsys):
    model = build("mlp", "paddle", seed=1)
    run = tmp_path / "run"
    monkeypatch.setenv("PADIFF_RANK_WAIT", "0.3")
    with pytest.raises(padiff.DumpError, match=r"rank 0 waited 0.3 s for rank 1 of 2") as caught:
        as_rank(monkeypatch, "paddle", 0, 2, model, _halves(0), run)
    assert "rank 0's own dump is complete" in str(caught.value) and "PADIFF_RANK_WAIT" in str(caught.value)
    assert not (run / "manifest.json").exists()
    open_dump(run / "rank_0")  # complete and kept
    assert cli_main(["compare", str(run), str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "interrupted multi-rank dump" in err and "rank 0 complete, rank 1 missing" in err
    as_rank(monkeypatch, "paddle", 1, 2, model, _halves(1), run)
    assert not (run / "manifest.json").exists()  # only rank 0 writes it
    as_rank(monkeypatch, "paddle", 0, 2, model, _halves(0), run, overwrite=True)
    assert json.loads((run / "manifest.json").read_text())["world_size"] == 2


def test_a_rank_that_failed_stops_rank_0_waiting(monkeypatch, tmp_path):
    model = build("mlp", "paddle", seed=1)
    run = tmp_path / "run"
    with pytest.raises(padiff.RunError):
        as_rank(monkeypatch, "paddle", 1, 2, model, example_input("mlp")[:2, :5], run)  # wrong width
    assert (run / "rank_1" / "WRITING").read_text().startswith("aborted")
    monkeypatch.setenv("PADIFF_RANK_WAIT", "60")
    started = time.monotonic()
    with pytest.raises(padiff.DumpError, match=r"rank 1 of 2 failed before its dump was complete"):
        as_rank(monkeypatch, "paddle", 0, 2, model, _halves(0), run)
    assert time.monotonic() - started < 20
    assert not (run / "manifest.json").exists()


def test_ranks_never_write_over_each_other_or_over_other_files(monkeypatch, tmp_path):
    model = build("mlp", "paddle", seed=1)
    run = tmp_path / "run"
    as_rank(monkeypatch, "paddle", 1, 2, model, _halves(1), run)
    with pytest.raises(padiff.DumpError, match="is not empty"):
        as_rank(monkeypatch, "paddle", 1, 2, model, _halves(1), run)
    open_dump(run / "rank_1")  # untouched
    as_rank(monkeypatch, "paddle", 0, 2, model, _halves(0), run)
    with pytest.raises(padiff.DumpError, match="holds a complete multi-rank dump"):
        as_rank(monkeypatch, "paddle", 1, 2, model, _halves(1), run)
    for rank in (1, 0):
        as_rank(monkeypatch, "paddle", rank, 2, model, _halves(rank), run, overwrite=True)
    assert json.loads((run / "manifest.json").read_text())["format"] == "padiff-run"
    single = padiff.dump(model, example_input("mlp"), tmp_path / "single")
    with pytest.raises(padiff.DumpError, match="not a multi-rank padiff dump"):
        as_rank(monkeypatch, "paddle", 1, 2, model, _halves(1), single)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(padiff.DumpError, match=r"found notes.txt"):
        as_rank(monkeypatch, "paddle", 0, 2, model, _halves(0), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "torchrun's RANK is 'x', not a whole number"),
        ({"RANK": "1"}, "sets RANK but not WORLD_SIZE"),
        ({"PADDLE_TRAINER_ID": "2", "PADDLE_TRAINERS_NUM": "2"}, "says rank 2 of 2"),
    ],
)
def test_a_rank_environment_padiff_cannot_read_is_an_error(monkeypatch, tmp_path, variables, message):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(padiff.InputError, match=message):
        padiff.dump(build("mlp", "torch", seed=1), _halves(0), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_distributed_true_needs_a_launcher(tmp_path):
    with pytest.raises(padiff.InputError, match="no launcher's rank is in the environment"):
        padiff.dump(build("mlp", "torch", seed=1), _halves(0), tmp_path / "run", distributed=True)
