"""Property tests: `nested.tensor_leaves` against a reference flattening of random nested structures, and
metric properties of `compare_arrays` that test_compare.py does not state (ranges, the documented
tolerance rule away from its boundary, invariance under scaling by powers of two)."""

from __future__ import annotations

import ast
import dataclasses
import math
from collections import namedtuple
from typing import Any

import numpy as np
import paddle
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from padiff.capture.leaves import tensor_leaves
from padiff.judge.metrics import compare_arrays

# --- tensor_leaves -------------------------------------------------------------------------------------

# A blueprint is plain data describing a nested structure; `_build` makes it, `_reference` flattens it
# independently of padiff. Non-tensor leaves are values padiff must count but not walk into.
OPAQUE = (3, 2.5, "text", b"raw", np.ones(2), {1, 2}, frozenset(), 1j)

_tensor = st.just(("tensor",))
_value = st.sampled_from(range(len(OPAQUE))).map(lambda i: ("value", i))
_none = st.just(("none",))
_key = st.one_of(st.text("abcxyz", min_size=1, max_size=3), st.integers(-3, 20))


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=4).map(lambda c: ("tuple", c)),
        st.lists(children, max_size=4).map(lambda c: ("list", c)),
        st.lists(st.tuples(_key, children), max_size=4, unique_by=lambda kv: kv[0]).map(
            lambda c: ("dict", c)
        ),
        st.tuples(children, children).map(lambda c: ("dataclass", list(c))),
        st.tuples(children, children).map(lambda c: ("namedtuple", list(c))),
    )


BLUEPRINTS = st.recursive(st.one_of(_tensor, _value, _none), _containers, max_leaves=24)


@dataclasses.dataclass
class Pair:
    first: Any
    second: Any


Named = namedtuple("Named", ["first", "second"])


def _build(blueprint: tuple, make: Any, counter: list[int]) -> Any:
    """The structure; tensor number i (in depth-first order) holds the value i."""
    kind = blueprint[0]
    if kind == "tensor":
        counter[0] += 1
        return make(counter[0] - 1)
    if kind == "value":
        return OPAQUE[blueprint[1]]
    if kind == "none":
        return None
    if kind == "dict":
        return {key: _build(child, make, counter) for key, child in blueprint[1]}
    children = [_build(child, make, counter) for child in blueprint[1]]
    if kind == "tuple":
        return tuple(children)
    if kind == "list":
        return children
    return (Pair if kind == "dataclass" else Named)(*children)


def _reference(blueprint: tuple, key: str = "") -> tuple[list[str], int]:
    """(keys of the tensor leaves in order, number of non-tensor leaves other than None)."""
    kind = blueprint[0]
    if kind == "tensor":
        return [key or "out"], 0
    if kind in ("value", "none"):
        return [], int(kind == "value")
    if kind == "dict":
        parts = [_reference(child, f"{key}[{k!r}]") for k, child in blueprint[1]]
    elif kind == "dataclass":
        parts = [_reference(child, f"{key}.{name}") for name, child in zip(("first", "second"), blueprint[1])]
    else:
        parts = [_reference(child, f"{key}[{i}]") for i, child in enumerate(blueprint[1])]
    return [k for keys, _ in parts for k in keys], sum(skipped for _, skipped in parts)


def _torch(i: int) -> torch.Tensor:
    return torch.full((1,), float(i))


def _paddle(i: int) -> paddle.Tensor:
    return paddle.full([1], float(i))


def _is_torch(value: Any) -> bool:
    return isinstance(value, torch.Tensor)


def _resolve(root: Any, key: str) -> Any:
    """Follow a leaf key (``[0]['a'].first``) from the root, as Python would."""
    if key == "out":
        return root
    node, rest = root, key
    while rest:
        if rest.startswith("."):
            name = rest[1:].split(".")[0].split("[")[0]
            node, rest = getattr(node, name), rest[1 + len(name) :]
        else:
            end = rest.index("]")
            node, rest = node[ast.literal_eval(rest[1:end])], rest[end + 1 :]
    return node


@settings(max_examples=100, deadline=None)
@given(BLUEPRINTS)
def test_tensor_leaves_equals_a_reference_flattening(blueprint):
    counter = [0]
    structure = _build(blueprint, _torch, counter)
    leaves, skipped = tensor_leaves(structure, _is_torch)
    keys, values = _reference(blueprint)
    assert [key for key, _ in leaves] == keys
    assert skipped == values
    assert [float(t[0]) for _, t in leaves] == list(range(counter[0])), "depth-first order"
    for key, tensor in leaves:
        assert _resolve(structure, key) is tensor, key  # each key addresses its tensor
    assert len(set(keys)) == len(keys)


@settings(max_examples=100, deadline=None)
@given(BLUEPRINTS)
def test_tensor_leaves_with_a_predicate_that_accepts_nothing_counts_every_tensor_as_skipped(blueprint):
    """Negative control of the one above: the predicate, not the structure, decides what a leaf is."""
    counter = [0]
    structure = _build(blueprint, _torch, counter)
    keys, values = _reference(blueprint)
    assert tensor_leaves(structure, lambda v: False) == ([], values + len(keys))


@settings(max_examples=30, deadline=None)
@given(BLUEPRINTS)
def test_tensor_leaves_gives_the_same_keys_for_paddle_tensors(blueprint):
    torch_leaves, torch_skipped = tensor_leaves(_build(blueprint, _torch, [0]), _is_torch)
    paddle_leaves, paddle_skipped = tensor_leaves(
        _build(blueprint, _paddle, [0]), lambda v: isinstance(v, paddle.Tensor)
    )
    assert [k for k, _ in torch_leaves] == [k for k, _ in paddle_leaves]
    assert torch_skipped == paddle_skipped


# --- compare_arrays metrics -----------------------------------------------------------------------------

_finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_moderate = st.floats(min_value=-1e3, max_value=1e3, width=32).filter(lambda v: v == 0 or abs(v) > 1e-3)
_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)


def _pairs(elements: st.SearchStrategy) -> st.SearchStrategy:
    """Two float32 arrays of one shape."""
    return _shapes.flatmap(
        lambda shape: st.tuples(
            hnp.arrays(np.float32, shape, elements=elements), hnp.arrays(np.float32, shape, elements=elements)
        )
    )


def _compare(base: np.ndarray, raw: np.ndarray, **kwargs: Any):
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return compare_arrays(base, raw, **kwargs)


@settings(max_examples=150, deadline=None)
@given(_pairs(_finite32))
def test_metrics_stay_in_their_ranges_and_agree_with_each_other(pair):
    base, raw = pair
    diff = _compare(base, raw)
    assert abs(diff.cosine) <= 1.0 + 1e-6, diff  # exactly within [-1, 1]: see the test below
    assert 0.0 <= diff.close_frac <= 1.0, diff
    assert diff.passed == (diff.close_frac == 1.0), diff
    if math.isfinite(diff.max_abs):
        assert 0.0 <= diff.mean_abs <= diff.max_abs * (1 + 1e-6), diff


# found by the property above: float32 dot products put the cosine just outside [-1, 1]
COSINE_OUTLIERS = [([1.0], [256.8125]), ([-1.9710664e16], [6.2761106e15])]


@pytest.mark.parametrize("base, raw", COSINE_OUTLIERS)
def test_cosine_of_parallel_or_opposite_vectors_is_within_minus_one_and_one(base, raw):
    cosine = _compare(np.array(base, dtype=np.float32), np.array(raw, dtype=np.float32)).cosine
    assert -1.0 <= cosine <= 1.0
    assert abs(abs(cosine) - 1.0) < 1e-6  # and it is +-1 up to rounding, not something else


@settings(max_examples=150, deadline=None)
@given(_pairs(_moderate), st.sampled_from([None, 1e-3, 0.5]), st.sampled_from([None, 1e-4, 1e-2]))
def test_passed_implies_max_abs_within_atol_plus_rtol_times_max_base(pair, atol, rtol):
    base, raw = pair
    diff = _compare(base, raw, atol=atol, rtol=rtol)
    max_base = float(np.abs(base).max())
    assert diff.max_rel == (diff.max_abs / max_base if max_base else diff.max_rel)
    if diff.passed:
        assert diff.max_abs <= diff.atol + diff.rtol * max_base * (1 + 1e-6), diff
    else:  # negative control: a failed pair has an element outside its own bound
        bound = diff.atol + diff.rtol * np.abs(base.astype(np.float64))
        assert np.any(np.abs(raw.astype(np.float64) - base) > bound * (1 - 1e-6)), diff


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.float32, _shapes, elements=_moderate),
    st.data(),
    st.sampled_from(["inside", "outside"]),
)
def test_the_verdict_follows_the_documented_rule_away_from_its_boundary(base, data, where):
    """|raw - base| <= atol + rtol * |base| elementwise, atol = rtol * mean of the non-zero |base|."""
    if not np.any(base):
        return
    rtol = 1e-4
    magnitudes = np.abs(base).astype(np.float64)
    scale = float(magnitudes.sum()) / np.count_nonzero(magnitudes)
    bound = rtol * scale + rtol * magnitudes
    signs = data.draw(hnp.arrays(np.int8, base.shape, elements=st.sampled_from([-1, 1])))
    if where == "inside":
        raw = (base + 0.5 * bound * signs).astype(np.float32)
    else:
        index = data.draw(st.integers(0, base.size - 1))
        raw = base.astype(np.float64).copy()
        raw.flat[index] += 2.0 * bound.flat[index] * signs.flat[index]
        raw = raw.astype(np.float32)
    assert _compare(base, raw).passed is (where == "inside")


@settings(max_examples=150, deadline=None)
@given(
    _pairs(_moderate),
    st.integers(-30, 30),
    st.sampled_from(["strict", "mean"]),
    st.sampled_from([None, 1e-3]),
)
def test_scaling_both_sides_by_a_power_of_two_keeps_the_verdict(pair, exponent, mode, rtol):
    base, raw = pair
    factor = np.float32(2.0**exponent)
    plain = _compare(base, raw, mode=mode, rtol=rtol)
    scaled = _compare(base * factor, raw * factor, mode=mode, rtol=rtol)
    assert scaled.passed == plain.passed
    assert scaled.close_frac == plain.close_frac
    assert scaled.max_rel == plain.max_rel
    assert scaled.max_abs == plain.max_abs * float(factor)
    assert scaled.atol == pytest.approx(plain.atol * float(factor), rel=1e-12)
    assert scaled.cosine == pytest.approx(plain.cosine, abs=1e-5)


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float32, _shapes, elements=_moderate), st.integers(-30, 30))
def test_scaling_one_side_only_is_a_difference(base, exponent):
    """Negative control of the invariance above: raw twice as large as base fails, at any scale."""
    if not np.any(base):
        return
    factor = np.float32(2.0**exponent)
    assert not _compare(base * factor, base * factor * 2).passed
