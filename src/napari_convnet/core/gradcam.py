"""Grad-CAM (Selvaraju et al. 2017): which parts of an image decide the predicted class.

The image is preprocessed exactly as for prediction (resized to the model input by the
bundle's rules). The class score is differentiated with respect to a convolution layer's maps
(default: the last one, inside a nested backbone too); each map is weighted by its mean
gradient, summed, rectified and scaled to [0, 1]. The heatmap is then mapped back through the
layer's geometry and the pad/crop/stretch of the resize, so it overlays the *original* image.

The score is the class logit when the model ends in a softmax ``Dense`` (the presets do): a
confident softmax output has near-zero gradients, which would give empty heatmaps. For other
models it is the output itself.
"""

import numpy as np

from napari_convnet.core import geometry, gradients, images, resize
from napari_convnet.core._predict import data_config
from napari_convnet.errors import DatasetError, ModelError


def one_sample(batch, what):
    """Return (1, ...) ``batch``; refuse the several images of a ``"slices"`` stack."""
    if len(batch) != 1:
        raise DatasetError(
            f"{what} takes one image; received a stack that gives {len(batch)} images with "
            "the bundle's stack_rule='slices'. Pass one slice (Y, X[, C])."
        )
    return batch


def default_layer(model):
    """Path of the last convolution layer with spatial maps (nested models included)."""
    convs = [r["name"] for r in geometry.list_layers(model) if r["kind"] == "conv"
             and r["spatial"]]
    if not convs:
        raise ModelError(
            f"Model {model.name!r} has no convolution layer, so Grad-CAM has no maps to "
            "weigh. Use a CNN preset, or pass layer_name of a layer with spatial output."
        )
    return convs[-1]


def _logit_layer(model):
    import keras

    last = geometry.last_layer(model)
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == \
            "softmax":
        return last
    return None


def grad_cam(model, meta, image, class_index=None, channel_axis=None, layer_name=None):
    """Grad-CAM heatmap of one raw image for one class.

    Parameters
    ----------
    model : keras.Model
    meta : dict
        Bundle metadata (``data_config``, ``class_names``).
    image : array_like
        One raw image: (Y, X), (Y, X, C), (C, Y, X) with ``channel_axis``, or a stack that the
        bundle's stack rule reduces to one image.
    class_index : int, optional
        Class to explain; default the predicted class.
    channel_axis : int, optional
        Overrides the bundle's ``channel_axis``.
    layer_name : str, optional
        Layer path whose maps are weighed; default :func:`default_layer`.

    Returns
    -------
    dict
        ``heatmap`` float32 (Y, X) in [0, 1], on the original image's pixels (0 where a crop
        hid them from the model); ``class_index`` (int), ``class_name`` (str),
        ``probability`` (float, of that class), ``probabilities`` (list of float, every
        class), ``layer`` (path).
    """
    import keras

    config = data_config(meta)
    axis = config.channel_axis if channel_axis is None else channel_axis
    stack = images.to_syxc(np.asarray(image), channel_axis=axis)
    shape = stack.shape[1:3]
    x = one_sample(images.preprocess_syxc(stack, config), "Grad-CAM")
    layer_name = default_layer(model) if layer_name is None else layer_name
    parts = geometry.split_path(model, layer_name)
    walk = geometry.walk(model, parts, geometry.model_size(model))
    names = list(meta["class_names"])
    if class_index is not None and not (isinstance(class_index, (int, np.integer))
                                        and 0 <= class_index < len(names)):
        raise ModelError(
            f"`class_index` must be an int in [0, {len(names) - 1}] (classes: "
            f"{', '.join(names)}). Received: class_index={class_index!r}"
        )
    head = _logit_layer(model)
    x = keras.ops.convert_to_tensor(x)

    def scores(offset=None):
        """(maps (1, h, w, C), class scores (1, classes)) with ``offset`` after the layer."""
        with gradients.offset_after(geometry.resolve(model, layer_name), offset):
            (maps,), out = geometry.forward(model, x, [parts],
                                            out="output" if head is None else "head")
        return maps, (out if head is None else keras.ops.matmul(out, head.kernel) + head.bias)

    with gradients.not_recorded():  # the class is chosen first; only the second pass needs them
        maps, logits = scores()
    probs = keras.ops.convert_to_numpy(logits if head is None else keras.ops.softmax(logits))
    probs = probs[0].astype(float)
    k = int(np.argmax(probs)) if class_index is None else int(class_index)
    # The mean gradient of the score over each map = the gradient with respect to a
    # per-channel offset added after the layer, divided by the map's pixel count.
    maps = keras.ops.convert_to_numpy(maps)[0].astype(np.float64)
    summed = gradients.gradient(lambda offset: scores(offset)[1][0, k],
                                np.zeros(maps.shape[-1], np.float32))
    weights = summed.astype(np.float64) / (maps.shape[0] * maps.shape[1])
    cam = np.maximum((maps * weights).sum(-1), 0)
    heat = _to_image(cam, walk, config, shape)
    peak = heat.max()
    return {
        "heatmap": (heat / peak if peak > 0 else heat).astype(np.float32),
        "class_index": k, "class_name": names[k], "probability": float(probs[k]),
        "probabilities": probs.tolist(), "layer": layer_name,
    }


def _resample(n_out, factor, offset, scale, shift, n_map, n_model):
    """(n_out, n_map) linear-interpolation weights from map pixels to original pixels."""
    p = np.arange(n_out)
    model_coord = (p + 0.5) * factor - 0.5 + offset
    i = np.clip((model_coord - shift) / scale, 0, n_map - 1)
    i0 = np.floor(i).astype(int)
    i1 = np.minimum(i0 + 1, n_map - 1)
    weights = np.zeros((n_out, n_map))
    np.add.at(weights, (p, i0), 1 - (i - i0))
    np.add.at(weights, (p, i1), i - i0)
    seen = (model_coord > -0.5 - 1e-9) & (model_coord < n_model - 0.5 + 1e-9)
    weights[~seen] = 0  # cropped away: the model never saw these pixels
    return weights


def _to_image(cam, walk, config, shape):
    """Map a (h, w) heatmap on the layer's grid to the original (Y, X) image."""
    factor, offset = resize.placement(config, shape)
    rows, cols = (
        _resample(shape[a], factor[a], offset[a], walk["scale"][a], walk["translate"][a],
                  cam.shape[a], config.image_size[a])
        for a in (0, 1)
    )
    return rows @ cam @ cols.T
