"""What goes into a bioimage.io package besides the weights: the pre-processing steps (and
the normalisation a package's steps stand for), the test images, the cover and the README.

See :mod:`.bioimageio` for the package itself. numpy, Pillow and Keras' version only.
"""

import dataclasses
import io

import keras
import numpy as np

from napari_convnet import __version__
from napari_convnet.errors import ModelError

#: Test images taken from the training folder: one per class, at most this many.
TEST_IMAGES = 8


def preprocessing_steps(config, dtype_max=None):
    """bioimage.io pre-processing of a DataConfig's normalisation (list of dicts).

    Parameters
    ----------
    config : DataConfig
    dtype_max : float, optional
        ``range``: the maximum of the images' integer dtype (255, 65535...); None for float
        images, which ``range`` leaves as they are.
    """
    steps = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]
    rule = config.normalization
    if rule == "percentile":
        low, high = config.percentiles
        steps.append({"id": "scale_range", "kwargs": {
            "axes": ["y", "x", "channel"], "min_percentile": low, "max_percentile": high}})
    elif rule == "dataset":
        gain = [1.0 / (hi - lo) for lo, hi in config.levels]
        offset = [-lo / (hi - lo) for lo, hi in config.levels]
        steps.append({"id": "scale_linear", "kwargs": {"axis": "channel", "gain": gain,
                                                        "offset": offset}})
    elif rule == "range" and dtype_max:
        steps.append({"id": "scale_linear", "kwargs": {"gain": 1.0 / dtype_max}})
    return steps


def normalization_of(steps, channels):
    """The DataConfig normalisation fields bioimage.io pre-processing ``steps`` stand for.

    ``channels`` is the input's channel count (one scalar gain stands for all of them).

    Raises
    ------
    ModelError
        A step napari-convnet has no equivalent of (the step is named).
    """
    steps = [s for s in steps if s["id"] != "ensure_dtype"]
    if not steps:
        return {"normalization": "none"}
    if len(steps) == 1 and steps[0]["id"] == "scale_range":
        kwargs = steps[0].get("kwargs") or {}
        return {"normalization": "percentile",
                "percentiles": (float(kwargs.get("min_percentile", 0.0)),
                                float(kwargs.get("max_percentile", 100.0)))}
    if len(steps) == 1 and steps[0]["id"] == "scale_linear":
        kwargs = steps[0].get("kwargs") or {}
        gain, offset = kwargs.get("gain", 1.0), kwargs.get("offset", 0.0)
        gains = gain if isinstance(gain, list) else [gain]
        offsets = offset if isinstance(offset, list) else [offset] * len(gains)
        if len(gains) == 1:
            gains, offsets = gains * channels, offsets * channels
        levels = [(-o / g, (1 - o) / g) for g, o in zip(gains, offsets, strict=True)]
        return {"normalization": "dataset", "levels": levels}
    raise ModelError(
        "The package's pre-processing (" + ", ".join(s["id"] for s in steps) + ") has no "
        "napari-convnet equivalent (percentile = scale_range, fixed levels = scale_linear). "
        "Import its Keras weights file instead and state the preprocessing.")


def test_images(meta, data):
    """One training image per class (at most :data:`TEST_IMAGES`) as the package takes them.

    Returns
    -------
    raw : ndarray
        float32 (N, H, W, C): stack rule, channel conversion and fitting to the input size
        applied, intensities not normalised (the package's pre-processing does that).
    dtype_max : float or None
        The maximum of the first image's integer dtype (for ``range``), else None.
    paths : list of str
    """
    from napari_convnet.core._predict import data_config
    from napari_convnet.core.images import prepare, to_syxc
    from napari_convnet.core.reading import read_raw
    from napari_convnet.core.resize import fit_size, pad_to
    from napari_convnet.core.sharing.samples import sample_paths

    config = data_config(meta)
    raw_config = dataclasses.replace(config, normalization="none")
    paths = sample_paths(meta, data, limit=TEST_IMAGES)
    images, dtype_max = [], None
    for path in paths:
        array, axes = read_raw(path)
        if dtype_max is None and np.issubdtype(array.dtype, np.integer):
            dtype_max = float(np.iinfo(array.dtype).max)
        planes = prepare(to_syxc(array, axes, config.channel_axis), raw_config, repr(path))
        images.append(pad_to(fit_size(planes[:1], config), config.image_size))
    return np.concatenate(images).astype(np.float32), dtype_max, paths


def apply_steps(raw, config, dtype_max):
    """The package's pre-processing, as bioimage.io applies it, on float32 (N, H, W, C)."""
    from napari_convnet.core.images import normalize_each

    if config.normalization == "range":
        return raw / np.float32(dtype_max) if dtype_max else raw
    if config.normalization == "none":
        return raw
    return normalize_each(raw, config)


def cover_png(raw, probabilities, class_names):
    """PNG bytes: the test images side by side (a 2:1 strip), each with its predicted class."""
    from PIL import Image, ImageDraw

    rows = max(1, int(np.ceil(np.sqrt(len(raw) / 2))))
    cols, cell = 2 * rows, 128
    cover = Image.new("RGB", (cols * cell, rows * cell), "black")
    draw = ImageDraw.Draw(cover)
    for i, image in enumerate(raw):
        grey = image.mean(axis=-1) if image.shape[-1] != 3 else image
        lo, hi = np.percentile(grey, (1, 99.8))
        scaled = np.clip((grey - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        tile = Image.fromarray(scaled).resize((cell - 4, cell - 20), Image.Resampling.NEAREST)
        x, y = (i % cols) * cell, (i // cols) * cell
        cover.paste(tile.convert("RGB"), (x + 2, y + 2))
        label = class_names[int(np.argmax(probabilities[i]))]
        draw.text((x + 4, y + cell - 17), f"{label[:18]} {probabilities[i].max():.2f}",
                  fill="white")
    out = io.BytesIO()
    cover.save(out, "PNG")
    return out.getvalue()


def readme(meta, info, report, notes):
    """The package's documentation: what the model is, how it was trained, how to feed it."""
    from napari_convnet.reports import format_report

    config = meta["data_config"]
    height, width, channels = meta["input_shape"]
    dataset = meta.get("dataset") or {}
    metrics = meta.get("metrics") or {}
    lines = [f"# {info.name}", "", info.description, "",
             f"Made with napari-convnet {__version__} (Keras {keras.__version__}).", "",
             "## Classes", "", ", ".join(f"`{n}`" for n in meta["class_names"]), "",
             "## Input", "",
             f"One image of {height} x {width} pixels with {channels} channel(s), axes "
             "(batch, y, x, channel). Before an image enters the model, napari-convnet:", "",
             f"- projects Z/T stacks by the rule `{config.get('stack_rule')}`;",
             "- converts the channels (grey repeated, or several channels averaged to grey) "
             f"to {channels};",
             f"- fits the image to {height} x {width} by `{config.get('resize')}` (pad: keep "
             "the aspect ratio and pad; crop: centre-crop; stretch).", "",
             "bioimage.io pre-processing cannot express these steps: give the package images "
             "that already have this size and channel count.", "",
             f"Normalisation `{config.get('normalization')}` is in the package's "
             "pre-processing.", ""]
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    lines += ["## Training", ""]
    if meta.get("preset"):
        options = ", ".join(f"{k}={v}" for k, v in (meta.get("preset_options") or {}).items())
        lines.append(f"- Preset `{meta['preset']}`" + (f" ({options})" if options else ""))
    if meta.get("imported"):
        lines.append(f"- Imported from a {meta['imported'].get('format')} file")
    if dataset:
        totals = ", ".join(f"{k}: {v}" for k, v in (dataset.get("totals") or {}).items())
        lines.append(f"- Data: {dataset.get('files', '?')} files ({totals})")
    if meta.get("epochs"):
        lines.append(f"- Epochs: {meta['epochs']}, best epoch {meta.get('best_epoch')}")
    for key in ("best_val_accuracy", "test_accuracy"):
        if metrics.get(key) is not None:
            lines.append(f"- {key.replace('_', ' ')}: {metrics[key]:.3f}")
    lines.append("")
    if report is not None:
        where = "test split" if report.get("split") == "test" else "all images"
        lines += [f"## Evaluation ({where} of the training folder)", "", "```",
                  format_report(report), "```", ""]
    lines += ["## Citation", "", info.cite, "", f"Licence: {info.license}. Authors: "
              f"{', '.join(info.authors)}.", ""]
    return "\n".join(lines)
