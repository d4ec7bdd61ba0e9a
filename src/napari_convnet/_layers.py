"""Engine results (numpy arrays and dicts) → napari layer data tuples. No Keras here.

Each function returns ``(data, kwargs, layer_type)``; widgets add or update layers by name
(or by the metadata that says which result of which image a layer is) so that re-running a
step replaces its layer instead of adding a duplicate.

The Inspect dock's results, as a user sees them:

- **Kernels** are a 2D grid montage by default (:func:`kernel_montage`: 32 filters → 6 × 6
  tiles). A kernel is a few pixels wide, so the montage is scaled up to the height of the
  images open in the viewer and placed to their right, and the dock fits the view to all
  (``viewer.reset_view()``); alone in the viewer it is just fitted. The stack alternative is
  (input channel, filter, y, x): its filter axis is the viewer's third-from-last, as a
  feature-maps layer's is, and both sliders say "filter".
- **Feature maps** are (filter, y, x) over the image, axes named. Over a stack of images,
  the maps get the stack's leading axes with length 1, placed at the plane they were
  computed on: they show on that plane only, and the filter slider is their own.
- **Grad-CAM** is one layer per image, renamed for the class of the last run.

Every such layer carries ``metadata[OUTPUT_KEY]`` (``"kernels"``, ``"feature maps"`` or
``"Grad-CAM"``) and ``metadata["source"]`` (the image layer's name), so docks can skip them
as inputs and find the layer a re-run replaces.
"""

import numpy as np

#: Metadata key naming which kind of Inspect result a layer is (see the module docstring).
OUTPUT_KEY = "napari-convnet output"


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


def add_or_update(viewer, layer_data, match=None):
    """Add a layer data tuple to ``viewer``, or replace the data of the layer it updates.

    Parameters
    ----------
    viewer : napari.Viewer
    layer_data : tuple
        ``(data, kwargs, layer_type)``.
    match : dict, optional
        Metadata items that identify the layer to update (e.g. the kind of result and its
        source image) whatever its name; that layer is renamed to ``kwargs["name"]``.
        Without it (or without such a layer), the layer of the same name is updated.

    Returns
    -------
    napari.layers.Layer
    """
    data, kwargs, layer_type = layer_data
    name = kwargs.get("name")
    layer = None
    if match:
        layer = next((lay for lay in viewer.layers if all(
            lay.metadata.get(k) == v for k, v in match.items())), None)
    if layer is None and name in viewer.layers:
        layer = viewer.layers[name]
    if layer is not None:
        # ``__class__``, not ``type()``: a plugin's viewer hands out proxies of its layers
        if layer.__class__.__name__.lower() == layer_type and _compatible(layer, data, kwargs):
            layer.data = data
            layer.metadata = kwargs.get("metadata", {})
            for key in ("scale", "translate", "contrast_limits", "axis_labels"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            if layer.name != name and name not in viewer.layers:
                layer.name = name
            return layer
        viewer.layers.remove(layer)
    if name in viewer.layers:
        viewer.layers.remove(name)
    return getattr(viewer, f"add_{layer_type}")(data, **kwargs)


def _compatible(layer, data, kwargs):
    return np.ndim(data) == np.ndim(layer.data) and bool(kwargs.get("rgb", False)) == bool(
        getattr(layer, "rgb", False)
    )


def _placement(source):
    """Scale/translate kwargs that align a 2D result with the last two axes of ``source``.

    An RGB layer's ``scale`` and ``translate`` have no entry for its colour axis: their last
    two entries are Y and X for every image layer.
    """
    if source is None:
        return {}
    return {"scale": list(source.scale)[-2:], "translate": list(source.translate)[-2:]}


def _on_plane(source, plane):
    """Leading axes that put a (..., Y, X) result on plane ``plane`` of ``source`` only.

    Returns
    -------
    tuple
        ``(shape, scale, translate, labels)`` of the leading axes: length 1 each, at the
        world position of ``plane`` along the source's own leading axes.
    """
    plane = tuple(int(i) for i in plane or ())
    if source is None or not plane:
        return (), [], [], []
    n = len(plane)
    scale = list(source.scale)[:n]
    translate = [t + i * s for t, i, s in zip(list(source.translate)[:n], plane, scale,
                                                strict=True)]
    labels = list(source.axis_labels)[:n]
    return (1,) * n, scale, translate, labels


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


def _grid(planes, gap):
    """(n, h, w) → one 2D near-square grid (``ceil(sqrt(n))`` columns), NaN gaps between."""
    n, h, w = planes.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, np.float32)
    for i in range(n):
        y, x = divmod(i, cols)
        grid[y * (h + gap):y * (h + gap) + h, x * (w + gap):x * (w + gap) + w] = planes[i]
    return grid


def kernel_montage(kernels, gap=1):
    """(filters, in_channels, kh, kw) → one 2D near-square grid of the filters.

    Each filter is a tile; with several input channels a tile is a near-square sub-grid of
    that filter's kernels (``gap`` apart) and tiles are ``gap + 1`` apart. 32 filters of one
    3×3 kernel give 6 × 6 tiles: a (23, 23) array. Gaps are NaN.
    """
    kernels = np.asarray(kernels, np.float32)
    if kernels.shape[1] == 1:
        return _grid(kernels[:, 0], gap)
    return _grid(np.stack([_grid(k, gap) for k in kernels]), gap + 1)


def kernels_layer(kernels, layer_name, montage=True, beside=None):
    """Image layer of convolution kernels with a diverging colormap centred on zero.

    Parameters
    ----------
    kernels : ndarray, float32 (filters, in_channels, kh, kw)
    layer_name : str
        The model layer (path) they belong to.
    montage : bool
        One 2D grid (:func:`kernel_montage`); else a 4D stack (in_channels, filters, kh, kw)
        scrolled by the "input channel" and "filter" sliders.
    beside : ndarray, optional
        (2, 2) world extent ``[[ymin, xmin], [ymax, xmax]]`` of the images in view: the
        kernels are scaled to their height and placed to their right. None: unscaled, at 0.

    Returns ``(data, kwargs, "image")``, named ``"kernels: " + layer_name``.
    """
    kernels = np.asarray(kernels, np.float32)
    limit = float(np.nanmax(np.abs(kernels))) if kernels.size else 0.0
    if montage:
        data, labels = kernel_montage(kernels), ["y", "x"]
    else:
        data, labels = np.ascontiguousarray(kernels.transpose(1, 0, 2, 3)), [
            "input channel", "filter", "y", "x"]
    scale, translate = [1.0, 1.0], [0.0, 0.0]
    if beside is not None:
        (ymin, xmin), (ymax, xmax) = np.asarray(beside, float)[:, -2:]
        step = (ymax - ymin) / max(data.shape[-2] - 1, 1) or 1.0
        scale = [float(step), float(step)]
        translate = [float(ymin), float(xmax + max(0.05 * (xmax - xmin), 2 * step))]
    lead = data.ndim - 2
    kwargs = {"name": f"kernels: {layer_name}", "colormap": "PiYG",
              "contrast_limits": [-(limit or 1.0), limit or 1.0],
              "interpolation2d": "nearest", "axis_labels": labels,
              "scale": [1.0] * lead + scale, "translate": [0.0] * lead + translate,
              "metadata": {OUTPUT_KEY: "kernels", "layer": layer_name,
                           "axes": ", ".join(labels), "montage": bool(montage)}}
    return data, kwargs, "image"


def feature_maps_layer(result, source=None, plane=()):
    """Image layer of feature maps (filter first) placed exactly over the input image.

    Parameters
    ----------
    result : dict
        From the engine's ``feature_maps``: ``maps`` float32 (C, h, w); ``scale`` and
        ``translate`` (map pixel (i, j) sits at input pixel (ty + i*sy, tx + j*sx)); ``layer``.
    source : napari.layers.Image, optional
        The input layer: its own scale and translate are composed with the map's.
    plane : tuple of int
        Index of the plane of ``source`` along its leading (stack) axes that the maps were
        computed on; the maps then show on that plane only (see the module docstring).

    Returns ``(data, kwargs, "image")``: data (C, h, w), or (C, 1, ..., h, w) over a stack.
    """
    place = _placement(source)
    s = np.asarray(place.get("scale", [1.0, 1.0]), float)
    t = np.asarray(place.get("translate", [0.0, 0.0]), float)
    scale = s * np.asarray(result["scale"], float)
    translate = t + s * np.asarray(result["translate"], float)
    shape, lead_scale, lead_translate, lead_labels = _on_plane(source, plane)
    name = source.name if source is not None else "image"
    maps = np.asarray(result["maps"], np.float32)
    kwargs = {"name": f"maps: {result['layer']} ({name})", "colormap": "viridis",
              "blending": "additive", "opacity": 0.7,
              "scale": [1.0, *lead_scale, *scale], "translate": [0.0, *lead_translate,
                                                                 *translate],
              "axis_labels": ["filter", *lead_labels, "y", "x"],
              "metadata": {OUTPUT_KEY: "feature maps", "source": name,
                           "layer": result["layer"], "axis 0": "filter",
                           "plane": list(map(int, plane or ())),
                           "map scale": list(result["scale"]),
                           "map translate": list(result["translate"])}}
    return maps.reshape(maps.shape[:1] + shape + maps.shape[1:]), kwargs, "image"


def grad_cam_layer(result, source=None, plane=()):
    """Grad-CAM heatmap blended over the input, with class and probability in the name.

    Parameters
    ----------
    result : dict
        From the engine's ``grad_cam``: ``heatmap`` float32 (Y, X) on the input's pixels,
        ``class_name``, ``probability``, ``layer``.
    source : napari.layers.Image, optional
    plane : tuple of int
        As for :func:`feature_maps_layer`.

    Returns
    -------
    tuple
        ``(data, kwargs, "image")``; ``metadata`` holds ``source`` (one Grad-CAM layer per
        image: re-running for another class updates and renames it), ``class_name``,
        ``probability`` and ``layer``.
    """
    name = source.name if source is not None else "image"
    place = _placement(source)
    shape, lead_scale, lead_translate, lead_labels = _on_plane(source, plane)
    heatmap = np.asarray(result["heatmap"], np.float32)
    kwargs = {"name": f"Grad-CAM: {result['class_name']} "
                      f"({100 * result['probability']:.0f} %) · {name}",
              "colormap": "inferno", "blending": "additive", "opacity": 0.6,
              "contrast_limits": [0.0, 1.0],
              "metadata": {OUTPUT_KEY: "Grad-CAM", "source": name,
                           "plane": list(map(int, plane or ())),
                           **{k: result[k] for k in ("class_name", "probability", "layer")}}}
    if place:
        kwargs["scale"] = [*lead_scale, *place["scale"]]
        kwargs["translate"] = [*lead_translate, *place["translate"]]
    if shape:
        kwargs["axis_labels"] = [*lead_labels, "y", "x"]
    return heatmap.reshape(shape + heatmap.shape), kwargs, "image"
