"""A model bundle as an ONNX file, checked with onnxruntime.

Keras' own ``model.export(format="onnx")`` writes the file: on TensorFlow through tf2onnx, on
PyTorch through ``torch.onnx``, on JAX through jax2onnx. The ONNX model takes what the Keras
model takes, prepared images ``(N, H, W, C)`` float32 (the bundle's preprocessing is not in
it), and gives class probabilities ``(N, K)`` float32.
"""

import os
import shutil
import tempfile
import warnings

import keras
import numpy as np

from napari_convnet.atomic import writing
from napari_convnet.core.outputs import check_writable
from napari_convnet.core.sharing.classifier import inference_copy
from napari_convnet.errors import ModelError, shorten

#: Largest difference of probabilities between ONNX and Keras accepted by :func:`check`.
TOLERANCE = 1e-4
#: What each backend's export needs besides Keras, for the message when it is missing.
_NEEDS = {"tensorflow": "tf2onnx onnx", "jax": "jax2onnx onnx", "torch": "onnxscript onnx"}
_INSTALL = 'pip install "napari-convnet[share]"'


def export_onnx(model, path):
    """Write ``model`` as an ONNX file at ``path``, atomically.

    Parameters
    ----------
    model : keras.Model
        An image classifier, input ``(N, H, W, C)``; augmentation layers are left out.
    path : str or os.PathLike
        Destination, ending in ``.onnx``.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ModelError
        A bad path, the converter not installed, or a model the converter cannot translate.
    """
    path = os.fspath(path)
    if not path.endswith(".onnx"):
        raise ModelError(f"An ONNX file name must end in '.onnx'. Received: {path!r}")
    check_writable(path, "ONNX file", "output file", ModelError)
    model = inference_copy(model)
    shape = tuple(model.input_shape[1:])
    model(np.zeros((1, *shape), np.float32), training=False)  # export needs a called model
    backend = keras.backend.backend()
    with tempfile.TemporaryDirectory(prefix="napari-convnet-onnx-") as tmp:
        written = os.path.join(tmp, "model.onnx")
        try:
            with warnings.catch_warnings():  # tf2onnx's numpy 2 shim warns about np.object
                warnings.simplefilter("ignore", FutureWarning)
                model.export(written, format="onnx", verbose=False)
        except ImportError as exc:
            raise ModelError(
                f"Exporting to ONNX on the {backend} backend needs {_NEEDS.get(backend, 'onnx')}"
                f": {shorten(exc, 200)} Install them ({_INSTALL}), or export on another "
                "backend (napari-convnet --backend tensorflow export ...).") from None
        except Exception as exc:  # converters raise many types for ops they cannot translate
            raise ModelError(
                f"Keras could not export this model to ONNX on the {backend} backend: "
                f"{shorten(exc, 400)}") from exc
        with writing(path, "the ONNX file") as tmp_out:
            shutil.copyfile(written, tmp_out)
    return path


def onnx_probabilities(path, x):
    """Run the ONNX file on prepared images with onnxruntime (CPU).

    Parameters
    ----------
    path : str
    x : ndarray
        ``(N, H, W, C)`` float32, prepared as the bundle prepares images.

    Returns
    -------
    ndarray
        ``(N, K)`` float32 probabilities.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(f"Checking an ONNX file needs onnxruntime ({_INSTALL}).") from None
    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: np.asarray(x, np.float32)})[0], np.float32)


def check(model, path, x, tolerance=TOLERANCE):
    """The largest difference of probabilities between the ONNX file and ``model`` on ``x``.

    Raises
    ------
    ModelError
        When it is larger than ``tolerance``: the file must not be shared.
    """
    expected = np.asarray(model.predict(np.asarray(x, np.float32), verbose=0), np.float32)
    diff = float(np.abs(onnx_probabilities(path, x) - expected).max())
    if not diff <= tolerance:
        raise ModelError(
            f"The ONNX file {os.fspath(path)!r} gives probabilities up to {diff:.2g} away from "
            f"the Keras model's (more than {tolerance:g}); do not share it. Export on another "
            "backend, or share the bioimage.io package's Keras weights.")
    return diff


def sample_inputs(meta, data=None, per_class=4, limit=32):
    """Prepared images ``(N, H, W, C)`` float32 of the model's data folder (``data``, else the
    folder it was trained on) to check an ONNX file with; None when there is no folder here."""
    from napari_convnet.core._predict import data_config
    from napari_convnet.core.images import read_image
    from napari_convnet.core.sharing.samples import data_folder, sample_paths

    folder = data_folder(meta, data)
    if folder is None:
        return None
    config = data_config(meta)
    paths = sample_paths(meta, folder, per_class, limit)
    return np.concatenate([read_image(p, config)[:1] for p in paths])
