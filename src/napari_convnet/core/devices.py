"""Where models run: the Keras backend and its version, the GPUs it sees and their memory,
``tf.distribute`` strategies (TensorFlow) and mixed precision, on any Keras backend.
"""

import contextlib
import importlib

import keras
import numpy as np

from napari_convnet.errors import ModelError

#: ``TrainConfig.strategy`` values (docs/models.md).
STRATEGIES = (None, "mirrored", "multiworker")
_strategies = {}


def backend():
    """The Keras backend this process runs: ``"tensorflow"``, ``"jax"`` or ``"torch"``."""
    return keras.backend.backend()


def backend_versions():
    """``{"backend": name, name: version}`` of the running backend; imports only that one."""
    name = backend()  # the backend's name is its library's
    return {"backend": name, name: importlib.import_module(name).__version__}


def gpus():
    """The GPUs the running backend sees, in its order.

    Returns
    -------
    list of dict
        ``name`` (str, e.g. ``"NVIDIA H200"``, ``"Apple MPS"``), ``memory_bytes`` (int total
        memory, or None where the backend does not say: TensorFlow, Apple's unified memory).
    """
    name = backend()
    if name == "jax":
        import jax

        return [{"name": d.device_kind, "memory_bytes": (d.memory_stats() or {}).get(
            "bytes_limit")} for d in jax.devices() if d.platform == "gpu"]
    if name == "torch":
        import torch

        if torch.cuda.is_available():
            return [{"name": torch.cuda.get_device_name(i), "memory_bytes": int(
                torch.cuda.get_device_properties(i).total_memory)}
                for i in range(torch.cuda.device_count())]
        return [{"name": "Apple MPS", "memory_bytes": None}] if \
            torch.backends.mps.is_available() else []
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            label = tf.config.experimental.get_device_details(gpu).get("device_name", "GPU")
        except (RuntimeError, ValueError):
            label = "GPU"
        found.append({"name": label, "memory_bytes": None})
    return found


def device_name():
    """``"GPU: <name>"`` (first GPU, ``" x N"`` when several) or ``"CPU"``, on any backend."""
    found = gpus()
    if not found:
        return "CPU"
    return f"GPU: {found[0]['name']}" + (f" x {len(found)}" if len(found) > 1 else "")


def enable_memory_growth():
    """Take GPU memory as needed, not all at start-up (TensorFlow; call before it allocates).

    Without it TensorFlow reserves the whole card, starving napari's canvas and any other
    process on it. PyTorch allocates as needed by default; JAX is told to by
    :func:`napari_convnet.backends.select` (``XLA_PYTHON_CLIENT_PREALLOCATE``).
    """
    if backend() != "tensorflow":
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can no longer be changed
            pass


def peak_gpu_memory():
    """Most bytes this process has held on its first GPU so far, or None (no GPU / unknown)."""
    if not gpus():
        return None
    name = backend()
    if name == "jax":
        import jax

        stats = next(d for d in jax.devices() if d.platform == "gpu").memory_stats() or {}
        return stats.get("peak_bytes_in_use")
    if name == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    import tensorflow as tf

    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def has_gpu():
    """True when the running backend sees a GPU (CUDA, or Apple's MPS on PyTorch)."""
    return device_name() != "CPU"


def get_strategy(name):
    """Return the strategy called ``name``, or None for the default.

    On TensorFlow a ``tf.distribute`` strategy: ``"mirrored"`` replicates the model on every
    GPU, or on every logical CPU device when there is no GPU (how it is tested);
    ``"multiworker"`` reads the cluster from ``TF_CONFIG``. On JAX ``"mirrored"`` is Keras'
    own data parallelism (``keras.distribution.DataParallel`` over every device). The same
    object is returned for the same name so a model and its training share it.
    """
    if name not in STRATEGIES:
        raise ModelError(
            f"`strategy` must be one of None, 'mirrored', 'multiworker'. Received: {name!r}"
        )
    if name is None:
        return None
    if backend() == "jax" and name == "mirrored":
        if name not in _strategies:
            _strategies[name] = keras.distribution.DataParallel(
                devices=keras.distribution.list_devices())
        return _strategies[name]
    if backend() != "tensorflow":
        raise ModelError(
            f"`strategy={name!r}` needs the TensorFlow backend (this process runs Keras on "
            f"{backend()}; JAX runs 'mirrored' only). Use napari-convnet --backend tensorflow, "
            "or train without a strategy.")
    if name not in _strategies:
        import tensorflow as tf

        if name == "mirrored":
            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
            cross = None
            if not devices:
                devices = [d.name for d in tf.config.list_logical_devices("CPU")]
                # NCCL all-reduce is GPU-only
                cross = tf.distribute.ReductionToOneDevice()
            _strategies[name] = tf.distribute.MirroredStrategy(devices, cross_device_ops=cross)
        else:
            _strategies[name] = tf.distribute.MultiWorkerMirroredStrategy()
    return _strategies[name]


def strategy_scope(name):
    """Context manager: the strategy's scope, or a no-op for ``None``."""
    strategy = get_strategy(name)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def replicas(name):
    """How many devices share each batch under strategy ``name``."""
    strategy = get_strategy(name)
    if strategy is None:
        return 1
    if isinstance(strategy, keras.distribution.DataParallel):
        return int(np.prod(strategy.device_mesh.shape))
    return int(strategy.num_replicas_in_sync)


@contextlib.contextmanager
def precision_policy(mixed, on_event=None):
    """Build models under ``mixed_float16`` when asked and a GPU exists; restore afterwards."""
    if not mixed:
        yield False
        return
    if not has_gpu():
        if on_event is not None:
            on_event({"type": "message", "level": "info",
                      "text": "mixed precision needs a GPU; training in float32 on the CPU"})
        yield False
        return
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield True
    finally:
        keras.config.set_dtype_policy(previous)
