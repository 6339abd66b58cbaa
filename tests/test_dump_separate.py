"""Separate environments: the torch side, the paddle side and the comparison each in a process of its own.

The first process cannot import paddle and dumps the torch model; the second cannot import torch,
starts the paddle port (clean, and with a planted change) from the torch dump's weights and dumps both;
the third can import neither and compares. The planted change is found at its layer, the clean port
passes, and each process's blocked framework really was never loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = """
import json, sys
BLOCKED = {blocked!r}

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked by test: " + name)
        return None

sys.meta_path.insert(0, _Blocker())
sys.path.insert(0, {root!r})
import padiff
from tests.models import build, example_input

def done(result):
    result["loaded"] = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "paddle"}})
    print(json.dumps(result))
"""

DUMP_TORCH = """
model = build("transformer", "torch")
model.eval()
padiff.dump(model, example_input("transformer"), {base!r})
try:
    import paddle
    result = {{"paddle": "imported"}}
except ImportError as error:
    result = {{"paddle": str(error)}}
done(result)
"""

DUMP_PADDLE = """
for plant, folder in ((None, {clean!r}), ("softmax_axis", {planted!r})):
    model = build("transformer", "paddle", plant=plant, seed=1)
    model.eval()
    padiff.load_weights(model, {base!r})
    padiff.dump(model, example_input("transformer"), folder)
done({{}})
"""

COMPARE = """
out = {{}}
for name, folder in (("clean", {clean!r}), ("planted", {planted!r})):
    report = padiff.compare_dumps({base!r}, folder)
    culprit = report.first_diff
    out[name] = {{
        "passed": report.passed,
        "culprit": None if culprit is None else [culprit.phase.value, culprit.base_path, culprit.raw_path],
        "frameworks": [report.base_framework, report.raw_framework],
        "compared": sorted({{d.base_path for d in report.diffs if d.phase.value == "forward"}}),
        "phases": sorted({{d.phase.value for d in report.diffs}}),
    }}
done(out)
"""


def _run(blocked: list[str], body: str, **folders: str) -> dict:
    code = textwrap.dedent(BLOCKER.format(blocked=blocked, root=str(ROOT))) + textwrap.dedent(
        body.format(**folders)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dump_in_one_environment_compare_in_another(tmp_path):
    folders = {name: str(tmp_path / name) for name in ("base", "clean", "planted")}
    torch_side = _run(["paddle"], DUMP_TORCH, **folders)
    assert torch_side["loaded"] == ["torch"] and "blocked by test" in torch_side["paddle"]
    paddle_side = _run(["torch"], DUMP_PADDLE, **folders)
    assert paddle_side["loaded"] == ["paddle"]
    compared = _run(["torch", "paddle"], COMPARE, **folders)
    assert compared["loaded"] == []
    clean, planted = compared["clean"], compared["planted"]
    assert clean["passed"] and clean["culprit"] is None
    assert clean["frameworks"] == ["torch", "paddle"]
    assert {"forward", "backward", "grad"} <= set(clean["phases"])
    assert {"blocks.0.attn", "blocks.0.attn.q", "blocks.0.mlp.fc1", "head"} <= set(clean["compared"])
    assert not planted["passed"]
    assert planted["culprit"] == ["forward", "blocks.0.attn", "blocks.0.attn"]
