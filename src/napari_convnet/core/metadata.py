"""Bundle metadata checked like user input: a ``.keras`` file may come from anyone.

:func:`read_member` reads ``napari_convnet.json`` with a size cap (the zip's word for the size
is checked, and no more than the cap is read whatever the zip says); :func:`check_fields`
checks every field's type and range without the model, and the image preparation it describes
(:class:`~napari_convnet.core.data_config.DataConfig`) against the input shape. Every refusal is a
:class:`~napari_convnet.errors.ModelError` whose received values are cut to a readable length;
no TypeError or KeyError escapes. :mod:`.bundle` adds the checks against the model itself.
"""

import json
import numbers

from napari_convnet import __version__, options
from napari_convnet.errors import ConvnetError, ModelError, shorten

META_MEMBER = "napari_convnet.json"
FORMAT = "napari-convnet-bundle"
#: The newest metadata format this version reads (and writes).
FORMAT_VERSION = 1
#: Keys every bundle's metadata has (``save_bundle`` fills ``format`` and the rest when missing).
REQUIRED_KEYS = ("class_names", "input_shape", "data_config")
#: Largest ``napari_convnet.json`` read: real ones are a few KB to a few MB (the history of
#: thousands of epochs, a dataset summary listing bad files).
MAX_BYTES = 16 * 2**20
#: Classes of a model: at least 2, and few enough to list in a table or a CSV header.
CLASSES = (2, 10_000)
#: Characters of a class name (a class is a folder, and file names stop at 255).
MAX_NAME = 255


def read_member(zf, where):
    """The parsed ``napari_convnet.json`` of the open zip ``zf``; ``where`` names the file.

    Raises
    ------
    ModelError
        Larger than :data:`MAX_BYTES`, or not UTF-8 JSON.
    """
    info = zf.getinfo(META_MEMBER)
    if info.file_size > MAX_BYTES:
        raise ModelError(_too_large(where, f"{info.file_size:,} bytes"))
    with zf.open(info) as fh:
        data = fh.read(MAX_BYTES + 1)  # a damaged or hostile zip may hold more than it says
    if len(data) > MAX_BYTES:
        raise ModelError(_too_large(where, "more than it says"))
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelError(f"{where}: the napari-convnet metadata is damaged "
                         f"({shorten(exc)}).") from None


def _too_large(where, size):
    return (f"{where}: its napari-convnet metadata ({META_MEMBER}) is {size}; at most "
            f"{MAX_BYTES:,} bytes are read. The file is damaged or was not written by "
            "napari-convnet: train or save the model again.")


def check_fields(meta, where="The bundle metadata"):
    """Check the metadata's fields (types, ranges, format version) without the model.

    Parameters
    ----------
    meta : object
        Parsed metadata (anything JSON can hold).
    where : str
        Start of every message: the file, or "The bundle metadata" when saving.

    Returns
    -------
    DataConfig
        The image preparation, image size and channels filled from ``input_shape``.

    Raises
    ------
    ModelError
        Saying which field is wrong, what it must be, and (shortened) what was received.
    """
    if not isinstance(meta, dict):
        raise ModelError(f"{where}: the metadata must be a JSON object. Received: "
                         f"{shorten(repr(meta))}")
    _check_format(meta, where)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{where}: the metadata lacks {', '.join(missing)}. Received keys: "
                         f"{shorten(sorted(map(str, meta)))}")
    _check_class_names(meta["class_names"], where)
    shape = _check_input_shape(meta["input_shape"], where)
    for key, kinds, what in (("preset", (str,), "a preset name"),
                             ("preset_options", (dict,), "an object of preset options"),
                             ("history", (dict,), "an object of metric lists")):
        value = meta.get(key)
        if value is not None and not isinstance(value, kinds):
            raise _bad(where, key, f"None or {what}", value)
    for metric, values in (meta.get("history") or {}).items():
        if not (isinstance(values, list) and all(_is_number(v) for v in values)):
            raise _bad(where, f"history[{shorten(repr(metric), 40)}]", "a list of numbers",
                       values)
    return _check_data_config(meta["data_config"], shape, where)


def _bad(where, key, what, value):
    return ModelError(f"{where}: `{key}` must be {what}. Received: {key}={shorten(repr(value))}")


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_format(meta, where):
    """``format`` must be ours and ``format_version`` one this version reads (absent = 1)."""
    fmt = meta.get("format", FORMAT)
    if fmt != FORMAT:
        raise ModelError(
            f"{where}: this is not a napari-convnet model bundle: its metadata says format="
            f"{shorten(repr(fmt), 100)} (a napari-convnet bundle says {FORMAT!r}).")
    version = meta.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad(where, "format_version", "a positive int", version)
    if version > FORMAT_VERSION:
        wrote = (meta.get("versions") or {}) if isinstance(meta.get("versions"), dict) else {}
        by = wrote.get("napari_convnet")
        need = (f"napari-convnet {shorten(by, 40)} or newer" if isinstance(by, str) and by
                else "a newer napari-convnet")
        raise ModelError(
            f"{where} uses bundle format version {version}; napari-convnet {__version__} reads "
            f"version {FORMAT_VERSION} at most. Update to {need} (pip install -U "
            "napari-convnet) to load it.")


def _check_class_names(names, where):
    low, high = CLASSES
    what = (f"a list of {low} to {high:,} distinct, non-empty strings of at most {MAX_NAME} "
            "characters (one per model output)")
    if not isinstance(names, list | tuple):
        raise _bad(where, "class_names", what, names)
    if not low <= len(names) <= high:
        raise ModelError(f"{where}: `class_names` must be {what}. Received {len(names):,} "
                         f"names: {shorten(repr(names))}")
    bad = [n for n in names if not isinstance(n, str) or not n or len(n) > MAX_NAME]
    if bad:
        raise ModelError(f"{where}: `class_names` must be {what}. Received: "
                         f"{shorten(repr(names))} (not allowed: {shorten(repr(bad))})")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1}) if len(names) < 1000 else []
        raise ModelError(f"{where}: `class_names` must be {what}; some appear twice"
                         f"{': ' + shorten(repr(twice)) if twice else ''}.")


def _check_input_shape(shape, where):
    side, channels = options.IMAGE_SIDE, options.CHANNELS
    if not (isinstance(shape, list | tuple) and len(shape) == 3
            and all(options.within(v, side, integer=True) for v in shape[:2])
            and options.within(shape[2], channels, integer=True)):
        raise _bad(where, "input_shape", f"[height, width, channels]: height and width ints "
                   f"from {side[0]} to {side[1]}, channels from {channels[0]} to "
                   f"{channels[1]}", shape)
    return tuple(shape)


def _check_data_config(config, shape, where):
    """The preparation must be a valid DataConfig, complete, and make ``shape`` inputs."""
    from napari_convnet.core._predict import data_config

    if not isinstance(config, dict):
        raise _bad(where, "data_config", "an object (DataConfig.to_dict())", config)
    try:  # hand-made metadata may leave size and channels to the model input
        data = data_config({"data_config": config, "input_shape": shape})
    except (ConvnetError, TypeError, ValueError) as exc:
        raise ModelError(f"{where}: the bundle's data_config is not valid: "
                         f"{shorten(exc)}") from None
    if tuple(data.image_size) != shape[:2] or data.channels != shape[2]:
        raise ModelError(
            f"{where}: the bundle's data_config makes {tuple(data.image_size)} images with "
            f"{data.channels} channel(s) but the model takes input_shape={shape}.")
    if not data.complete:
        raise ModelError(
            f"{where}: the bundle's data_config uses normalization='dataset' but stores no "
            "intensity `levels`, so images cannot be prepared as the model saw them. Save the "
            "bundle with the levels its training measured (DatasetIndex.config).")
    return data
