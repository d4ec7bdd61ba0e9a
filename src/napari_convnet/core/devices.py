"""Where models run: the Keras backend and its version, the device's name, ``tf.distribute``
strategies and mixed precision (TensorFlow).
"""

import contextlib
import importlib

import keras

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


def device_name():
    """``"GPU: <name>"`` (first GPU, ``" x N"`` when several) or ``"CPU"``, on any backend."""
    name = backend()
    if name == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        label = gpus[0].device_kind if gpus else None
    elif name == "torch":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        gpus = range(count)
        label = torch.cuda.get_device_name(0) if count else None
        if not count and torch.backends.mps.is_available():
            return "GPU: Apple MPS"
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        label = None
        if gpus:
            try:
                label = tf.config.experimental.get_device_details(gpus[0]).get(
                    "device_name", "GPU")
            except (RuntimeError, ValueError):
                label = "GPU"
    if not gpus:
        return "CPU"
    return f"GPU: {label}" + (f" x {len(gpus)}" if len(gpus) > 1 else "")


def has_gpu():
    """True when the running backend sees a GPU (CUDA, or Apple's MPS on PyTorch)."""
    return device_name() != "CPU"


def get_strategy(name):
    """Return the ``tf.distribute`` strategy called ``name``, or None for the default.

    ``"mirrored"`` replicates the model on every GPU, or on every logical CPU device when
    there is no GPU (how it is tested); ``"multiworker"`` reads the cluster from ``TF_CONFIG``.
    The same object is returned for the same name so a model and its training share it.
    """
    if name not in STRATEGIES:
        raise ModelError(
            f"`strategy` must be one of None, 'mirrored', 'multiworker'. Received: {name!r}"
        )
    if name is None:
        return None
    if backend() != "tensorflow":
        raise ModelError(
            f"`strategy={name!r}` is a tf.distribute strategy: it needs the TensorFlow backend "
            f"(this process runs Keras on {backend()}). Use napari-convnet --backend tensorflow, "
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
    strategy = get_strategy(name)
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


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
