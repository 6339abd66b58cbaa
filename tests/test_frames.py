"""padiff.capture.frames: which files are padiff's own, the framework's, or the user's."""

from __future__ import annotations

import os

import torch  # noqa: F401  (the adapter needs its framework imported)

from padiff.capture.frames import PADIFF_DIR, internal_dirs, internal_frame, raised_in_padiff
from padiff.frameworks.base import adapter_for


def _adapter():
    return adapter_for(torch.nn.Linear(1, 1))


def _raise_from(filename: str) -> BaseException:
    try:
        exec(compile("raise ValueError('boom')", filename, "exec"))
    except ValueError as error:
        return error
    raise AssertionError("did not raise")


def test_padiff_and_the_framework_are_internal_and_a_sibling_folder_is_not():
    skip = internal_dirs(_adapter())
    assert internal_frame(os.path.join(PADIFF_DIR, "capture", "hooks.py"), skip, ())
    assert internal_frame(
        os.path.join(os.path.dirname(torch.__file__), "nn", "modules", "linear.py"), skip, ()
    )
    sibling = PADIFF_DIR.rstrip(os.sep) + "_ext" + os.sep + "model.py"  # .../padiff_ext/model.py
    assert not internal_frame(sibling, skip, ())
    torch_sibling = os.path.dirname(torch.__file__) + "vision" + os.sep + "models.py"  # .../torchvision/
    assert not internal_frame(torch_sibling, skip, ())


def test_an_error_raised_in_a_sibling_folder_is_not_padiffs_own():
    assert raised_in_padiff(_raise_from(os.path.join(PADIFF_DIR, "capture", "hooks.py")))
    sibling = PADIFF_DIR.rstrip(os.sep) + "_ext" + os.sep + "model.py"
    assert not raised_in_padiff(_raise_from(sibling))


def test_a_model_zoo_inside_a_framework_is_user_code():
    skip = internal_dirs(_adapter())
    zoo = os.path.join(os.path.dirname(torch.__file__), "zoo", "")
    inside_zoo = os.path.join(zoo, "resnet.py")
    assert internal_frame(inside_zoo, skip, ()) and not internal_frame(inside_zoo, skip, (zoo,))
