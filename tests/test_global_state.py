"""Framework random generators are put back after a run: the CPU one, and torch's CUDA ones when CUDA is
in use (that test needs a GPU and is skipped without one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.models import draws


def _twins(device: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return draws(device), draws(device)


def test_the_cpu_generator_is_put_back():
    base, raw = _twins("cpu")
    before = torch.random.get_rng_state()
    report = padiff.compare(base, raw, np.ones((2, 4), np.float32))
    assert report.passed and torch.equal(torch.random.get_rng_state(), before)
    assert_compared(report, base)
    torch.randn(1)
    assert not torch.equal(torch.random.get_rng_state(), before)  # control: a draw does move it


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_cuda_generators_are_put_back():
    base, raw = _twins("cuda")
    x = torch.ones(2, 4, device="cuda")
    before = torch.cuda.get_rng_state_all()
    report = padiff.compare(base, raw, (x, x.clone()))
    assert report.passed
    assert_compared(report, base)
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), before))
    torch.randn(1, device="cuda")
    assert not all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), before))
