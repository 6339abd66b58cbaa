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


@pytest.fixture(scope="module")
def planted():
    """The cnn twin's report with a BatchNorm eps planted in raw (the report tests' failing page)."""
    import padiff
    from tests.models import build, example_input

    return padiff.compare(
        build("cnn", "torch"), build("cnn", "paddle", plant="bn_eps", seed=1), example_input("cnn")
    )


@pytest.fixture(scope="module")
def clean():
    """The cnn twin's passing report (its control)."""
    import padiff
    from tests.models import build, example_input

    return padiff.compare(build("cnn", "torch"), build("cnn", "paddle", seed=1), example_input("cnn"))
