"""Watching paddle's ops: paddle has no equivalent of torch's function mode, so while padiff narrows a
culprit down to one call (or checks that a unit computes in the dtype asked for), it patches paddle's
tensor methods (operators included) and the functions of `paddle` and `paddle.nn.functional` it knows,
for the length of one `with` block, and reports each top-level call with its output.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paddle

__all__ = ["patched_ops"]

# what padiff patches, only while it narrows a culprit down to one call: tensor methods (operators
# included) and the functions of these modules (paddle has no torch-function-mode equivalent)
_TENSOR_METHODS = (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __matmul__ __pow__ __neg__ "
    "__getitem__ matmul transpose reshape exp log sum mean max min tanh sqrt rsqrt pow abs unsqueeze squeeze "
    "flatten chunk split expand tile cast astype clip scale masked_fill softmax"
).split()
_FUNCTIONS = (
    "matmul add subtract multiply divide transpose reshape concat stack split chunk exp log sum mean max "
    "min tanh sqrt rsqrt pow where einsum bmm unsqueeze squeeze flatten clip scale erf cumsum"
).split()


@contextmanager
def patched_ops(callback: Callable[[str, Any], None]) -> Iterator[None]:
    depth = [0]  # record top-level calls only, not the patched functions they call in turn

    def wrap(name: str, original: Callable) -> Callable:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            try:
                output = original(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                callback(name, output)
            return output

        return wrapper

    functional = paddle.nn.functional
    targets = [(paddle.Tensor, name) for name in _TENSOR_METHODS] + [(paddle, name) for name in _FUNCTIONS]
    targets += [(functional, name) for name in dir(functional) if not name.startswith("_")]
    saved = []
    try:
        for owner, name in targets:
            original = getattr(owner, name, None)
            if callable(original) and not isinstance(original, type):
                saved.append((owner, name, original))
                setattr(owner, name, wrap(name, original))
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
