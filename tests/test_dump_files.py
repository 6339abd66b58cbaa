"""The files of a dump: safetensors written as the run goes and read back as views, the manifest, and
atomic writing (an interrupted dump is never read as complete).

The tensor files are checked against the `safetensors` library both ways, so "safetensors" means the
format others read; a truncated or corrupt file is a DumpError when it is opened, never a wrong array.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import padiff
from padiff.dump.manifest import MANIFEST, MARKER, read_manifest
from padiff.dump.reader import open_dump
from padiff.dump.tensorfile import ALIGN, TensorFile, TensorWriter
from tests.models import build, example_input

ROOT = Path(__file__).resolve().parents[1]

ARRAYS = {
    "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "f64": np.linspace(-1, 1, 5),
    "f16": np.arange(6, dtype=np.float16),
    "i64": np.arange(-3, 4, dtype=np.int64),
    "bool": np.array([True, False, True]),
    "u8": np.arange(5, dtype=np.uint8),
    "scalar": np.float32(2.5).reshape(()),
    "empty": np.zeros((0, 3), np.float32),
}


def _write(path: Path, arrays: dict, reserve: int = 4096) -> None:
    writer = TensorWriter(path, reserve)
    for name, array in arrays.items():
        writer.add(name, array)
    writer.close({"made": "by a test"})


@pytest.mark.parametrize("reserve", [4096, 64], ids=["header-fits", "header-outgrows-its-region"])
def test_written_tensors_read_back_exactly_and_aligned(tmp_path, reserve):
    path = tmp_path / "t.safetensors"
    _write(path, ARRAYS, reserve)
    assert not path.with_name(path.name + ".tmp").exists()
    file = TensorFile(path)
    assert set(file.names()) == set(ARRAYS)
    for name, array in ARRAYS.items():
        read = file.array(name)
        assert read.dtype == array.dtype and read.shape == array.shape
        np.testing.assert_array_equal(read, array)
        assert (file.data_start + file.entries[name]["data_offsets"][0]) % ALIGN == 0 or read.size == 0
        assert not read.flags.writeable  # a view of the file


def test_the_safetensors_library_reads_our_files_and_we_read_its():
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = Path(folder) / "ours.safetensors", Path(folder) / "theirs.safetensors"
        _write(ours, ARRAYS)
        loaded = safetensors_numpy.load_file(str(ours))
        for name, array in ARRAYS.items():
            np.testing.assert_array_equal(loaded[name], array)
        safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in ARRAYS.items()}, str(theirs))
        file = TensorFile(theirs)
        for name, array in ARRAYS.items():
            np.testing.assert_array_equal(file.array(name), array)


def test_bfloat16_tensors_are_stored_as_bf16_and_read_back_as_float32(tmp_path):
    torch = pytest.importorskip("torch")
    values = torch.randn(4, 8).to(torch.bfloat16)
    upcast = values.float().numpy()
    writer = TensorWriter(tmp_path / "bf16.safetensors", 4096)
    writer.add("w", upcast, "bfloat16")
    writer.add("not_bf16", upcast + np.float32(1e-3), "bfloat16")  # not representable: kept as F32
    writer.close()
    file = TensorFile(tmp_path / "bf16.safetensors")
    assert file.entries["w"]["dtype"] == "BF16" and file.nbytes("w") == upcast.size * 2
    assert file.entries["not_bf16"]["dtype"] == "F32"
    np.testing.assert_array_equal(file.array("w"), upcast)


@pytest.mark.parametrize(
    "cut", [1, 9, 100, -1], ids=["8-byte-prefix-only", "header-cut", "data-cut", "one-byte-short"]
)
def test_a_truncated_tensor_file_is_refused_when_opened(tmp_path, cut):
    path = tmp_path / "t.safetensors"
    _write(path, ARRAYS)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(padiff.DumpError, match="not a complete tensor file"):
        TensorFile(path)


def test_a_whole_file_opens(tmp_path):
    """Negative control of the truncation test: the same file, whole, opens."""
    path = tmp_path / "t.safetensors"
    _write(path, ARRAYS)
    assert TensorFile(path).names()


def test_a_dump_folder_holds_weights_steps_and_a_manifest_written_last(tmp_path):
    model = build("mlp", "torch")
    folder = padiff.dump(model, example_input("mlp"), tmp_path / "d", steps=2)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [MANIFEST, "step_0000.safetensors", "step_0001.safetensors", "weights.safetensors"]
    manifest = read_manifest(folder)
    assert manifest["format"] == "padiff-dump" and manifest["version"] == 1
    assert manifest["environment"]["framework"] == "torch" and manifest["environment"]["padiff"]
    assert {"deterministic", "tf32"} <= set(manifest["environment"]["flags"])
    assert set(manifest["model"]["states"]) == {n for n, _ in model.named_parameters()}
    node = manifest["steps"][0]["nodes"][1]
    assert {"path", "cls", "call", "site", "defined"} <= set(node) and node["site"].startswith("/")
    event = next(e for e in manifest["steps"][0]["events"] if e[0] == "out")
    assert event[5] == "float32" and isinstance(event[6], list)  # dtype and shape
    dump = open_dump(folder)
    np.testing.assert_array_equal(dump.initial("fc1.weight"), model.fc1.weight.detach().numpy())


def test_dump_refuses_to_overwrite_a_folder_unless_asked(tmp_path):
    x = example_input("mlp")
    folder = padiff.dump(build("mlp", "torch"), x, tmp_path / "d")
    before = (folder / MANIFEST).read_text()
    with pytest.raises(padiff.DumpError, match="not empty"):
        padiff.dump(build("mlp", "torch"), x, folder)
    assert (folder / MANIFEST).read_text() == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(padiff.DumpError, match="not a padiff dump"):
        padiff.dump(build("mlp", "torch"), x, tmp_path / "other", overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    padiff.dump(build("mlp", "torch"), x, folder, overwrite=True, steps=2)
    assert len(read_manifest(folder)["steps"]) == 2


def test_a_dump_that_raises_midway_is_read_as_interrupted(tmp_path):
    model = build("mlp", "torch")
    calls = []

    def loss(out):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the machine went away")
        return out.mean()

    with pytest.raises(padiff.RunError):
        padiff.dump(model, example_input("mlp"), tmp_path / "d", steps=3, loss_fn=loss)
    folder = tmp_path / "d"
    assert (folder / MARKER).exists() and not (folder / MANIFEST).exists()
    assert not list(folder.glob("*.tmp"))
    with pytest.raises(padiff.DumpError, match="interrupted dump"):
        padiff.compare_dumps(folder, folder)


KILLED = """
import os, sys
sys.path.insert(0, {root!r})
import padiff
from tests.models import build, example_input
model = build("mlp", "torch")
calls = []
def loss(out):
    calls.append(1)
    if len(calls) == 2:
        os._exit(3)  # the process dies: no exception, no cleanup, as a killed writer
    return out.mean()
padiff.dump(model, example_input("mlp"), {folder!r}, steps=3, loss_fn=loss)
"""


def test_a_writer_killed_midway_leaves_a_folder_read_as_interrupted(tmp_path):
    folder = tmp_path / "d"
    code = textwrap.dedent(KILLED.format(root=str(ROOT), folder=str(folder)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert (folder / "step_0000.safetensors").exists() and not (folder / MANIFEST).exists()
    with pytest.raises(padiff.DumpError, match="interrupted dump") as caught:
        open_dump(folder)
    assert "hint:" in str(caught.value)


def test_a_manifest_naming_a_file_outside_the_folder_is_not_followed(tmp_path):
    folder = padiff.dump(build("mlp", "torch"), example_input("mlp"), tmp_path / "d")
    manifest = json.loads((folder / MANIFEST).read_text())
    (tmp_path / "elsewhere.safetensors").write_bytes((folder / "weights.safetensors").read_bytes())
    manifest["weights"]["file"] = "../elsewhere.safetensors"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    os.remove(folder / "weights.safetensors")
    with pytest.raises(padiff.DumpError, match="lacks elsewhere.safetensors"):
        open_dump(folder)
