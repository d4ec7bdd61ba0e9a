"""Widget tests run in their own pytest process, under Xvfb, with a real engine child.

They must never share a process with TensorFlow (segfault beside Mesa OpenGL), so they
refuse to run if a core test already imported it.
"""

import os
import subprocess
import sys

import pytest

CORE_TESTS = os.path.join(os.path.dirname(__file__), os.pardir, "core")


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


@pytest.fixture(scope="session")
def stripe_model(tmp_path_factory):
    """Path of a bundle of the hand-set stripe classifier (tests/core/_helpers_predict.py).

    Saved by a subprocess: TensorFlow must not load in this process. The shared engine starts
    meanwhile.
    """
    from napari_convnet.engine import get_engine

    path = tmp_path_factory.mktemp("model") / "stripes.keras"
    get_engine().start()
    script = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from _helpers_predict import save_stripe_bundle; save_stripe_bundle(sys.argv[2])")
    subprocess.run([sys.executable, "-c", script, CORE_TESTS, str(path)], check=True,
                   timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return path
