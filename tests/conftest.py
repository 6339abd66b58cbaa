"""Shared pytest options and fixtures."""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current output instead of comparing against it",
    )


@pytest.fixture
def special_inits():
    """Registers like padiff.add_special_init, for this test only: each registration is removed after it."""
    import padiff

    registrations = []

    def register(paddle_name, torch_name, func):
        registrations.append(padiff.add_special_init(paddle_name, torch_name, func))
        return registrations[-1]

    yield register
    for registration in reversed(registrations):
        registration.remove()
