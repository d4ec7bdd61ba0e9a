"""Engine tests: one real engine child per test module."""

import pytest

from napari_convnet.engine import Engine

START_TIMEOUT = 180


@pytest.fixture(scope="module")
def engine():
    """A ready engine child shared by the module's tests, shut down after them. A module that
    needs more (a trained model, a bundle) overrides it with a fixture that takes it."""
    eng = Engine()
    eng.wait_ready(START_TIMEOUT)
    try:
        yield eng
    finally:
        eng.shutdown()
