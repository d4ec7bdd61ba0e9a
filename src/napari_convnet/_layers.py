"""Engine results (numpy arrays and dicts) → napari layer data tuples. No Keras here.

Each function returns ``(data, kwargs, layer_type)``; widgets add or update layers by name
so that re-running a step replaces its layer instead of adding a duplicate.
"""

import numpy as np


def image_kwargs(images, name, metadata=None, **kwargs):
    """Kwargs for an image layer of a stack of model inputs.

    Parameters
    ----------
    images : ndarray, float32 (N, H, W, C)
        Preprocessed model inputs (C = 1 grey, 3 RGB, other = one layer channel each).
    """
    kwargs = {"name": name, "metadata": dict(metadata or {}), **kwargs}
    if images.shape[-1] == 3:
        kwargs["rgb"] = True
        # normalised inputs may leave [0, 1]; an RGB layer needs explicit limits
        kwargs["contrast_limits"] = [float(np.nanmin(images)), float(np.nanmax(images)) or 1.0]
    return kwargs


def samples_layer(result):
    """Image layer of dataset samples; the class of each plane is in its metadata.

    Parameters
    ----------
    result : dict
        From the engine's ``dataset_samples``: ``images`` float32 (N, H, W, C), ``labels``,
        ``class_names``, ``paths``.

    Returns
    -------
    tuple
        ``(data, kwargs, "image")``; data is (N, H, W) for one channel, (N, H, W, 3) for RGB,
        else (N, C, H, W) so the sliders scroll samples and channels.
    """
    images = np.asarray(result["images"], dtype=np.float32)
    names = result["class_names"]
    labels = list(result["labels"])
    metadata = {
        "class_names": list(names),
        "labels": labels,
        "classes": [names[i] for i in labels],
        "paths": list(result["paths"]),
    }
    name = "samples: " + ", ".join(names)
    if len(name) > 60:
        name = name[:57] + "…"
    return stack_layer(images, name, metadata)


def stack_layer(images, name, metadata):
    """Image layer tuple of a stack of model inputs, float32 (N, H, W, C).

    Data is (N, H, W) for one channel, (N, H, W, 3) for RGB, else (N, C, H, W) so the
    sliders scroll images and channels.
    """
    kwargs = image_kwargs(images, name, metadata, colormap="gray")
    channels = images.shape[-1]
    if channels == 1:
        data = images[..., 0]
    elif channels == 3:
        data = images
        kwargs.pop("colormap")
    else:
        data = np.moveaxis(images, -1, 1)
    return data, kwargs, "image"


def review_layer(result, class_names, title):
    """Image layer of one confusion-matrix cell: images sorted by confidence.

    Parameters
    ----------
    result : dict
        From the engine's ``cell_images``: ``images`` float32 (N, H, W, C) and ``items``
        (dicts with ``path``, ``true``, ``predicted``, ``confidence``).
    class_names : list of str
    title : str
        E.g. ``"dim → bright"``; the layer is named ``"review: " + title``.

    Returns
    -------
    tuple
        ``(data, kwargs, "image")``; ``metadata`` holds ``items`` and ``paths``
        (file names in slice order) and ``confidences``.
    """
    items = list(result["items"])
    metadata = {"items": items, "paths": [i["path"] for i in items],
                "confidences": [i["confidence"] for i in items],
                "class_names": list(class_names)}
    return stack_layer(np.asarray(result["images"], np.float32), f"review: {title}", metadata)


def add_or_update(viewer, layer_data):
    """Add a layer data tuple to ``viewer``, or replace the data of the layer of that name.

    Returns
    -------
    napari.layers.Layer
    """
    data, kwargs, layer_type = layer_data
    name = kwargs.get("name")
    if name in viewer.layers:
        layer = viewer.layers[name]
        if type(layer).__name__.lower() == layer_type and _compatible(layer, data, kwargs):
            layer.data = data
            layer.metadata = kwargs.get("metadata", {})
            for key in ("scale", "translate", "contrast_limits"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            return layer
        viewer.layers.remove(name)
    return getattr(viewer, f"add_{layer_type}")(data, **kwargs)


def _compatible(layer, data, kwargs):
    return np.ndim(data) == np.ndim(layer.data) and bool(kwargs.get("rgb", False)) == bool(
        getattr(layer, "rgb", False)
    )


def _placement(source):
    """Scale/translate kwargs that align a 2D result with the last two axes of ``source``."""
    if source is None:
        return {}
    dims = 3 if getattr(source, "rgb", False) else 2
    scale = list(source.scale)[-2:] if dims == 2 else list(source.scale)[-3:-1]
    translate = list(source.translate)[-2:] if dims == 2 else list(source.translate)[-3:-1]
    return {"scale": scale, "translate": translate}


def class_features(class_names, values=None):
    """A Labels ``features`` table: row per label value; 0 is "unlabelled", i + 1 class i."""
    values = [0, *range(1, len(class_names) + 1)] if values is None else list(values)
    return {"index": values, "class": ["unlabelled", *class_names][: len(values)]}


def class_map_layers(result, source=None):
    """Layers of a tiled class map, aligned with the image they were computed on.

    Parameters
    ----------
    result : dict
        From the engine's ``tile_class_map``: ``labels`` uint16 (Y, X), 0 = unlabelled and
        i + 1 = class i; ``probabilities`` float32 (K, Y, X); ``class_names``.
    source : napari.layers.Image, optional
        The classified layer (its name, scale and translate are reused).

    Returns
    -------
    list of tuple
        A Labels layer (class names in its ``features``) and an image layer of per-class
        probabilities with the class as the first axis.
    """
    name = source.name if source is not None else "image"
    place = _placement(source)
    names = list(result["class_names"])
    labels = ({"name": f"classes: {name}", "features": class_features(names),
               "metadata": {"class_names": names}, "opacity": 0.5, **place})
    probs = {"name": f"probabilities: {name}", "metadata": {"class_names": names,
             "axis 0": "class"}, "colormap": "magma", "contrast_limits": [0.0, 1.0],
             "opacity": 0.6, "blending": "additive", "visible": False,
             "scale": [1.0, *place.get("scale", [1.0, 1.0])],
             "translate": [0.0, *place.get("translate", [0.0, 0.0])]}
    return [(np.asarray(result["labels"]), labels, "labels"),
            (np.asarray(result["probabilities"], np.float32), probs, "image")]


def object_class_layer(result, labels_layer=None):
    """Labels layer colouring each object by its predicted class (value = class index + 1).

    Parameters
    ----------
    result : dict
        From the engine's ``classify_objects``: ``class_labels`` uint16 (Y, X),
        ``class_names``.
    labels_layer : napari.layers.Labels, optional
        The segmentation that was classified (name, scale and translate are reused).
    """
    name = labels_layer.name if labels_layer is not None else "objects"
    names = list(result["class_names"])
    kwargs = {"name": f"object classes: {name}", "features": class_features(names),
              "metadata": {"class_names": names}, **_placement(labels_layer)}
    return np.asarray(result["class_labels"]), kwargs, "labels"


def object_features(result):
    """``features`` for the classified Labels layer: label id → class and probability."""
    names = result["class_names"]
    probs = np.asarray(result["probabilities"])
    table = {"index": [int(i) for i in result["label_ids"]],
             "class": list(result["predicted"]),
             "probability": [float(p.max()) for p in probs]}
    for k, class_name in enumerate(names):
        table[f"p({class_name})"] = [float(v) for v in probs[:, k]]
    return table


def kernels_layer(kernels, layer_name, montage=False):
    """Image layer of convolution kernels with a diverging colormap centred on zero.

    Parameters
    ----------
    kernels : ndarray, float32 (filters, in_channels, kh, kw)
    layer_name : str
        The model layer (path) they belong to.
    montage : bool
        Lay them out as one 2D grid (a row per filter, a column per input channel, 1-pixel
        gaps) instead of a 4D stack scrolled by the sliders.
    """
    kernels = np.asarray(kernels, np.float32)
    limit = float(np.abs(kernels).max()) or 1.0
    data = kernel_montage(kernels) if montage else kernels
    kwargs = {"name": f"kernels: {layer_name}{' (grid)' if montage else ''}",
              "colormap": "PiYG", "contrast_limits": [-limit, limit],
              "interpolation2d": "nearest",
              "metadata": {"layer": layer_name, "axes": "filter, in_channel, y, x"}}
    return data, kwargs, "image"


def kernel_montage(kernels, gap=1):
    """(filters, in_channels, kh, kw) → one 2D grid: a row per filter, NaN gaps between."""
    f, c, kh, kw = kernels.shape
    grid = np.full((f * (kh + gap) - gap, c * (kw + gap) - gap), np.nan, np.float32)
    for i in range(f):
        for j in range(c):
            grid[i * (kh + gap):i * (kh + gap) + kh, j * (kw + gap):j * (kw + gap) + kw] = \
                kernels[i, j]
    return grid


def feature_maps_layer(result, source=None):
    """Image layer of feature maps (channel first) placed exactly over the input image.

    Parameters
    ----------
    result : dict
        From the engine's ``feature_maps``: ``maps`` float32 (C, h, w); ``scale`` and
        ``translate`` (map pixel (i, j) sits at input pixel (ty + i*sy, tx + j*sx)); ``layer``.
    source : napari.layers.Image, optional
        The input layer: its own scale and translate are composed with the map's.
    """
    place = _placement(source)
    s = np.asarray(place.get("scale", [1.0, 1.0]), float)
    t = np.asarray(place.get("translate", [0.0, 0.0]), float)
    scale = s * np.asarray(result["scale"], float)
    translate = t + s * np.asarray(result["translate"], float)
    name = source.name if source is not None else "image"
    kwargs = {"name": f"maps: {result['layer']} ({name})", "colormap": "viridis",
              "blending": "additive", "opacity": 0.7,
              "scale": [1.0, *scale], "translate": [0.0, *translate],
              "metadata": {"layer": result["layer"], "axis 0": "feature channel",
                           "map scale": list(result["scale"]),
                           "map translate": list(result["translate"])}}
    return np.asarray(result["maps"], np.float32), kwargs, "image"


def grad_cam_layer(result, source=None):
    """Grad-CAM heatmap blended over the input, with class and probability in the name.

    Parameters
    ----------
    result : dict
        From the engine's ``grad_cam``: ``heatmap`` float32 (Y, X) on the input's pixels,
        ``class_name``, ``probability``, ``layer``.
    """
    name = source.name if source is not None else "image"
    kwargs = {"name": f"Grad-CAM: {result['class_name']} "
                      f"({100 * result['probability']:.0f} %) · {name}",
              "colormap": "inferno", "blending": "additive", "opacity": 0.6,
              "contrast_limits": [0.0, 1.0],
              "metadata": {k: result[k] for k in ("class_name", "probability", "layer")},
              **_placement(source)}
    return np.asarray(result["heatmap"], np.float32), kwargs, "image"
