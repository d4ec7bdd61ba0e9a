"""Widget tests run in their own pytest process, under Xvfb, with a real engine child.

They must never share a process with TensorFlow (segfault beside Mesa OpenGL), so they
refuse to run if a core test already imported it.
"""

import sys

import pytest


def pytest_collection_modifyitems(config, items):
    if "tensorflow" in sys.modules:
        skip = pytest.mark.skip(reason="TensorFlow is loaded in this process: run tests/widgets "
                                "in its own pytest run (see README)")
        for item in items:
            if "tests/widgets" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _shutdown_shared_engine():
    yield
    from napari_convnet.engine import get_engine

    get_engine().shutdown()
