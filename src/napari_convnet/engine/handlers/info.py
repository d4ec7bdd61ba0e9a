"""Engine requests about the engine itself: versions and devices, a device benchmark."""

import os
import platform
import time

import keras
import tensorflow as tf

from napari_convnet import __version__
from napari_convnet.engine.handlers import handler


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


@handler("info")
def info(ctx):
    """Device and version information (see :func:`device_info`)."""
    return device_info()


@handler("device_benchmark")
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
