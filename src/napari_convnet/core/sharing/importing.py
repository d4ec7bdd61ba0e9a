"""Any Keras image classifier in: a ``.keras`` file, a legacy ``.h5`` or a bioimage.io package.

:func:`import_model` checks the model (:mod:`.classifier`), gives it probabilities as output,
and saves it with the class names and preprocessing the user states as a normal model bundle,
so kernels, feature maps, Grad-CAM, classifying, evaluating and continued training work on it
as on a model trained here.
"""

import os
import tempfile
import zipfile

import keras

from napari_convnet import class_list, options
from napari_convnet.core import bundle
from napari_convnet.core.sharing.classifier import as_probabilities, check_image_classifier
from napari_convnet.errors import ModelError, shorten

#: What :func:`source_kind` returns: bioimage.io's names for the Keras weight formats.
KERAS_V3, KERAS_HDF5, BIOIMAGEIO = "keras_v3", "keras_hdf5", "bioimageio"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Preprocessing a user may state (:class:`~napari_convnet.core.data_config.DataConfig` fields).
PREPROCESSING = ("image_size", "channel_axis", "normalization", "percentiles", "levels",
                 "stack_rule", "resize")


def source_kind(path):
    """:data:`KERAS_V3`, :data:`KERAS_HDF5` or :data:`BIOIMAGEIO`, read from the file itself.

    Raises
    ------
    ModelError
        A missing file, or one that is none of these.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "does not exist"
        raise ModelError(f"The model file {path!r} {what}. Give a .keras, .h5 or bioimage.io "
                         ".zip file.")
    if os.path.basename(path).endswith(("rdf.yaml", "bioimageio.yaml")):
        return BIOIMAGEIO
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5_SIGNATURE:
        return KERAS_HDF5
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
        if "config.json" in names:
            return KERAS_V3
        if names & {"rdf.yaml", "bioimageio.yaml"}:
            return BIOIMAGEIO
    raise ModelError(
        f"{path!r} is not a Keras model: not a .keras file (a zip with config.json), a legacy "
        ".h5 file, nor a bioimage.io package (a zip with rdf.yaml).")


def import_model(source, out, class_names=None, preprocessing=None, safe_mode=True,
                 overwrite=False):
    """Save a Keras classifier made elsewhere as a model bundle.

    Parameters
    ----------
    source : str or os.PathLike
        A ``.keras`` file (Keras 3), a legacy ``.h5`` (tf.keras / Keras 2) or a bioimage.io
        model package (``.zip`` or its ``rdf.yaml``) with ``keras_v3`` or ``keras_hdf5``
        weights.
    out : str or os.PathLike
        The bundle to write (``.keras``).
    class_names : list of str, str or os.PathLike, optional
        One name per class (see :func:`napari_convnet.class_list.parse`); a package's output
        channel names when not given. Required for a Keras file.
    preprocessing : dict, optional
        :data:`PREPROCESSING` fields of the
        :class:`~napari_convnet.core.data_config.DataConfig` the model was trained with.
        ``image_size`` is needed only by a model that takes any size. A package's
        preprocessing is used when not given; otherwise ``normalization`` defaults to
        :data:`napari_convnet.options.IMPORT_NORMALIZATION`.
    safe_mode : bool
        Refuse Lambda layers (code stored in the file). Only turn off for files you trust.
    overwrite : bool
        Replace an existing ``out``.

    Returns
    -------
    model : keras.Model
        Its output is class probabilities ``(N, K)`` float32.
    meta : dict
        The bundle metadata; ``meta["imported"]`` says from where, in which format, and
        what was changed (``notes``).

    Raises
    ------
    ModelError
        The file is not a usable classifier (the reason), the class names do not match its
        outputs, or ``out`` exists or is the source.
    """
    source, out = os.fspath(source), os.fspath(out)
    where = repr(source)
    _check_out(source, out, overwrite)
    kind = source_kind(source)
    given = dict(preprocessing or {})
    unknown = sorted(set(given) - set(PREPROCESSING))
    if unknown:
        raise ModelError(f"Unknown preprocessing option(s) {shorten(unknown)}; the options are "
                         f"{', '.join(PREPROCESSING)}.")
    if kind == KERAS_V3 and bundle.read_meta(source) is not None:
        raise ModelError(f"{where} is a napari-convnet model bundle already: open it as it is "
                         "(no import needed).")
    model, package = _load(source, kind, safe_mode)
    notes = ([f"From the bioimage.io package {package['name']!r} "
              f"({package['weights_format']} weights)."] if package else [])
    shape, _ = check_image_classifier(model, where)
    config = _config(shape, {**package.get("preprocessing", {}), **given}, where)
    shape = (*config.image_size, config.channels)
    if shape[:2] != (model.input_shape[1], model.input_shape[2]):
        model = _fixed_input(model, shape)
        notes.append(f"The model takes images of any size; it is used at {shape[0]}x{shape[1]} "
                     "pixels.")
    model, note = as_probabilities(model, shape, where)
    if note:
        notes.append(note)
    names = _class_names(class_names, package, int(model.output_shape[-1]), where)
    meta = {
        "class_names": names,
        "input_shape": list(shape),
        "data_config": config.to_dict(),
        "preset": None,
        "preset_options": {},
        "history": {},
        "imported": {"source": os.path.abspath(source), "format": kind, "notes": notes},
    }
    return model, bundle.save_bundle(model, out, meta)


def _load(source, kind, safe_mode):
    """The Keras model of ``source`` and, for a package, what :func:`.bioimageio.read_package`
    read (else an empty dict)."""
    if kind != BIOIMAGEIO:
        return bundle.load_keras_file(source, safe_mode), {}
    from napari_convnet.core.sharing import bioimageio

    with tempfile.TemporaryDirectory(prefix="napari-convnet-import-") as tmp:
        package = bioimageio.read_package(source, tmp)
        return bundle.load_keras_file(package["weights"], safe_mode), package


def _check_out(source, out, overwrite):
    if not out.endswith(".keras"):
        raise ModelError(f"The imported model is saved as a bundle, whose name ends in "
                         f"'.keras'. Received: {out!r}")
    if os.path.exists(out) and os.path.samefile(out, source):
        raise ModelError(f"The bundle {out!r} would replace the model being imported: save "
                         "it under another name.")
    if os.path.exists(out) and not overwrite:
        raise ModelError(f"The model bundle {out!r} exists already; choose another name or "
                         "ask to overwrite it (--overwrite).")


def _config(shape, given, where):
    """The DataConfig of the model: its input (size, channels) and the stated preprocessing."""
    from napari_convnet.core.data_config import DataConfig

    height, width, channels = shape
    size = given.pop("image_size", None)
    size = None if size in (None, options.AUTO) else tuple(size)
    if height is not None and width is not None:
        if size is not None and size != (height, width):
            raise ModelError(
                f"{where}: the model takes {height}x{width} images, not {size[0]}x{size[1]}: "
                "leave the image size out (images are fitted to the model by the resize "
                "rule).")
        size = (height, width)
    elif size is None:
        raise ModelError(
            f"{where}: the model takes images of any size: give the size to use (image size, "
            "e.g. 64 64), the size it was trained at.")
    given.setdefault("normalization", options.IMPORT_NORMALIZATION)
    if given.get("levels") is not None:
        given["levels"] = tuple(tuple(pair) for pair in given["levels"])
    if given.get("percentiles") is not None:
        given["percentiles"] = tuple(given["percentiles"])
    config = DataConfig(image_size=size, channels=channels, **given)
    if not config.complete:
        raise ModelError(
            "normalization='dataset' needs the intensity levels (low, high) of each channel "
            "that the model saw as 0 and 1: give them, or choose 'percentile', 'range' or "
            "'none'.")
    return config


def _fixed_input(model, shape):
    inputs = keras.Input(shape, name="image")
    return keras.Model(inputs, model(inputs), name=model.name)


def _class_names(given, package, classes, where):
    if given is None:
        given = package.get("class_names")
    if given is None:
        raise ModelError(
            f"{where}: give the model's class names, one per output ({classes}), in the order "
            "of its outputs: a list, names separated by commas, or a classes.txt file.")
    names = class_list.parse(given)
    if len(names) != classes:
        raise ModelError(
            f"{where}: the model has {classes} classes but {len(names)} class names were given "
            f"({shorten(names)}). Give one name per class, in the order of its outputs.")
    return names


def describe_source(source, safe_mode=True):
    """What :func:`import_model` would find in ``source``, without saving anything.

    Returns
    -------
    dict
        ``format``; ``input_shape`` ([H or None, W or None, C]); ``classes`` (after a sigmoid
        unit becomes two); ``output`` (``"probabilities"``, ``"logits"`` or ``"sigmoid"``);
        and from a package its ``class_names`` and ``preprocessing`` (else None).

    Raises
    ------
    ModelError
        As :func:`import_model` would.
    """
    from napari_convnet.core.sharing.classifier import SIGMOID, output_kind

    source = os.fspath(source)
    kind = source_kind(source)
    model, package = _load(source, kind, safe_mode)
    shape, classes = check_image_classifier(model, repr(source))
    output = output_kind(model, shape, repr(source))
    return {"format": kind, "input_shape": list(shape),
            "classes": 2 if output == SIGMOID else classes, "output": output,
            "class_names": package.get("class_names"),
            "preprocessing": package.get("preprocessing")}


def preview(image, input_shape, preprocessing=None):
    """An image as the imported model would see it, to check the stated preprocessing.

    Parameters
    ----------
    image : ndarray
        A raw 2D image, (Y, X), (Y, X, C) or (C, Y, X), any numeric dtype.
    input_shape : sequence of int
        The model's (H, W, C) (H and W may come from ``preprocessing["image_size"]``).
    preprocessing : dict, optional
        As for :func:`import_model`.

    Returns
    -------
    ndarray
        float32 (H, W, C): the model input made from ``image``.
    """
    from napari_convnet.core.images import preprocess_array

    height, width, channels = input_shape
    config = _config((height, width, channels), dict(preprocessing or {}), "The model")
    return preprocess_array(image, config)[0]
