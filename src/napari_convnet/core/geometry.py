"""Walk a model's layer graph: layer paths through nested models, and where a map's pixels sit.

A layer is addressed by its *path*: its name, prefixed by the names of the models that nest
it, joined by ``"/"`` (``"vgg16_backbone/block1_conv1"``). The *chain* of a layer is the list of
leaf layers from the model input to it, following each layer's first input (nested models
expanded). Walking the chain with each layer's kernel size, strides and padding gives the
layer's *geometry*: map pixel ``(i, j)`` sits at input coordinates
``(ty + i * sy, tx + j * sx)``, pixel centres on integers, as napari places a layer with
``scale=(sy, sx)`` and ``translate=(ty, tx)`` over the input image.

Residual blocks (MobileNetV2's ``Add``) are followed through their first input; both inputs
of such an ``Add`` have the same geometry, so the result is exact for it. Layers this module
does not know that change the spatial size (``Resizing``...) are taken as a uniform rescale
(approximate) and mark the chain as not fully convolutional.

Graph links are read from the model's public configuration (``model.get_config()``: each
layer's first call, which is the only call for every layer of the presets; a Sequential model
is its list of layers).
"""

import weakref

import keras

from napari_convnet.errors import ModelError

_CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOL_TYPES = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def layer_kind(layer):
    """``"conv"``, ``"pool"`` (spatial pooling), ``"dense"`` or ``"other"``."""
    if isinstance(layer, _CONV_TYPES) or isinstance(layer, keras.layers.Conv2DTranspose):
        return "conv"
    if isinstance(layer, _POOL_TYPES):
        return "pool"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    return "other"


def _leaves(model, prefix=""):
    """Yield ``(path, layer)`` for every non-input layer, nested models expanded in place."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            yield from _leaves(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _shape(tensor):
    return list(tensor.shape) if hasattr(tensor, "shape") else None


def list_layers(model):
    """Describe every layer of ``model``, through nested models.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of dict
        In graph order, one per layer (nested models replaced by their layers):
        ``name`` (path, nested names joined by ``"/"``), ``type`` (class name),
        ``output_shape`` (list, None for the batch axis), ``kind`` (``"conv"``, ``"pool"``,
        ``"dense"`` or ``"other"``), ``params`` (int) and ``spatial`` (True when the output is
        a (batch, h, w, channels) map that :func:`feature_maps` can show).
    """
    rows = []
    for path, layer in _leaves(model):
        try:
            shape = _shape(layer.output)
        except (AttributeError, ValueError):
            shape = None
        rows.append({
            "name": path, "type": type(layer).__name__, "output_shape": shape,
            "kind": layer_kind(layer), "params": int(layer.count_params()) if layer.built else 0,
            "spatial": shape is not None and len(shape) == 4,
        })
    return rows


def split_path(model, layer_name):
    """Split a layer path into names and check that each one exists.

    Returns
    -------
    tuple of str
        The path's parts, outer model first.

    Raises
    ------
    ModelError
        Unknown layer; the message lists the model's layer paths.
    """
    parts = tuple(str(layer_name).split("/"))
    owner = model
    for i, part in enumerate(parts):
        names = [layer.name for layer in getattr(owner, "layers", [])]
        if part not in names or (i < len(parts) - 1
                                 and not isinstance(owner.get_layer(part), keras.Model)):
            known = [row["name"] for row in list_layers(model)]
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ModelError(
                f"The model has no layer {layer_name!r}. Its layers: {shown} "
                "(list them all with list_layers or `napari-convnet inspect MODEL --list-layers`)."
            )
        owner = owner.get_layer(part)
    return parts


def resolve(model, layer_name):
    """Return the layer at path ``layer_name`` (see :func:`split_path`)."""
    owner = model
    for part in split_path(model, layer_name):
        owner = owner.get_layer(part)
    return owner


_FEEDS = weakref.WeakKeyDictionary()


def _history_names(node):
    """Names of the layers whose outputs a serialised call (``inbound_nodes`` entry) takes."""
    if isinstance(node, dict):
        if "keras_history" in node:
            return [node["keras_history"][0]]
        return [name for value in node.values() for name in _history_names(value)]
    if isinstance(node, (list, tuple)):
        return [name for value in node for name in _history_names(value)]
    return []


def _feeds(model):
    """``{layer name: names of the layers feeding its first call}`` of ``model`` (cached)."""
    if model not in _FEEDS:
        if isinstance(model, keras.Sequential):
            names = [layer.name for layer in model.layers]
            feeds = {name: [before] for before, name in zip(names, names[1:], strict=False)}
        else:
            feeds = {}
            for entry in model.get_config().get("layers", []):
                nodes = entry.get("inbound_nodes") or []
                feeds[entry.get("name") or entry["config"]["name"]] = (
                    _history_names(nodes[0]) if nodes else [])
        _FEEDS[model] = feeds
    return _FEEDS[model]


def parent(model, layer):
    """The layer of ``model`` that feeds ``layer``'s first input (in its first call), or None."""
    names = _feeds(model).get(layer.name) or []
    return model.get_layer(names[0]) if names else None


def last_layer(model):
    """The layer that makes ``model``'s (first) output."""
    if isinstance(model, keras.Sequential):
        return model.layers[-1]
    outputs = model.get_config()["output_layers"]  # [name, node, tensor], or a list of them
    first = outputs[0] if isinstance(outputs[0], (list, tuple)) else outputs
    return model.get_layer(first[0])


def _expand(layer):
    if isinstance(layer, keras.Model):
        return chain(layer, (last_layer(layer).name,))
    return [layer]


def chain(model, parts):
    """Leaf layers from the input of ``model`` to the layer at ``parts`` (inclusive).

    Parameters
    ----------
    model : keras.Model
    parts : tuple of str
        A path split by :func:`split_path`.

    Returns
    -------
    list of keras.layers.Layer
    """
    layer = model.get_layer(parts[0])
    layers = chain(layer, parts[1:]) if len(parts) > 1 else _expand(layer)
    node = parent(model, layer)
    while node is not None and not isinstance(node, keras.layers.InputLayer):
        layers = _expand(node) + layers
        node = parent(model, node)
    return layers


def _spatial(layer, attribute):
    value = getattr(layer, attribute, None)
    return tuple(value) if value is not None else None


def _step(layer, axis, scale, shift, size):
    """Geometry after ``layer`` along ``axis``; None: not a spatial map; False: unknown rule."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise ModelError(f"Layer {layer.name!r} uses channels_first data; only channels_last "
                         "models can be inspected.")
    kernel = _spatial(layer, "kernel_size") or _spatial(layer, "pool_size")
    if isinstance(layer, _CONV_TYPES + _POOL_TYPES):
        k, stride = kernel[axis], layer.strides[axis]
        k = (_spatial(layer, "dilation_rate") or (1, 1))[axis] * (k - 1) + 1
        if layer.padding == "valid":
            out, before = (size - k) // stride + 1, 0
        else:  # TensorFlow's 'same': the extra padding pixel, if any, goes after
            out = -(-size // stride)
            before = max((out - 1) * stride + k - size, 0) // 2
        return scale * stride, shift + scale * ((k - 1) / 2 - before), out
    if isinstance(layer, keras.layers.ZeroPadding2D):
        before, after = layer.padding[axis]
        return scale, shift - scale * before, size + before + after
    if isinstance(layer, keras.layers.Cropping2D):
        before, after = layer.cropping[axis]
        return scale, shift + scale * before, size - before - after
    if isinstance(layer, keras.layers.UpSampling2D):
        f = layer.size[axis]
        return scale / f, shift + scale * (0.5 / f - 0.5), size * f
    out_shape = _shape(layer.output)
    if out_shape is None or len(out_shape) != 4:
        return None
    in_tensor = layer.input[0] if isinstance(layer.input, (list, tuple)) else layer.input
    n_in, n_out = _shape(in_tensor)[1 + axis], out_shape[1 + axis]
    if n_in == n_out:
        return scale, shift, size
    ratio = n_in / n_out  # e.g. Resizing: a uniform rescale, as at the model input size
    return False, (scale * ratio, shift + scale * (0.5 * ratio - 0.5), n_out)


def walk(model, parts, size):
    """Follow the chain of layer ``parts`` from an input of ``size`` = (H, W) pixels.

    Returns
    -------
    dict
        ``scale``, ``translate`` (tuples of 2 floats), ``size`` (h, w of the layer's output),
        ``fully_convolutional`` (bool: every layer is a known size-independent one, so the
        chain runs on any image size), ``peak_bytes`` (largest float32 activation on the way).

    Raises
    ------
    ModelError
        The layer's output is not a spatial map (after Flatten, global pooling or Dense), or
        the image is too small for the layer.
    """
    scale, shift, sizes = [1.0, 1.0], [0.0, 0.0], list(size)
    fully, peak = True, 0
    for layer in chain(model, parts):
        for axis in (0, 1):
            step = _step(layer, axis, scale[axis], shift[axis], sizes[axis])
            if step is None:
                raise ModelError(
                    f"Layer {'/'.join(parts)!r} has no spatial feature maps: {layer.name!r} "
                    f"({type(layer).__name__}) on the way outputs {_shape(layer.output)}. "
                    "Choose a convolution or pooling layer before Flatten/global pooling/Dense."
                )
            if step[0] is False:
                fully, step = False, step[1]
            scale[axis], shift[axis], sizes[axis] = step
        if min(sizes) < 1:
            raise ModelError(
                f"An image of {size[0]}x{size[1]} pixels is too small for layer "
                f"{'/'.join(parts)!r}: its maps would be {sizes[0]}x{sizes[1]}. Use a larger image."
            )
        channels = _shape(layer.output)[-1] or 1
        peak = max(peak, 4 * channels * sizes[0] * sizes[1])
    return {"scale": tuple(scale), "translate": tuple(shift), "size": tuple(sizes),
            "fully_convolutional": fully, "peak_bytes": peak}


def model_size(model):
    """(H, W) of the model input, or raise when the model takes any size."""
    shape = model.input_shape
    if len(shape) != 4 or None in shape[1:3]:
        raise ModelError(f"Model input {shape} has no fixed (H, W); pass `input_size`.")
    return int(shape[1]), int(shape[2])


def layer_geometry(model, layer_name, input_size=None):
    """Where the pixels of a layer's feature maps sit on the input image.

    Parameters
    ----------
    model : keras.Model
    layer_name : str
        Layer path (see :func:`list_layers`).
    input_size : tuple of int, optional
        (H, W) of the input; default the model's input size. 'same' padding with strides
        places maps differently on odd and even sizes.

    Returns
    -------
    scale : tuple of float
        (sy, sx): input pixels per map pixel (4.0 after two 2x2 poolings).
    translate : tuple of float
        (ty, tx): input coordinates of map pixel (0, 0)'s centre; a map pixel (i, j) sits at
        ``(ty + i * sy, tx + j * sx)``.
    """
    size = model_size(model) if input_size is None else tuple(int(v) for v in input_size)
    geometry = walk(model, split_path(model, layer_name), size)
    return geometry["scale"], geometry["translate"]


# model -> {(layer names, out): sub-model}; weak, so a replaced model frees its sub-models
_SUBMODELS = weakref.WeakKeyDictionary()


def _submodel(model, names, out):
    cache = _SUBMODELS.setdefault(model, {})
    if (names, out) not in cache:
        outputs = [model.get_layer(name).output for name in names]
        if out == "output":
            outputs.append(model.outputs[0])
        elif out == "head":
            outputs.append(last_layer(model).input)
        sub = keras.Model(model.inputs[0], outputs)
        # Functional models check the input's full shape; without the check a fully
        # convolutional prefix runs on a whole image of any size.
        sub.input_spec = None
        cache[(names, out)] = sub
    return cache[(names, out)]


def _chain_layers(model):
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    previous = None
    for layer in layers:
        node = parent(model, layer)
        if len(_feeds(model).get(layer.name) or []) != 1 or not (
                node is previous or previous is None
                and isinstance(node, keras.layers.InputLayer)):
            raise ModelError(
                f"Model {model.name!r} is not a plain chain of layers ({layer.name!r} does not "
                "take the previous layer's output), so layers of the models nested in it "
                "cannot be reached. Choose a layer of the outer model."
            )
        previous = layer
    return layers


def forward(model, x, targets, out=None):
    """Run ``model`` on ``x`` and capture the outputs of the layers at ``targets``.

    Layers of a nested model are reached by running the outer chain layer by layer and the
    nested model as a sub-model with two outputs, so gradients flow from the model output to
    the captured maps (no "graph disconnected": no graph spans both models).

    Parameters
    ----------
    model : keras.Model
    x : tensor or ndarray
        float32 (N, H, W, C); any H, W when the targets' chains are fully convolutional.
    targets : sequence of tuple of str
        Layer paths split by :func:`split_path`.
    out : {None, "output", "head"}
        Also return the model output, or the input of its last layer (to compute logits).

    Returns
    -------
    captured : list of tensor
        One per target, (N, h, w, channels).
    final : tensor or None
    """
    targets = [tuple(t) for t in targets]
    nested = {}
    for t in targets:
        if len(t) > 1:
            nested.setdefault(t[0], []).append(t[1:])
    if not nested and not isinstance(model, keras.Sequential):
        names = tuple(t[0] for t in targets)
        result = _submodel(model, names, out)(x, training=False)
        if not isinstance(result, (list, tuple)):  # Keras unwraps a single output
            result = [result]
        return list(result[:len(names)]), (result[-1] if out else None)
    layers = _chain_layers(model)
    if out == "head":
        layers = layers[:-1]
    captured = {}
    for layer in layers:
        if isinstance(layer, keras.Model):
            inner = nested.get(layer.name, [])
            rest = [t for t in targets if t not in captured and t[0] != layer.name]
            need = out or rest or (layer.name,) in targets
            maps, y = forward(layer, x, inner, out="output" if need else None)
            captured.update({(layer.name, *t): m for t, m in zip(inner, maps, strict=True)})
        else:
            y = layer(x, training=False)
        x = y
        if (layer.name,) in targets:
            captured[(layer.name,)] = x
        if out is None and len(captured) == len(set(targets)):
            break
    return [captured[t] for t in targets], (x if out else None)
