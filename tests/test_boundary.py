"""Ports may draw a layer's boundary elsewhere (DenseNet: torchvision's layer returns its new channels,
paddle's returns them joined to its input). A shape difference at such a pair's edge is excused when
the parent agrees; a real difference inside is still found."""

from __future__ import annotations

import numpy as np

import padiff
from tests.checks import assert_compared
from tests.models import concat_in_block, concat_in_parent

X = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype("float32")


def test_a_layer_boundary_drawn_elsewhere_passes():
    report = padiff.compare(concat_in_parent("torch"), concat_in_block("paddle"), X)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "block.conv", "head", ""])


def test_a_real_difference_inside_such_a_layer_is_still_found():
    report = padiff.compare(concat_in_parent("torch"), concat_in_block("paddle", scale=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "block", str(report)
