"""padiff.judge.tolerance: defaults, floors and per-layer overrides, without frameworks."""

from __future__ import annotations

import numpy as np
import pytest

from padiff.errors import InputError
from padiff.judge.metrics import compare_arrays
from padiff.judge.tolerance import (
    DEFAULT_RTOL,
    ROUNDING_ULPS,
    SHARED_FLOOR,
    Tolerances,
    default_rtol,
    group_floor,
    noise_floor,
    rounding_floor,
)


def test_a_number_applies_everywhere_and_none_means_the_dtype_default():
    assert Tolerances(1e-6, 1e-3).at("any.path") == (1e-6, 1e-3)
    assert Tolerances().at("") == (None, None)
    assert default_rtol("bfloat16") == DEFAULT_RTOL["bfloat16"] and default_rtol("int64") == 1e-4


def test_the_longest_dotted_prefix_wins_and_covers_sublayers_and_parameters():
    tol = Tolerances(atol={"": 1e-6, "blocks.3": 1e-5, "blocks.3.attn": 1e-4})
    assert tol.at("blocks.3.attn")[0] == 1e-4
    assert tol.at("blocks.3.attn.q")[0] == 1e-4  # a sublayer, or the layer owning a parameter
    assert tol.at("blocks.3.mlp")[0] == 1e-5
    assert tol.at("blocks.3.attn2")[0] == 1e-5  # a prefix of the name is not a prefix of the path
    assert tol.at("blocks.30")[0] == 1e-6 and tol.at("")[0] == 1e-6


def test_a_mapping_without_a_default_leaves_other_layers_to_the_dtype_default():
    tol = Tolerances(rtol={"head": 1e-2})
    assert tol.at("head.weight") == (None, 1e-2) and tol.at("body") == (None, None)


@pytest.mark.parametrize("bad", [-1.0, "1e-5", {"": -1}, {1: 1e-5}, True, {"x": [1e-5]}])
def test_bad_bounds_are_input_errors(bad):
    with pytest.raises(InputError):
        Tolerances(atol=bad)


def test_the_override_changes_the_verdict_of_that_path_only():
    base, raw = np.ones(8, np.float32), np.full(8, 1.001, np.float32)
    tol = Tolerances(atol={"": 0.0, "loose": 0.01}, rtol=0.0)
    assert compare_arrays(base, raw, *tol.at("loose.fc")).passed
    assert not compare_arrays(base, raw, *tol.at("strict.fc")).passed  # negative control


def test_floors_scale_with_what_they_are_floors_of():
    assert group_floor([], 0.0, None) == 0.0
    assert group_floor([2.0, 4.0], 0.0, None) == pytest.approx(SHARED_FLOOR * 3.0)
    eps32 = float(np.finfo(np.float32).eps)
    assert noise_floor(1.0, "float32", 1e-4) == pytest.approx(32 * eps32 / 1e-4)
    assert group_floor([], 1.0, 1e-4) == pytest.approx(noise_floor(1.0, "float32", 1e-4))
    weight = np.array([0.5, -3.0], np.float32)
    assert rounding_floor([weight], None) == pytest.approx(ROUNDING_ULPS * eps32 * 3.0 / 1e-4)
    assert rounding_floor([], None) == 0.0 and rounding_floor([np.zeros(0, np.float32)], None) == 0.0
