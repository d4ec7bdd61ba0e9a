"""Which Keras backend runs: the choices, how ``auto`` picks one, what to install. Keras-free.

Keras 3 runs the same models and ``.keras`` files on TensorFlow, JAX and PyTorch. The
command line chooses with ``napari-convnet --backend NAME``, the ConvNet dock with its Backend
box, else ``KERAS_BACKEND``, else ``auto``. A choice must be made before Keras is imported,
and a backend that is not installed is an error that names the pip command, never a silent
fallback to another one.
"""

import importlib.util
import os
import platform
import shutil
import sys

from napari_convnet.errors import ConvnetError

BACKENDS = ("tensorflow", "jax", "torch")
CHOICES = ("auto", *BACKENDS)
#: ``auto``: the first of these that is installed and sees a GPU, else TensorFlow (which
#: then uses its GPU if it sees one: TensorFlow is never imported to find out).
AUTO_ORDER = ("torch", "jax")
#: What to run to install each backend.
INSTALL = {
    "tensorflow": 'pip install tensorflow  (Linux + NVIDIA: pip install "tensorflow[and-cuda]")',
    "jax": 'pip install "jax[cpu]"  (NVIDIA GPU: pip install "jax[cuda12]")',
    "torch": "pip install torch  (see pytorch.org for the command that matches your GPU)",
}


def installed(name):
    """True when the library of backend ``name`` can be imported here."""
    return importlib.util.find_spec(name) is not None


def _may_have_gpu(name):
    """False when backend ``name`` cannot see a GPU here, found without importing it: no
    NVIDIA driver, and (PyTorch) not an Apple-silicon Mac."""
    if name == "torch" and sys.platform == "darwin" and platform.machine() == "arm64":
        return True
    return os.path.exists("/proc/driver/nvidia") or shutil.which("nvidia-smi") is not None


def _sees_gpu(name):
    """True when backend ``name`` (``torch`` or ``jax``, installed) sees a GPU; imports it
    only where there may be one."""
    if not _may_have_gpu(name):
        return False
    if name == "torch":
        import torch

        return torch.cuda.is_available() or torch.backends.mps.is_available()
    import jax

    return any(device.platform == "gpu" for device in jax.devices())


def requested(choice=None):
    """The choice in force: ``choice``, else ``KERAS_BACKEND``, else ``"auto"``."""
    return choice or os.environ.get("KERAS_BACKEND") or "auto"


def resolve(choice=None):
    """The backend ``choice`` names: None = ``KERAS_BACKEND``, else ``auto``.

    Raises
    ------
    ConvnetError
        An unknown name, or a backend that is not installed (the message says how to
        install it).
    """
    # JAX reserves 75% of a GPU when it first looks at it (``auto`` looks): take memory as
    # needed instead, as TensorFlow does with memory growth, so napari's canvas keeps its share.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    choice = requested(choice)
    if choice == "auto":
        for name in AUTO_ORDER:
            if installed(name) and _sees_gpu(name):
                return name
        choice = "tensorflow"
    if choice not in BACKENDS:
        raise ConvnetError(f"Unknown Keras backend {choice!r}. Choose one of: "
                           f"{', '.join(CHOICES)}.")
    if not installed(choice):
        raise ConvnetError(f"The Keras backend {choice!r} is not installed. Install it with: "
                           f"{INSTALL[choice]}")
    return choice


def select(choice=None):
    """Make Keras run on :func:`resolve` (``choice``) in this process; return the name.

    Raises
    ------
    ConvnetError
        As :func:`resolve`, or Keras already runs on another backend in this process.
    """
    name = resolve(choice)
    keras = sys.modules.get("keras")
    if keras is not None:
        running = keras.backend.backend()
        if running != name:
            raise ConvnetError(f"Keras already runs on {running} in this Python process; "
                               f"start a new one to use {name}.")
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


#: How each backend's name is written for a user.
TITLES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def gpu_text(gpu):
    """``"NVIDIA H200, 139.8 GiB"`` from one ``{"name", "memory_bytes"}`` of engine info."""
    memory = gpu.get("memory_bytes")
    return gpu["name"] + (f", {memory / 2**30:.1f} GiB" if memory else "")


def describe(info):
    """One line for the engine's device info: device, GPU memory, backend and versions.

    ``info`` is the engine's device info (``napari_convnet.engine`` ``info`` request); ''
    for None.
    """
    if not info:
        return ""
    gpus = info.get("gpus") or []
    where = (f"GPU: {gpu_text(gpus[0])}" + (f" (x {len(gpus)})" if len(gpus) > 1 else "")
             if gpus else "CPU only (no GPU found)")
    name = info["backend"]
    return f"{where} · {TITLES.get(name, name)} {info.get(name, '')} · Keras {info['keras']}"
