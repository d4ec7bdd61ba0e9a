"""Engine requests about the engine itself: versions and devices, a device benchmark."""

import os
import platform
import time

import keras
import numpy as np

from napari_convnet import __version__
from napari_convnet.core import devices
from napari_convnet.engine.handlers import handler


def device_info():
    """Return versions and devices of this engine as a JSON-able dict.

    Returns
    -------
    dict
        ``plugin``, ``keras``, ``python`` and ``backend`` (the Keras backend's name) version
        strings, the backend's own version under its name (e.g. ``"jax": "0.6.2"``),
        ``gpus`` (list of ``{"name", "memory_bytes"}``, memory None where the backend does not
        report it), ``device`` (``"GPU: <name>"`` or ``"CPU"``), ``cpu`` (processor
        description), ``cpu_count``, ``pid`` (engine process id).
    """
    devices.enable_memory_growth()
    return {
        "plugin": __version__,
        "keras": keras.__version__,
        **devices.backend_versions(),
        "python": platform.python_version(),
        "gpus": devices.gpus(),
        "device": devices.device_name(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "pid": os.getpid(),
    }


@handler("info")
def info(ctx):
    """Device and version information (see :func:`device_info`)."""
    return device_info()


@handler("device_benchmark")
def device_benchmark(ctx, seconds=2.0, size=512):
    """Multiply ``size``×``size`` float32 matrices on the default device for up to ``seconds``.

    Emits a progress event per step and honours stop. Tells the user how fast this engine's
    device is, on whichever Keras backend it runs.

    Returns
    -------
    dict
        ``gflops`` (float), ``steps`` (int), ``seconds`` (float), ``device`` (str).
    """
    rng = np.random.default_rng(1)
    a = keras.ops.convert_to_tensor(rng.random((size, size), np.float32))
    b = keras.ops.convert_to_tensor(rng.random((size, size), np.float32))
    start = time.perf_counter()
    steps = 0
    total = max(1, int(seconds * 10))
    while time.perf_counter() - start < seconds and not ctx.should_stop():
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # waits for the device
        steps += 1
        done = min(total, int((time.perf_counter() - start) * 10))
        ctx.emit({"type": "progress", "stage": "benchmark", "done": done, "total": total})
    elapsed = time.perf_counter() - start
    return {
        "gflops": 2 * size**3 * steps / max(elapsed, 1e-9) / 1e9,
        "steps": steps,
        "seconds": elapsed,
        "device": devices.device_name(),
    }
