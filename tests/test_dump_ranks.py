"""Multi-rank runs under the real launchers: torchrun (torch DDP over gloo) and paddle's launcher
(paddle.DataParallel), two CPU processes each, against the same model's single-process run.

One module-scoped fixture dumps the single-process base (torch, the global batch of 4, SGD for two steps)
and starts both launchers at once on `tests/rank_worker.py`, whose ranks dump each half of the batch:
clean, with rank 1's act1 changed, with one value of rank 1's data changed, and through `padiff.record`
with every second sample per rank. Each rank must write its own folder and rank 0 the run's manifest
after them; the clean runs pass on every rank (activations against base's rows, parameter gradients
after the all-reduce and updates as they are); each planted change is found on rank 1 at its layer,
rank 0's forward and backward passing. The two 2-rank runs are also compared rank by rank.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import padiff
from padiff.cli import main as cli_main
from padiff.judge.records import Phase
from tests.models import build, example_input

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_TIMEOUT_S = 240


def _launch(framework: str, base: Path, out: Path) -> subprocess.Popen:
    worker = [str(ROOT / "tests" / "rank_worker.py"), framework, str(base), str(out)]
    if framework == "torch":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    else:
        command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2"]
        command += ["--log_dir", str(out.parent / "paddle_logs")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "PADIFF_RANK_WAIT": "120",
    }
    for name in ("RANK", "WORLD_SIZE", "PADDLE_TRAINER_ID", "PADDLE_TRAINERS_NUM"):
        env.pop(name, None)
    return subprocess.Popen(
        command + worker, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _logs(framework: str, out: Path, printed: str) -> str:
    logs = sorted((out.parent / "paddle_logs").glob("workerlog.*")) if framework == "paddle" else []
    return printed[-4000:] + "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    folder = tmp_path_factory.mktemp("ranks")
    base = padiff.dump(
        build("mlp", "torch", seed=0),
        example_input("mlp"),
        folder / "base",
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        steps=2,
    )
    started = {fw: _launch(fw, base, folder / fw / "runs") for fw in ("torch", "paddle")}
    for framework, process in started.items():
        printed, _ = process.communicate(timeout=LAUNCH_TIMEOUT_S)
        assert process.returncode == 0, _logs(framework, folder / framework / "runs", printed)
    return {"base": base, "torch": folder / "torch" / "runs", "paddle": folder / "paddle" / "runs"}


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_each_rank_writes_its_own_folder_and_rank_0_the_run_manifest_last(runs, framework):
    run = runs[framework] / "clean"
    assert sorted(p.name for p in run.iterdir()) == ["manifest.json", "rank_0", "rank_1"]
    manifest = json.loads((run / "manifest.json").read_text())
    launcher = "torchrun" if framework == "torch" else "paddle.distributed.launch"
    assert (manifest["format"], manifest["world_size"], manifest["launcher"]) == ("padiff-run", 2, launcher)
    launches = set()
    for rank in (0, 1):
        rank_manifest = run / f"rank_{rank}" / "manifest.json"
        data = json.loads(rank_manifest.read_text())
        info = data["distributed"]
        assert (info["rank"], info["world_size"], info["launcher"]) == (rank, 2, launcher)
        launches.add(info["launch"])
        assert (run / "manifest.json").stat().st_mtime_ns >= rank_manifest.stat().st_mtime_ns
        # the data-parallel wrapper is looked through: the paths are the single-process model's
        assert [path for path, _ in data["model"]["walk"]][:2] == ["", "fc1"]
    assert len(launches) == 1 and launches != {""}  # both ranks name one launch


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("variant, layout", [("clean", "contiguous"), ("record", "strided")])
def test_a_data_parallel_run_agrees_with_the_single_process_run_rank_by_rank(
    runs, framework, variant, layout
):
    report = padiff.compare_dumps(runs["base"], runs[framework] / variant)
    assert report.passed, str(report)
    assert (report.base_world_size, report.raw_world_size, report.rank) == (1, 2, None)
    assert [(p.base_rank, p.raw_rank) for p in report.ranks] == [(0, 0), (0, 1)]
    for pair in report.ranks:
        phases = {d.phase for d in pair.report.diffs}
        assert {Phase.FORWARD, Phase.BACKWARD, Phase.GRAD, Phase.WEIGHT} <= phases  # not a vacuous pass
        assert {d.step for d in pair.report.diffs} == {0, 1}
        assert any(f"({layout} shards" in note for note in pair.report.notes), pair.report.notes


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("variant, path", [("act", "act1"), ("data", "")])
def test_a_change_on_one_rank_is_found_on_that_rank(runs, framework, variant, path):
    report = padiff.compare_dumps(runs["base"], runs[framework] / variant)
    assert not report.passed
    assert report.rank == 1
    culprit = report.first_diff
    assert (culprit.phase, culprit.step, culprit.base_path) == (Phase.FORWARD, 0, path)
    rank0 = report.ranks[0].report
    own = [d for d in rank0.diffs if d.step == 0 and d.phase in (Phase.FORWARD, Phase.BACKWARD)]
    assert own and all(d.passed for d in own)  # rank 0's own data path agrees in the step of the change ...
    assert rank0.first_diff.phase is Phase.GRAD  # ... its gradients differ only through the all-reduce
    assert "following rank 1" in report.summary().splitlines()[1]


def test_two_runs_of_the_same_world_size_are_compared_rank_by_rank(runs):
    clean = padiff.compare_dumps(runs["torch"] / "clean", runs["paddle"] / "clean")
    assert clean.passed and (clean.base_world_size, clean.raw_world_size) == (2, 2)
    assert [(p.base_rank, p.raw_rank) for p in clean.ranks] == [(0, 0), (1, 1)]
    planted = padiff.compare_dumps(runs["torch"] / "clean", runs["paddle"] / "act")
    assert planted.rank == 1 and planted.first_diff.base_path == "act1"
    one = padiff.compare_dumps(runs["torch"] / "clean" / "rank_1", runs["paddle"] / "act" / "rank_1")
    assert [p.raw_rank for p in one.ranks] == [1] and one.first_diff.base_path == "act1"


def test_the_command_line_on_runs(runs, tmp_path, capsys):
    base, torch_runs = str(runs["base"]), runs["torch"]
    assert cli_main(["compare", base, str(torch_runs / "clean"), "--no-progress"]) == 0
    assert "PASSED on every rank" in capsys.readouterr().out
    out = tmp_path / "out"
    out.mkdir()
    args = ["compare", base, str(torch_runs / "act"), "--no-progress", "--json", str(out / "r.json")]
    assert cli_main([*args, "--save", str(out / "diff_log"), "--html", str(out / "r.html")]) == 1
    printed = capsys.readouterr().out
    assert printed.startswith("padiff: FAILED on rank 1: first difference in forward (step 0) at 'act1'")
    data = json.loads((out / "r.json").read_text())
    assert (data["kind"], data["rank"], len(data["ranks"])) == ("ranks", 1, 2)
    assert sorted(p.name for p in (out / "diff_log").iterdir()) == [
        "rank_0", "rank_1", "report.html", "report.json", "summary.txt",
    ]  # fmt: skip
    assert cli_main(["show", str(out / "diff_log")]) == 1
    assert "FAILED on rank 1" in capsys.readouterr().out
    assert cli_main(["html", str(out / "diff_log"), str(out / "again.html")]) == 0
    assert "FAILED on rank 1" in (out / "again.html").read_text()
    assert cli_main(["show", str(torch_runs / "clean")]) == 0
    assert "2 ranks under torchrun" in capsys.readouterr().out


def test_a_rank_missing_on_one_side_is_an_error_naming_it(runs, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(runs["torch"] / "clean", copy)
    shutil.rmtree(copy / "rank_1")
    assert cli_main(["compare", str(runs["base"]), str(copy), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "lacks rank_1/" in err and "rank 1 is missing" in err and "hint:" in err
    single = [str(runs["torch"] / "clean" / "rank_0"), str(runs["paddle"] / "clean" / "rank_1")]
    assert cli_main(["compare", *single, "--no-progress"]) == 2
    assert "rank 0 of 2 is in base" in capsys.readouterr().err
