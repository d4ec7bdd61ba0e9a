"""Look inside a model: learned kernels, feature maps and Grad-CAM heatmaps as numpy arrays.

Layers are addressed by path through nested models (``"vgg16_backbone/block1_conv1"``, see
:func:`list_layers`). Feature maps come with the ``scale`` and ``translate`` that overlay them
on the input image in napari (see :mod:`napari_convnet.core.geometry`).

Feature maps of a layer whose chain is fully convolutional are computed on the *whole* image
at its own size (preprocessed like training: stack rule, channels, normalisation; no resize),
so a 1024x1024 image gives maps covering all of it. Otherwise (a layer that only works at the
model input size) the image is resized like for prediction and the geometry includes the
resize. Grad-CAM always sees the image exactly as prediction does (see :mod:`.gradcam`).
"""

import weakref

import keras
import numpy as np

from napari_convnet.core import geometry, gradients, images, resize
from napari_convnet.core._predict import data_config
from napari_convnet.core.geometry import layer_geometry, list_layers
from napari_convnet.core.gradcam import grad_cam, one_sample
from napari_convnet.errors import DatasetError, JobStopped, ModelError

__all__ = ["all_feature_maps", "feature_maps", "grad_cam", "kernels", "layer_geometry",
           "list_layers", "MAX_MAP_BYTES"]

#: Largest float32 activation (bytes) a feature-map request may compute or return at once.
MAX_MAP_BYTES = 2 * 1024**3

# model -> {layer paths: compiled forward}; weak, so a replaced model frees its graphs
_COMPILED = weakref.WeakKeyDictionary()


def kernels(model, layer_name):
    """The learned kernels of a convolution layer.

    Parameters
    ----------
    model : keras.Model
    layer_name : str
        Layer path (see :func:`list_layers`).

    Returns
    -------
    ndarray
        float32 (filters, in_channels, kh, kw): Keras' (kh, kw, in, out) kernel transposed.
        Depthwise convolutions (and the depthwise step of separable ones) give
        (in_channels * depth_multiplier, 1, kh, kw), one kernel per output channel.

    Raises
    ------
    ModelError
        Unknown layer, or a layer without convolution kernels.
    """
    import keras

    layer = geometry.resolve(model, layer_name)
    if isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        var = getattr(layer, "depthwise_kernel", None) or layer.kernel
        kh, kw, cin, mult = var.shape
        k = keras.ops.convert_to_numpy(var).transpose(2, 3, 0, 1)
        return np.ascontiguousarray(k.reshape(cin * mult, 1, kh, kw), np.float32)
    if isinstance(layer, keras.layers.Conv2DTranspose):  # kernel is (kh, kw, out, in)
        return np.ascontiguousarray(
            keras.ops.convert_to_numpy(layer.kernel).transpose(2, 3, 0, 1), np.float32)
    if isinstance(layer, keras.layers.Conv2D):
        return np.ascontiguousarray(
            keras.ops.convert_to_numpy(layer.kernel).transpose(3, 2, 0, 1), np.float32)
    convs = [r["name"] for r in list_layers(model) if r["kind"] == "conv"]
    raise ModelError(
        f"Layer {layer_name!r} ({type(layer).__name__}) has no convolution kernels. "
        f"Convolution layers of this model: {', '.join(convs) or 'none'}."
    )


def whole_image(model, meta, image, channel_axis=None):
    """Preprocess one raw image like training, but keep its size (no resize, no padding).

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``).
    image : array_like
        (Y, X), (Y, X, C), or (C, Y, X) with ``channel_axis``; a stack is reduced by the
        bundle's stack rule.
    channel_axis : int, optional
        Overrides the bundle's ``channel_axis``.

    Returns
    -------
    ndarray
        float32 (1, Y, X, C) with the model's channel count.
    """
    config = data_config(meta)
    axis = config.channel_axis if channel_axis is None else channel_axis
    stack = images.prepare(images.to_syxc(np.asarray(image), channel_axis=axis), config)
    stack = one_sample(stack, "Inspection")
    x = images.normalize_samples(stack, config)
    channels = model.input_shape[-1]
    if x.shape[-1] != channels:
        raise DatasetError(
            f"The model takes {channels} channel(s) but the image has {x.shape[-1]} "
            f"(shape {np.shape(image)}). Pass channel_axis if the channels are on another "
            "axis, or convert the image."
        )
    return x


def feature_maps(model, meta, image, layer_name, channel_axis=None, on_event=None):
    """Activations of one layer for one raw image, placed on the input image.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``).
    image : array_like
        As napari holds it: (Y, X), (Y, X, C), or (C, Y, X) with ``channel_axis``.
    layer_name : str
        Layer path (see :func:`list_layers`); its output must be a spatial map.
    channel_axis : int, optional
    on_event : callable, optional
        Receives ``{"type": "progress", "stage": "feature maps", "done", "total"}``.

    Returns
    -------
    dict
        ``maps`` float32 (channels, h, w); ``scale`` (sy, sx) and ``translate`` (ty, tx),
        floats, so map pixel (i, j) sits at input pixel ``(ty + i*sy, tx + j*sx)``;
        ``layer`` (path); ``input_shape`` (Y, X) of the image.

    Raises
    ------
    ModelError
        Unknown or non-spatial layer, or maps larger than :data:`MAX_MAP_BYTES`.
    DatasetError
        Image that cannot be converted to the model's channels.
    """
    return _maps(model, meta, image, [layer_name], channel_axis, on_event)[0]


def all_feature_maps(model, meta, image, channel_axis=None, on_event=None, should_stop=None):
    """:func:`feature_maps` of every convolution and pooling layer, in graph order.

    Returns
    -------
    list of dict
        One :func:`feature_maps` result per spatial conv/pool layer.
    """
    names = [r["name"] for r in list_layers(model) if r["kind"] in ("conv", "pool")
             and r["spatial"]]
    if not names:
        raise ModelError("The model has no convolution or pooling layers to show.")
    return _maps(model, meta, image, names, channel_axis, on_event, should_stop)


def _maps(model, meta, image, names, channel_axis, on_event, should_stop=None):
    targets = [geometry.split_path(model, name) for name in names]
    x = whole_image(model, meta, image, channel_axis)
    shape = x.shape[1:3]
    walks = [geometry.walk(model, t, shape) for t in targets]
    if all(w["fully_convolutional"] for w in walks):
        factor, offset = np.ones(2), np.zeros(2)
    else:  # a layer that only runs at the model's size: see the image as prediction does
        config = data_config(meta)
        x = images.preprocess_array(image, config, channel_axis=channel_axis)[:1]
        factor, offset = resize.placement(config, shape)
        walks = [geometry.walk(model, t, geometry.model_size(model)) for t in targets]
    needed = max(w["peak_bytes"] for w in walks) + sum(
        4 * np.prod(w["size"]) * _channels(model, n) for w, n in zip(walks, names, strict=True))
    if needed > MAX_MAP_BYTES:
        raise ModelError(
            f"Feature maps of {len(names)} layer(s) for a {shape[0]}x{shape[1]} image need about "
            f"{needed / 1024**3:.1f} GiB (limit {MAX_MAP_BYTES / 1024**3:.0f} GiB). Crop the "
            "image, or choose fewer or later (smaller) layers."
        )
    _progress(on_event, 0, len(names))
    if should_stop is not None and should_stop():
        raise JobStopped("feature maps stopped")
    captured = _compiled(model, targets)(x)
    results = []
    for i, (name, walk, tensor) in enumerate(zip(names, walks, captured, strict=True), 1):
        scale = np.asarray(walk["scale"]) / factor
        translate = (np.asarray(walk["translate"]) - offset + 0.5) / factor - 0.5
        maps = np.moveaxis(keras.ops.convert_to_numpy(tensor).astype(np.float32)[0], -1, 0)
        results.append({
            "maps": np.ascontiguousarray(maps), "scale": tuple(map(float, scale)),
            "translate": tuple(map(float, translate)), "layer": name,
            "input_shape": (int(shape[0]), int(shape[1])),
        })
        _progress(on_event, i, len(names))
    return results


def _compiled(model, targets):
    """A function capturing ``targets``' maps: a ``tf.function`` traced once per model and layers
    on TensorFlow, eager (without recording gradients) on the other backends.

    Eager Keras runs convolution, bias and activation as separate full-size steps: 3-4x slower
    on a 1024x1024 image than one graph. ``reduce_retracing`` makes the second image size
    trace a shape-generic graph, so new sizes do not trace again.
    """
    cache = _COMPILED.setdefault(model, {})
    key = tuple(targets)
    if key not in cache:
        ref = weakref.ref(model)  # the cached graph must not keep its model alive

        def maps(x):
            with gradients.not_recorded():
                return geometry.forward(ref(), x, key)[0]

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            maps = tf.function(maps, reduce_retracing=True)
        cache[key] = maps  # other backends run it eagerly
    return cache[key]


def _channels(model, name):
    return geometry.resolve(model, name).output.shape[-1] or 1


def _progress(on_event, done, total):
    if on_event is not None:
        on_event({"type": "progress", "stage": "feature maps", "done": done, "total": total})
