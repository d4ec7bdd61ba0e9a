"""Requests the engine child serves: name → function(ctx, **kwargs) → picklable result.

Runs only inside the engine child (imports Keras/TensorFlow). Each function is a thin
adapter from a request to ``napari_convnet.core``; no ML logic lives here.
"""

import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from napari_convnet import __version__  # noqa: E402
from napari_convnet.errors import EngineError  # noqa: E402

_JOBS = {}


def job(name):
    """Register ``fn(ctx, **kwargs)`` as the handler of request ``name``."""

    def register(fn):
        _JOBS[name] = fn
        return fn

    return register


def load_all():
    """Import every ``engine/jobs_*.py`` module so that its requests are registered."""
    import importlib
    import pkgutil

    from napari_convnet import engine

    for module in pkgutil.iter_modules(engine.__path__):
        if module.name.startswith("jobs_"):
            importlib.import_module(f"napari_convnet.engine.{module.name}")


def run(op, ctx, kwargs):
    """Run request ``op`` with ``kwargs``; raise EngineError for an unknown request."""
    try:
        fn = _JOBS[op]
    except KeyError:
        raise EngineError(
            f"The engine has no request named {op!r}. Known requests: {sorted(_JOBS)}. "
            "Is the plugin installed twice in different versions?"
        ) from None
    return fn(ctx, **kwargs)


def _enable_memory_growth(gpus):
    # Without memory growth TF grabs all GPU memory at start-up, starving napari's canvas
    # and any other process on the card.
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can no longer be changed
            pass


def device_info():
    """Return versions and devices of this engine as a JSON-able dict.

    Returns
    -------
    dict
        ``tensorflow``, ``keras``, ``backend``, ``python``, ``plugin`` (version strings),
        ``gpus`` (list of ``{"name", "device"}``), ``device`` (first GPU name or ``"CPU"``),
        ``cpu`` (processor description), ``pid`` (engine process id).
    """
    gpus = tf.config.list_physical_devices("GPU")
    _enable_memory_growth(gpus)
    gpu_list = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        gpu_list.append({"name": details.get("device_name", gpu.name), "device": gpu.name})
    return {
        "plugin": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "python": platform.python_version(),
        "gpus": gpu_list,
        "device": gpu_list[0]["name"] if gpu_list else "CPU",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "pid": os.getpid(),
    }


@job("info")
def info(ctx):
    """Device and version information (see :func:`device_info`)."""
    return device_info()


@job("device_benchmark")
def device_benchmark(ctx, seconds=2.0, size=512):
    """Multiply ``size``×``size`` float32 matrices on the default device for up to ``seconds``.

    Emits a progress event per step and honours stop. Tells the user how fast this engine's
    device is, and which device actually ran the work.

    Returns
    -------
    dict
        ``gflops`` (float), ``steps`` (int), ``seconds`` (float), ``device`` (str).
    """
    a = tf.random.uniform((size, size), seed=1)
    b = tf.random.uniform((size, size), seed=2)
    start = time.perf_counter()
    steps = 0
    total = max(1, int(seconds * 10))
    while time.perf_counter() - start < seconds and not ctx.should_stop():
        c = tf.linalg.matmul(a, b)
        _ = c.numpy()
        steps += 1
        done = min(total, int((time.perf_counter() - start) * 10))
        ctx.emit({"type": "progress", "stage": "benchmark", "done": done, "total": total})
    elapsed = time.perf_counter() - start
    return {
        "gflops": 2 * size**3 * steps / max(elapsed, 1e-9) / 1e9,
        "steps": steps,
        "seconds": elapsed,
        "device": c.device if steps else "",
    }
