"""padiff.capture.leaves.tensor_leaves: every tensor of a nested output, in order, and a count of what was skipped."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from dataclasses import dataclass
from typing import Any

import numpy as np
import paddle
import pytest
import torch

from padiff.capture.leaves import tensor_leaves

Pair = namedtuple("Pair", ["first", "second"])


@dataclass
class Output:
    logits: Any
    hidden: Any
    cache: Any = None
    steps: int = 0


def _torch(value: float) -> torch.Tensor:
    return torch.full((2,), float(value))


def _paddle(value: float) -> paddle.Tensor:
    return paddle.full([2], float(value))


FRAMEWORKS = {
    "torch": (_torch, lambda v: isinstance(v, torch.Tensor)),
    "paddle": (_paddle, lambda v: isinstance(v, paddle.Tensor)),
}


def _values(leaves) -> list[float]:
    return [float(np.asarray(t.numpy())[0]) for _, t in leaves]


@pytest.fixture(params=sorted(FRAMEWORKS))
def kit(request):
    return FRAMEWORKS[request.param]


def test_a_bare_tensor_is_one_leaf(kit):
    make, is_tensor = kit
    tensor = make(1)
    leaves, skipped = tensor_leaves(tensor, is_tensor)
    assert [key for key, _ in leaves] == ["out"]
    assert leaves[0][1] is tensor
    assert skipped == 0


def test_tuples_lists_dicts_in_order_with_keys(kit):
    make, is_tensor = kit
    tensors = [make(i) for i in range(5)]
    nested = (tensors[0], [tensors[1], {"b": tensors[2], "a": tensors[3]}], tensors[4])
    leaves, skipped = tensor_leaves(nested, is_tensor)
    assert len(leaves) == 5 and all(found is tensor for (_, found), tensor in zip(leaves, tensors))
    assert _values(leaves) == [0, 1, 2, 3, 4]  # dict insertion order, not sorted keys
    assert [key for key, _ in leaves] == ["[0]", "[1][0]", "[1][1]['b']", "[1][1]['a']", "[2]"]
    assert skipped == 0


def test_dataclass_and_namedtuple_are_walked(kit):
    make, is_tensor = kit
    out = Output(logits=make(1), hidden=Pair(first=make(2), second=[make(3)]), cache=None, steps=7)
    leaves, skipped = tensor_leaves(out, is_tensor)
    assert _values(leaves) == [1, 2, 3]
    assert [key for key, _ in leaves] == [".logits", ".hidden[0]", ".hidden[1][0]"]
    assert skipped == 1  # steps=7; cache=None is not counted


def test_none_is_not_counted_but_other_non_tensors_are(kit):
    make, is_tensor = kit
    nested = {"x": make(1), "none": None, "n": 3, "s": "text", "f": 2.5, "arr": np.ones(2), "empty": ()}
    leaves, skipped = tensor_leaves(nested, is_tensor)
    assert _values(leaves) == [1]
    assert skipped == 4  # 3, "text", 2.5, the numpy array; None and the empty tuple are nothing
    # negative control: a structure of None only skips nothing and finds nothing
    assert tensor_leaves([None, (None,)], is_tensor) == ([], 0)


def test_ordered_dict_like_model_output(kit):
    """Hugging Face ModelOutput is an OrderedDict: walked as a mapping, in insertion order."""
    make, is_tensor = kit
    out = OrderedDict([("loss", make(9)), ("logits", make(8)), ("past", (make(7), 5))])
    leaves, skipped = tensor_leaves(out, is_tensor)
    assert _values(leaves) == [9, 8, 7]
    assert [key for key, _ in leaves] == ["['loss']", "['logits']", "['past'][0]"]
    assert skipped == 1


def test_predicate_decides_what_a_tensor_is():
    """With torch's predicate, paddle tensors are non-tensor leaves (skipped), and the other way round."""
    nested = [_torch(1), _paddle(2), (_torch(3), _paddle(4))]
    torch_leaves, torch_skipped = tensor_leaves(nested, FRAMEWORKS["torch"][1])
    paddle_leaves, paddle_skipped = tensor_leaves(nested, FRAMEWORKS["paddle"][1])
    assert _values(torch_leaves) == [1, 3] and torch_skipped == 2
    assert _values(paddle_leaves) == [2, 4] and paddle_skipped == 2
    assert all(isinstance(t, torch.Tensor) for _, t in torch_leaves)
    assert all(isinstance(t, paddle.Tensor) for _, t in paddle_leaves)
    # negative control: a predicate that accepts nothing finds nothing and does not iterate into tensors
    assert tensor_leaves(nested, lambda v: False) == ([], 4)


def test_tensors_are_returned_by_identity_not_copied(kit):
    make, is_tensor = kit
    tensor = make(5)
    (key, found), *_ = tensor_leaves({"t": tensor}, is_tensor)[0]
    assert found is tensor and key == "['t']"


def test_self_referencing_structure_does_not_recurse_forever(kit):
    make, is_tensor = kit
    loop: list[Any] = [make(1)]
    loop.append(loop)
    leaves, skipped = tensor_leaves(loop, is_tensor)
    assert len(leaves) > 1  # the same tensor is met again at each level, up to the depth limit
    assert all(t is loop[0] for _, t in leaves)
    assert skipped == 1  # the level past the depth limit counts as one skipped value
