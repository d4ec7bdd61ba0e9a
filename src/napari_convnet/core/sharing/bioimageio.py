"""Model bundles as bioimage.io model packages (spec 0.5), and packages read back.

A package holds the ``.keras`` file as ``keras_v3`` weights (augmentation layers left out, so
plain Keras loads it) and, where Keras can export it, ``onnx`` weights; one input ``image``
with axes (batch, y, x, channel) of the bundle's input size; one output ``probabilities``
with axes (batch, channel) whose channel names are the class names (how bioimage.io describes
a classifier); test tensors made from the training images; a cover; a README with the
training record; authors, licence and citation.

What bioimage.io pre-processing can say, it says: ``percentile`` is ``scale_range`` over the
whole image (all channels together, as here), ``dataset`` is ``scale_linear`` with each
channel's gain and offset, ``range`` is ``scale_linear`` by 1 / the images' dtype maximum.
What it cannot say (fitting to the input size, stack projection, channel conversion) is done
before the image enters the package: the README says so, and the test input shows it.
"""

import contextlib
import dataclasses
import io
import logging
import os
import tempfile
import zipfile

import keras
import numpy as np

from napari_convnet import __version__
from napari_convnet.core.sharing import package_contents as contents
from napari_convnet.core.sharing.classifier import inference_copy
from napari_convnet.errors import ConvnetError, ModelError, shorten

#: File names inside a package.
WEIGHTS, ONNX, RDF = "model.keras", "model.onnx", "rdf.yaml"
TEST_INPUT, TEST_OUTPUT, COVER, README = ("test_input.npy", "test_output.npy", "cover.png",
                                          "README.md")
_INSTALL = 'pip install "napari-convnet[share]"'


@dataclasses.dataclass
class PackageInfo:
    """What the user says about a model for bioimage.io (asked by the dock and the CLI).

    Parameters
    ----------
    name : str
        Title of the model (e.g. "Texture classifier").
    description : str
        One or two sentences: what it classifies, from which images.
    authors : list of str
        Names of the people who made it (at least one).
    license : str
        SPDX licence identifier of the weights (``"CC-BY-4.0"``, ``"MIT"``...).
    cite : str
        How to cite it: a text; a DOI (``10.xxxx/...``) or URL may follow after a space.
    """

    name: str
    description: str
    authors: list
    license: str = "CC-BY-4.0"
    cite: str = "napari-convnet https://github.com/napari-convnet/napari-convnet"

    def __post_init__(self):
        self.authors = [str(a).strip() for a in self.authors if str(a).strip()]
        for field in ("name", "description", "license", "cite"):
            if not str(getattr(self, field) or "").strip():
                raise ModelError(f"A bioimage.io package needs a {field}: give one.")
        if not 5 <= len(self.name.strip()) <= 128:
            raise ModelError(f"A bioimage.io model name has 5 to 128 characters. Received: "
                             f"{shorten(repr(self.name), 160)}")
        if not self.authors:
            raise ModelError("A bioimage.io package needs at least one author: give a name.")


def _spec():
    try:
        import bioimageio.spec
        import yaml
    except ImportError:
        raise ModelError(f"bioimage.io packages need bioimageio.core ({_INSTALL}).") from None
    return bioimageio.spec, yaml


def _cite(text):
    """``{"text", "doi"|"url"}`` from the user's citation text."""
    words = text.strip().split()
    last = words[-1] if len(words) > 1 else ""
    if last.startswith("10.") and "/" in last:
        return {"text": " ".join(words[:-1]), "doi": last}
    if last.startswith(("http://", "https://")):
        return {"text": " ".join(words[:-1]), "url": last}
    return {"text": text.strip(), "url": "https://github.com/napari-convnet/napari-convnet"}


def _versions():
    from napari_convnet.core.devices import backend_versions

    versions = backend_versions()
    return versions["backend"], str(versions[versions["backend"]]).split("+")[0]


def _rdf(meta, info, onnx_opset, steps):
    height, width, channels = meta["input_shape"]
    backend, version = _versions()
    weights = {"keras_v3": {"source": WEIGHTS, "keras_version": keras.__version__.split("+")[0],
                            "backend": [backend, version]}}
    if onnx_opset is not None:
        weights["onnx"] = {"source": ONNX, "opset_version": int(onnx_opset),
                           "parent": "keras_v3"}
    spec, _ = _spec()
    return {
        "type": "model",
        "format_version": spec.model.v0_5.ModelDescr.implemented_format_version,
        "name": info.name,
        "description": info.description,
        "authors": [{"name": a} for a in info.authors],
        "cite": [_cite(info.cite)],
        "license": info.license,
        "documentation": {"source": README},
        "covers": [{"source": COVER}],
        "tags": ["napari-convnet", "classification", "2d", "keras"],
        "inputs": [{
            "id": "image",
            "axes": [{"type": "batch"},
                     {"type": "space", "id": "y", "size": int(height)},
                     {"type": "space", "id": "x", "size": int(width)},
                     {"type": "channel",
                      "channel_names": [f"channel{i}" for i in range(int(channels))]}],
            "test_tensor": {"source": TEST_INPUT},
            "data": {"type": "float32"},
            "preprocessing": steps,
        }],
        "outputs": [{
            "id": "probabilities",
            "axes": [{"type": "batch"},
                     {"type": "channel", "channel_names": list(meta["class_names"])}],
            "test_tensor": {"source": TEST_OUTPUT},
            "data": {"type": "float32", "range": [0.0, 1.0]},
        }],
        "weights": weights,
        "config": {"napari_convnet": {"version": __version__,
                                      "data_config": meta["data_config"]}},
    }


def _npy(array):
    out = io.BytesIO()
    np.save(out, np.asarray(array, np.float32))
    return out.getvalue()


def _onnx_weights(model, tmp, raw_model_input, notes):
    """Write model.onnx in ``tmp`` when Keras can export it (checked); its opset, or None."""
    from napari_convnet.core.sharing import onnx_export

    path = os.path.join(tmp, ONNX)
    try:
        onnx_export.export_onnx(model, path)
        onnx_export.check(model, path, raw_model_input)
        import onnx

        opsets = [o.version for o in onnx.load(path, load_external_data=False).opset_import
                  if o.domain in ("", "ai.onnx")]
        return max(opsets)
    except (ConvnetError, ImportError) as exc:
        notes.append(f"No ONNX weights: {shorten(exc, 300)}")
        return None


def export_package(model, meta, out, info, data=None, onnx=True, run_test=True,
                   on_event=None):
    """Write a bioimage.io model package of a bundle, validate it, and test it.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        The bundle metadata.
    out : str or os.PathLike
        The package (``.zip``).
    info : PackageInfo
    data : str, optional
        A folder of class folders to take test images and the evaluation from; default the
        folder the model was trained on (``meta["dataset"]["root"]``).
    onnx : bool
        Also add ONNX weights (when Keras can export the model; a note says when not).
    run_test : bool
        Run bioimage.io's own test (``bioimageio.core.test_model``) on the written package.

    Returns
    -------
    dict
        ``path``, ``weights`` (formats), ``notes`` (list of str), ``test`` (``"passed"``,
        ``"not run"``), ``report`` (evaluation on ``data``), ``max_difference`` (largest
        difference between the test output and the package's own prediction).

    Raises
    ------
    ModelError
        No package library, no test images, a package that fails validation or its test
        (the validator's first error); nothing is left at ``out`` then.
    """
    from napari_convnet.atomic import writing
    from napari_convnet.core._predict import data_config
    from napari_convnet.core.evaluation import evaluate_folder

    out = os.fspath(out)
    if not out.endswith(".zip"):
        raise ModelError(f"A bioimage.io package name must end in '.zip'. Received: {out!r}")
    _spec()
    emit = on_event or (lambda event: None)
    from napari_convnet.core.sharing.samples import data_folder

    folder = data_folder(meta, data)
    if folder is None:
        raise ModelError(
            f"The package needs test images from the model's data folder, and "
            f"{shorten(repr(data or (meta.get('dataset') or {}).get('root')), 200)} is not a "
            "folder here: give the folder of class folders it was trained on (or one like "
            "it).")
    data = folder
    config = data_config(meta)
    emit({"type": "progress", "stage": "preparing test images", "done": 0, "total": 4})
    raw, dtype_max, _ = contents.test_images(meta, data)
    exported = inference_copy(model)
    model_input = contents.apply_steps(raw, config, dtype_max)
    probabilities = np.asarray(exported.predict(model_input, verbose=0), np.float32)
    report = evaluate_folder(model, meta, data)
    notes = [n for n in (meta.get("imported") or {}).get("notes", [])]
    steps = contents.preprocessing_steps(config, dtype_max)
    with tempfile.TemporaryDirectory(prefix="napari-convnet-package-") as tmp:
        emit({"type": "progress", "stage": "writing weights", "done": 1, "total": 4})
        exported.save(os.path.join(tmp, WEIGHTS))
        opset = _onnx_weights(exported, tmp, model_input, notes) if onnx else None
        files = {TEST_INPUT: _npy(raw), TEST_OUTPUT: _npy(probabilities),
                 COVER: contents.cover_png(raw, probabilities, meta["class_names"]),
                 README: contents.readme(meta, info, report, notes).encode("utf-8")}
        _, yaml = _spec()
        files[RDF] = yaml.safe_dump(_rdf(meta, info, opset, steps), sort_keys=False,
                                    allow_unicode=True).encode("utf-8")
        emit({"type": "progress", "stage": "validating the package", "done": 2, "total": 4})
        with writing(out, "the bioimage.io package") as tmp_zip:
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, content in files.items():
                    zf.writestr(name, content)
                zf.write(os.path.join(tmp, WEIGHTS), WEIGHTS)
                if opset is not None:
                    zf.write(os.path.join(tmp, ONNX), ONNX)
            check_package(tmp_zip, out)
            test = "not run"
            if run_test:
                emit({"type": "progress", "stage": "testing the package (bioimageio)",
                      "done": 3, "total": 4})
                test_package(tmp_zip, out)
                test = "passed"
    emit({"type": "progress", "stage": "package written", "done": 4, "total": 4})
    return {"path": out, "weights": ["keras_v3"] + (["onnx"] if opset is not None else []),
            "notes": notes, "test": test, "report": report}


@contextlib.contextmanager
def core_environment():
    """Run bioimageio.core on the Keras backend already running, quietly, and leave the
    environment as it was: its Keras adapter sets ``KERAS_BACKEND`` to its own setting (default
    ``torch``) when first imported, which processes started later would inherit."""
    saved = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = keras.backend.backend()  # read once, at its first import
    interactive = keras.utils.is_interactive_logging_enabled()
    keras.utils.disable_interactive_logging()  # its predict calls draw Keras progress bars
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # "... triggered tf.function retracing" on each test
    try:
        yield
    finally:
        tf_logger.setLevel(level)
        if interactive:
            keras.utils.enable_interactive_logging()
        if saved is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = saved


def _first_error(summary):
    """The first error of a bioimage.io ValidationSummary, as one line."""
    for detail in summary.details:
        for error in detail.errors or []:
            loc = ".".join(str(p) for p in error.loc) if error.loc else ""
            return f"{loc}: {error.msg}" if loc else str(error.msg)
    return str(summary.status)


def check_package(path, shown=None):
    """Validate the package at ``path`` (bioimage.io's static checks); return its description.

    Raises
    ------
    ModelError
        It fails validation: the validator's first error.
    """
    spec, _ = _spec()
    shown = shown or os.fspath(path)
    descr = spec.load_description(os.path.abspath(os.fspath(path)), perform_io_checks=True)
    if not isinstance(descr, spec.model.v0_5.ModelDescr):
        summary = descr.validation_summary
        raise ModelError(f"{shown!r} is not a valid bioimage.io model (spec 0.5): "
                         f"{shorten(_first_error(summary), 400)}")
    return descr


def test_package(path, shown=None):
    """Run bioimage.io's own test of the package (its test input through its weights).

    Raises
    ------
    ModelError
        The test fails: its first error.
    """
    with core_environment():
        try:
            from bioimageio.core import test_model
        except ImportError:
            raise ModelError(f"Testing a bioimage.io package needs bioimageio.core "
                             f"({_INSTALL}).") from None
        summary = test_model(os.path.abspath(os.fspath(path)))
    if summary.status != "passed":
        raise ModelError(f"bioimage.io's test of {shown or os.fspath(path)!r} failed: "
                         f"{shorten(_first_error(summary), 400)}")
    return summary


def _axes(tensor):
    return [(str(a.type), str(getattr(a, "id", a.type))) for a in tensor.axes]


def read_package(path, folder):
    """Read a bioimage.io classification package for :func:`~.importing.import_model`.

    Parameters
    ----------
    path : str
        The package ``.zip`` (or its ``rdf.yaml``).
    folder : str
        Where the Keras weights file is written.

    Returns
    -------
    dict
        ``name``; ``weights`` (path of the ``.keras``/``.h5`` file in ``folder``);
        ``weights_format``; ``class_names`` (the output's channel names); ``preprocessing``
        (DataConfig fields: the package's own napari-convnet settings when it has them, else
        the normalisation its pre-processing stands for).

    Raises
    ------
    ModelError
        The package fails validation (the validator's first error), is not a classifier
        with one image input (batch, y, x, channel) and one output (batch, channel), or has
        no Keras weights.
    """
    descr = check_package(path)
    where = repr(os.fspath(path))
    if len(descr.inputs) != 1 or len(descr.outputs) != 1:
        raise ModelError(f"{where} has {len(descr.inputs)} input(s) and {len(descr.outputs)} "
                         "output(s); an image classifier has one of each.")
    inp, outp = descr.inputs[0], descr.outputs[0]
    if [t for t, _ in _axes(inp)] != ["batch", "space", "space", "channel"]:
        raise ModelError(f"{where}: the input's axes are {[i for _, i in _axes(inp)]}; a Keras "
                         "image classifier here takes (batch, y, x, channel).")
    if [t for t, _ in _axes(outp)] != ["batch", "channel"]:
        raise ModelError(f"{where}: the output's axes are {[i for _, i in _axes(outp)]}, not "
                         "(batch, channel): the model is not a classifier (a segmentation or "
                         "restoration model, perhaps).")
    entry, kind, name = descr.weights.keras_v3, "keras_v3", WEIGHTS
    if entry is None:
        entry, kind, name = descr.weights.keras_hdf5, "keras_hdf5", "model.h5"
    if entry is None:
        formats = [f for f in ("onnx", "pytorch_state_dict", "torchscript",
                               "tensorflow_saved_model_bundle")
                   if getattr(descr.weights, f, None) is not None]
        raise ModelError(f"{where} has no Keras weights (it has {', '.join(formats) or 'none'}"
                         "): only keras_v3 and keras_hdf5 weights can be imported.")
    weights = os.path.join(folder, name)
    with open(weights, "wb") as fh:
        fh.write(entry.get_reader().read())
    channels = int(inp.axes[-1].size)
    ours = descr.config.model_dump(mode="json").get("napari_convnet") or {}
    if isinstance(ours.get("data_config"), dict):
        from napari_convnet.core.sharing.importing import PREPROCESSING

        preprocessing = {k: v for k, v in ours["data_config"].items()
                         if k in PREPROCESSING and k != "image_size"}
    else:
        steps = [{"id": str(s.id), "kwargs": s.kwargs.model_dump(mode="json")
                  if getattr(s, "kwargs", None) is not None else {}}
                 for s in inp.preprocessing]
        preprocessing = contents.normalization_of(steps, channels)
    return {"name": str(descr.name), "weights": weights, "weights_format": kind,
            "class_names": [str(c) for c in outp.axes[-1].channel_names],
            "preprocessing": preprocessing}
