"""Model bundles: a ``.keras`` file that also carries what prediction needs to be reproducible.

The metadata (class names, input shape, data configuration, preset, history, versions...)
is a JSON member ``napari_convnet.json`` inside the ``.keras`` zip, so a bundle is one file
to copy or e-mail. Keras ignores the extra member when loading.

Saving is atomic: the bundle is written to a temporary file in the destination folder and
moved over the destination with ``os.replace``; a crash or a stop in the middle leaves the
previous file untouched and no partial file under the destination name.
"""

import json
import os
import platform
import warnings
import zipfile

import keras
import numpy as np

from napari_convnet import __version__
from napari_convnet.atomic import replacing
from napari_convnet.core import (
    metadata,
    presets,  # noqa: F401  (registers custom layers for loading)
)
from napari_convnet.core.outputs import check_writable
from napari_convnet.errors import ModelError, shorten
from napari_convnet.run_records import utc_now

#: The member of the ``.keras`` zip that holds the metadata (see :mod:`.metadata`).
META_MEMBER = metadata.META_MEMBER
FORMAT = metadata.FORMAT
FORMAT_VERSION = metadata.FORMAT_VERSION


def library_versions():
    """Versions of the libraries that shape a model's behaviour (JSON-able dict).

    ``backend`` names the Keras backend that wrote the bundle, with its library's version
    (``tensorflow``, ``jax`` or ``torch``); only that library is imported.
    """
    from napari_convnet.core.devices import backend_versions

    return {
        "napari_convnet": __version__,
        "keras": keras.__version__,
        **backend_versions(),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _check_meta(model, meta, where="The bundle metadata"):
    """Check every field (:func:`.metadata.check_fields`), then against the model itself."""
    metadata.check_fields(meta, where)
    outputs = model.output_shape[-1]
    if len(meta["class_names"]) != outputs:
        raise ModelError(
            f"{where}: the model has {outputs} outputs but the metadata names "
            f"{len(meta['class_names'])} classes ({shorten(meta['class_names'])})."
        )
    if list(model.input_shape[1:]) != list(meta["input_shape"]):
        raise ModelError(
            f"{where}: the model takes input {tuple(model.input_shape[1:])} but the metadata "
            f"says input_shape={tuple(meta['input_shape'])}."
        )


def save_bundle(model, path, meta):
    """Save ``model`` and its metadata as one ``.keras`` file, atomically.

    Parameters
    ----------
    model : keras.Model
    path : str or os.PathLike
        Destination; must end in ``.keras``. Its folder is created when missing.
    meta : dict
        JSON-able metadata with at least ``class_names`` (list of str, one per output),
        ``input_shape`` ([H, W, C]) and ``data_config`` (``DataConfig.to_dict()``).
        ``format``, ``format_version``, ``versions`` and ``created`` are added when absent.

    Returns
    -------
    dict
        The metadata as written.

    Raises
    ------
    ModelError
        Bad path or metadata that does not match the model.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ModelError(f"A model bundle file name must end in '.keras'. Received: {path!r}")
    meta = dict(meta)
    meta.setdefault("format", FORMAT)
    meta.setdefault("format_version", FORMAT_VERSION)
    meta.setdefault("versions", library_versions())
    meta.setdefault("created", utc_now())
    _check_meta(model, meta)
    try:
        text = json.dumps(meta, indent=1, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"Bundle metadata must be JSON-able: {exc}") from exc
    check_destination(path)
    try:
        with replacing(path, suffix=".tmp.keras") as tmp:
            model.save(tmp, overwrite=True)
            with zipfile.ZipFile(tmp, "a") as zf:
                zf.writestr(META_MEMBER, text)
    except OSError as exc:  # full disk, permissions, a file where a folder should be...
        kept = "the previous file is unchanged" if os.path.exists(path) else "nothing was written"
        raise ModelError(
            f"Cannot save the model bundle {path!r}: {exc.strerror or exc} ({kept}). Free some "
            "disk space or choose another output file in a folder you can write to."
        ) from exc
    return meta


def check_destination(path):
    """Check that a bundle can be written at ``path``; return its (absolute) folder.

    Called before training, so a run is not lost to an output path that cannot work (see
    :func:`napari_convnet.core.outputs.unwritable`).

    Raises
    ------
    ModelError
        Saying which part of the path is the problem and what to do.
    """
    check_writable(path, "model bundle", "output file (--out)", ModelError)
    return os.path.dirname(os.path.abspath(os.fspath(path)))


def read_meta(path):
    """Read a bundle's metadata without loading the model (fast; no Keras work).

    The metadata is read with a size cap and every field checked (:mod:`.metadata`), so a
    bundle that is refused here is refused on every surface, before Keras reads anything.

    Returns
    -------
    dict or None
        None when the file is a ``.keras`` zip without napari-convnet metadata.

    Raises
    ------
    ModelError
        Missing file, not a ``.keras`` zip, metadata too large, damaged or invalid.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "does not exist"
        raise ModelError(f"Model bundle {path!r} {what}. Give the path of a .keras file.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise ModelError(
                    f"{path!r} is a zip file but not a Keras model (no config.json inside)."
                )
            if META_MEMBER not in names:
                return None
            meta = metadata.read_member(zf, repr(path))
    except zipfile.BadZipFile:
        raise ModelError(
            f"{path!r} is not a model bundle: not a .keras (zip) file, or it is damaged. "
            "Give a .keras file saved by napari-convnet (napari-convnet train --out ...)."
        ) from None
    metadata.check_fields(meta, repr(path))
    return meta


def _foreign_meta(model, path):
    shape = list(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    warnings.warn(
        f"{path!r} has no napari-convnet metadata; assuming classes class_0..class_{classes - 1}, "
        f"input {tuple(shape)}, percentile normalisation. Predictions may be wrong if the "
        "model was trained with other preprocessing.",
        stacklevel=3,
    )
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "class_names": [f"class_{i}" for i in range(classes)],
        "input_shape": shape,
        "data_config": {"image_size": shape[:2], "channels": shape[2]},
        "preset": None, "preset_options": {}, "history": {}, "inferred": True,
    }


def load_keras_file(path, safe_mode=True):
    """``keras.saving.load_model`` of a ``.keras`` or legacy ``.h5`` file, uncompiled, with
    its failures said as a :class:`ModelError` (a Lambda layer refused by ``safe_mode``: why,
    and what to do)."""
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:  # Keras raises many types for bad content; the user needs why
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelError(
                f"{path!r} contains a Lambda layer (Python code stored in the file), which "
                "is refused because loading it could run arbitrary code. Only if you trust "
                "its author, load it in Python with load_bundle(path, safe_mode=False)."
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ModelError(f"Cannot load the model in {path!r}: {first}") from exc


def load_bundle(path, safe_mode=True, allow_foreign=False):
    """Load a model bundle written by :func:`save_bundle`.

    Parameters
    ----------
    path : str or os.PathLike
    safe_mode : bool
        Passed to ``keras.saving.load_model``: refuses Lambda layers (arbitrary code). Only
        turn it off for files you trust.
    allow_foreign : bool
        Accept a ``.keras`` file without napari-convnet metadata, inferring class names
        ``class_0...`` and the input shape from the model (with a warning). By default such a
        file is refused with a ModelError that says what is missing.

    Returns
    -------
    model : keras.Model
        Uncompiled (training compiles it again with its own optimiser settings).
    meta : dict
        See docs/models.md for the keys.

    Raises
    ------
    ModelError
        Missing or damaged file, not a bundle, unsafe content, metadata not matching the model.
    """
    path = os.fspath(path)
    meta = read_meta(path)
    if meta is None and not allow_foreign:
        raise ModelError(
            f"{path!r} is a Keras model but not a napari-convnet bundle: it has no "
            f"{META_MEMBER} (class names, input shape, normalisation), so predictions could "
            "not be reproduced. Import it first, giving its class names and preprocessing "
            "(napari-convnet import FILE --classes ... --out BUNDLE.keras, or Import model... "
            "in the Train step), or in Python load it with load_bundle(path, "
            "allow_foreign=True) to use default class names and preprocessing."
        )
    model = load_keras_file(path, safe_mode)
    if meta is None:
        meta = _foreign_meta(model, path)
    _check_meta(model, meta, repr(path))
    return model, meta
