"""Is a Keras model an image classifier the plugin can use, and what does its output mean?

A model brought from elsewhere (a notebook, a colleague, the course) must take one image batch
``(N, H, W, C)`` (channels last) and give one class vector ``(N, K)``. Its output may be
probabilities (softmax), logits (no activation) or, for two classes, one sigmoid unit;
:func:`as_probabilities` gives a model whose output is always probabilities, saying what it
changed. Everything else is refused with the reason.
"""

import keras
import numpy as np

from napari_convnet import options
from napari_convnet.errors import ModelError

#: What :func:`output_kind` returns.
PROBABILITIES, LOGITS, SIGMOID = "probabilities", "logits", "sigmoid"


def _shape(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def check_image_classifier(model, where):
    """Refuse a model that is not one image input and one class-vector output.

    Parameters
    ----------
    model : keras.Model
    where : str
        The file, for the messages.

    Returns
    -------
    tuple
        ``((H or None, W or None, C), K)``: the input shape without the batch axis (None for a
        side of any size) and the number of outputs.

    Raises
    ------
    ModelError
        Several inputs or outputs, an input that is not ``(N, H, W, C)``, an output that is not
        ``(N, K)`` with K >= 1.
    """
    inputs, outputs = model.inputs or [], model.outputs or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"{where}: the model has {len(inputs)} input(s) and {len(outputs)} output(s); an "
            "image classifier here has one image input and one class output. Save the "
            "classifier part of it as its own model.")
    shape_in, shape_out = _shape(model.input_shape), _shape(model.output_shape)
    if len(shape_in) != 4:
        raise ModelError(
            f"{where}: the model input has shape {shape_in}; an image classifier takes a batch "
            "of images (batch, height, width, channels).")
    height, width, channels = shape_in[1:]
    low, high = options.CHANNELS
    if channels is None or not low <= channels <= high:
        raise ModelError(
            f"{where}: the model input {shape_in} does not end in a channel axis of {low} to "
            f"{high} channels. Models saved with channels first (batch, channels, height, "
            "width) are not supported: rebuild it channels last (Keras' default).")
    if len(shape_out) != 2 or not shape_out[1]:
        raise ModelError(
            f"{where}: the model output has shape {shape_out}, not a class vector (batch, "
            "classes). Segmentation, detection or regression models cannot be used as "
            "classifiers.")
    return (height, width, channels), int(shape_out[1])


def _last_layer(model):
    """The layer that makes the output, inside a nested model if the model ends in one."""
    from napari_convnet.core.geometry import last_layer

    layer = last_layer(model)
    while isinstance(layer, keras.Model):
        layer = last_layer(layer)
    return layer


def _activation_name(layer):
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", str(activation))


def output_kind(model, input_shape, where):
    """What the model's output is: :data:`PROBABILITIES`, :data:`LOGITS` or :data:`SIGMOID`.

    Read from the last layer's activation (softmax, linear, sigmoid); for any other last layer
    the model is run on a noise batch and its rows must be probabilities (>= 0, sum 1).

    Raises
    ------
    ModelError
        Several sigmoid outputs (multi-label: each class on its own, not one of K) or an
        output that is neither probabilities nor logits.
    """
    classes = int(_shape(model.output_shape)[1])
    name = _activation_name(_last_layer(model))
    if name == "sigmoid" and classes == 1:
        return SIGMOID
    if name == "sigmoid":
        raise ModelError(
            f"{where}: the model ends in {classes} sigmoid outputs, a multi-label model (each "
            "class judged on its own). Only models that choose one class of K (softmax, or "
            "logits) or one sigmoid unit for two classes can be used.")
    if classes == 1:
        raise ModelError(
            f"{where}: the model has one output that is not a sigmoid unit, so it is not a "
            "two-class classifier (it may be a regression model).")
    if name == "softmax":
        return PROBABILITIES
    if name == "linear":
        return LOGITS
    rng = np.random.default_rng(0)
    size = [s or 32 for s in input_shape[:2]]
    x = rng.random((4, *size, input_shape[2]), dtype=np.float32)
    y = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), np.float64)
    if np.all(y >= -1e-6) and np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        return PROBABILITIES
    raise ModelError(
        f"{where}: the model's last layer ({type(_last_layer(model)).__name__}, activation "
        f"{name!r}) gives values that are neither probabilities nor logits of a class vector. "
        "End the model in Dense(classes, activation='softmax') or in logits (no activation).")


def as_probabilities(model, input_shape, where):
    """The model with probabilities as its output, and a note of what was changed.

    Logits get a ``Softmax`` layer named ``probabilities``; one sigmoid unit ``p`` becomes the
    two classes ``(1 - p, p)`` (layers ``not_p`` and ``probabilities``). A model that already
    gives probabilities is returned as it is. The model's own layers are shared, not copied.

    Returns
    -------
    model : keras.Model
    note : str or None
    """
    kind = output_kind(model, input_shape, where)
    if kind == PROBABILITIES:
        return model, None
    out = model.outputs[0]
    if kind == LOGITS:
        probs = keras.layers.Softmax(name=_free_name(model, "probabilities"))(out)
        note = ("The model gives logits (its last layer has no activation): a softmax was "
                "added, so it gives class probabilities.")
    else:
        not_p = keras.layers.Rescaling(-1.0, offset=1.0, name=_free_name(model, "not_p"))(out)
        probs = keras.layers.Concatenate(name=_free_name(model, "probabilities"))([not_p, out])
        note = ("The model gives one sigmoid probability p (of the second class): it now gives "
                "both classes, (1 - p, p).")
    return keras.Model(model.inputs[0], probs, name=model.name), note


def _free_name(model, name):
    taken = {layer.name for layer in model.layers}
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _training_only(layer):
    """Augmentation layers (Keras' ``Random*`` and the plugin's RandomTranspose): identities at
    inference, and the plugin's own would need napari-convnet installed to load."""
    return type(layer).__name__.startswith("Random")


def inference_copy(model):
    """The model without its augmentation layers, sharing every other layer (and its weights).

    For files other programs load (bioimage.io packages, ONNX): they give the same
    predictions, and need no napari-convnet layer class. Returns ``model`` itself when it has
    no augmentation layer.
    """
    if not any(_training_only(layer) for layer in model.layers):
        return model

    def clone(layer):
        return keras.layers.Identity(name=layer.name) if _training_only(layer) else layer

    return keras.models.clone_model(model, clone_function=clone)
