"""Model builders: the course's dense, CNN and VGG networks, plus transfer-learning models.

Every preset is a function ``(input_shape, num_classes, **options) -> keras.Model`` built with
``keras.*`` APIs only (no ``tf.*``), as a Functional model with stable layer names, so the
same code runs on any Keras backend and the inspection tools can address layers by name.
The models end in ``Dense(num_classes, softmax)`` and expect sparse integer labels.

Data augmentation is part of the model (Keras preprocessing layers right after the input):
the layers are identities at inference, run on the GPU with the model, and are saved in the
bundle, so the training pipeline never needs a separate augmentation step.
"""

import keras

from napari_convnet import options, preset_table
from napari_convnet.core import _transfer
from napari_convnet.errors import ModelError
from napari_convnet.preset_table import AUGMENT_MODES

#: Course dropout rates after VGG blocks 1, 2, 3; the rate before the last Dense is 0.4.
_VGG_BLOCK_DROPOUT = (0.2, 0.3, 0.4)
_VGG_FILTERS = (32, 64, 128)
#: Keras' default 0.99 leaves the moving statistics ~2 % on their initial values after
#: 400 steps: a few epochs on a small dataset then validate at chance level (measured:
#: vgg3 on 2,000 MNIST digits, 2 epochs: 11 % with 0.99, 97 % with 0.9).
_BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="napari_convnet")
class RandomTranspose(keras.layers.Layer):
    """Swap the two spatial axes of half the images of a batch (training only).

    With random horizontal and vertical flips this yields all eight 90° rotations and
    reflections of a square image, which suits microscopy (no "up" in a cell image).

    Parameters
    ----------
    seed : int, optional
        Seed of the layer's own random generator.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = keras.ops.shape(inputs)[0]
        coin = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator)
        swapped = keras.ops.transpose(inputs, (0, 2, 1, 3))
        return keras.ops.where(coin < 0.5, swapped, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _augment_layers(mode, input_shape):
    """Return the augmentation layers for ``mode`` (see :data:`AUGMENT_MODES`)."""
    if mode in (None, False):
        return []
    if mode is True:
        mode = "course"
    if mode not in AUGMENT_MODES:
        raise ModelError(
            f"`augment` must be False, True or one of {', '.join(AUGMENT_MODES)}. "
            f"Received: augment={mode!r}"
        )
    # The course's ImageDataGenerator(width/height_shift_range=0.1, horizontal_flip=True).
    shift = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", name="augment_shift")
    if mode == "course":
        return [shift, keras.layers.RandomFlip("horizontal", name="augment_flip")]
    layers = [keras.layers.RandomFlip("horizontal_and_vertical", name="augment_flip")]
    if input_shape[0] == input_shape[1]:
        layers.append(RandomTranspose(name="augment_transpose"))
    # Inputs are normalised to about [0, 1]; value_range keeps RandomContrast from clipping.
    contrast = keras.layers.RandomContrast(0.2, value_range=(0, 1), name="augment_contrast")
    layers += [shift, contrast]
    return layers


def _chain(x, layers):
    for layer in layers:
        x = layer(x)
    return x


def _classifier_head(num_classes):
    # float32 output keeps softmax stable under a mixed_float16 policy; no-op otherwise.
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )


def _dense_model(name, widths):
    def build(input_shape, num_classes, augment=False):
        inputs = keras.Input(shape=input_shape, name="image")
        layers = _augment_layers(augment, input_shape) + [keras.layers.Flatten(name="flatten")]
        layers += [
            keras.layers.Dense(width, activation="relu", name=f"dense{i + 1}")
            for i, width in enumerate(widths)
        ]
        outputs = _chain(inputs, layers + [_classifier_head(num_classes)])
        return keras.Model(inputs, outputs, name=name.replace("-", "_"))

    return build


def _course_cnn(input_shape, num_classes, augment=False):
    """Three Conv2D(16, 3×3) with 2×2 max pooling after the first two, Dense(15), Dense(n)."""
    conv = keras.layers.Conv2D
    layers = _augment_layers(augment, input_shape) + [
        conv(16, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        conv(16, 3, activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        conv(16, 3, activation="relu", name="conv3"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(15, activation="relu", name="dense1"),
        _classifier_head(num_classes),
    ]
    inputs = keras.Input(shape=input_shape, name="image")
    return keras.Model(inputs, _chain(inputs, layers), name="course_cnn")


def _vgg(blocks):
    def build(input_shape, num_classes, augment=False, dropout=False, l2=None, batchnorm=False):
        options.check("l2", l2, options.L2, ModelError, optional=True)
        reg = keras.regularizers.L2(float(l2)) if l2 else None
        layers = _augment_layers(augment, input_shape)
        for b in range(blocks):
            for c in (1, 2):
                # The course's first block is 'valid' (32→28 px), later ones 'same':
                # this is what gives its 435,882 parameters for vgg3.
                layers.append(keras.layers.Conv2D(
                    _VGG_FILTERS[b], 3, activation="relu", padding="valid" if b == 0 else "same",
                    kernel_regularizer=reg, name=f"block{b + 1}_conv{c}",
                ))
                if batchnorm:
                    layers.append(keras.layers.BatchNormalization(
                        momentum=_BN_MOMENTUM, name=f"block{b + 1}_bn{c}"))
            layers.append(keras.layers.MaxPooling2D(2, name=f"block{b + 1}_pool"))
            if dropout:
                layers.append(keras.layers.Dropout(
                    _VGG_BLOCK_DROPOUT[b], name=f"block{b + 1}_dropout"))
        layers += [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(128, activation="relu", kernel_regularizer=reg, name="fc1"),
        ]
        if batchnorm:
            layers.append(keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name="fc1_bn"))
        if dropout:
            layers.append(keras.layers.Dropout(0.4, name="fc1_dropout"))
        inputs = keras.Input(shape=input_shape, name="image")
        outputs = _chain(inputs, layers + [_classifier_head(num_classes)])
        return keras.Model(inputs, outputs, name=f"vgg{blocks}")

    return build


def _transfer_builder(backbone):
    def build(input_shape, num_classes, augment=False, weights="imagenet", fine_tune=False,
              dropout=False):
        inputs = keras.Input(shape=input_shape, name="image")
        x = _chain(inputs, _augment_layers(augment, input_shape))
        x = _transfer.backbone_features(backbone, x, input_shape, weights, fine_tune)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(0.2, name="head_dropout")(x)
        outputs = _classifier_head(num_classes)(x)
        return keras.Model(inputs, outputs, name=backbone)

    return build


#: name -> builder; the presets' names, options, smallest input and descriptions are in
#: :mod:`napari_convnet.preset_table` (Keras-free, shared with the docks and the CLI).
_BUILDERS = {
    "dense-2x10": _dense_model("dense-2x10", (10,)),
    "dense-3x15": _dense_model("dense-3x15", (15, 15)),
    "course-cnn": _course_cnn,
    "vgg1": _vgg(1),
    "vgg2": _vgg(2),
    "vgg3": _vgg(3),
    "vgg16": _transfer_builder("vgg16"),
    "mobilenetv2": _transfer_builder("mobilenetv2"),
}
assert list(_BUILDERS) == preset_table.names(), "a preset without a builder, or the reverse"


def list_presets():
    """Return the preset names, in display order (:func:`napari_convnet.preset_table.names`)."""
    return preset_table.names()


def preset_description(name):
    """Return a one-line description of preset ``name``."""
    return preset_table.get(name).description


def preset_options(name):
    """Return the option names preset ``name`` accepts (keyword arguments of build_model)."""
    return preset_table.get(name).options


def min_input_size(name):
    """Return the smallest height/width (pixels) preset ``name`` can be built for."""
    return preset_table.get(name).min_size


def _check_shape(name, input_shape, num_classes):
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ModelError(
            "`input_shape` must be three positive ints (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ModelError(
            f"`num_classes` must be an int >= 2. Received: num_classes={num_classes!r}"
        )
    minimum = min_input_size(name)
    if min(shape[:2]) < minimum:
        raise ModelError(
            f"Preset {name!r} needs images of at least {minimum}x{minimum} pixels. "
            f"Received: input_shape={shape}. Use a larger image size or a smaller preset "
            "(dense-2x10 and dense-3x15 take any size)."
        )
    return shape


def build_model(name, input_shape=(28, 28, 1), num_classes=10, **options):
    """Build an (uncompiled) classifier from a preset.

    Parameters
    ----------
    name : str
        One of :func:`list_presets`.
    input_shape : tuple of int
        ``(height, width, channels)`` of one preprocessed image (float32 input).
    num_classes : int
        Number of classes (>= 2); the model outputs ``(batch, num_classes)`` float32
        softmax probabilities.
    **options
        ``augment`` (False, True = ``"course"``: shift 10 % + horizontal flip, or
        ``"microscopy"``: flips, 90° rotations, shift, contrast) on every preset;
        ``dropout`` (bool), ``l2`` (float), ``batchnorm`` (bool) on the VGG presets;
        ``weights`` ("imagenet", a file path, or "random"), ``fine_tune`` (bool or number of
        top backbone layers to unfreeze) and ``dropout`` on the transfer presets.

    Returns
    -------
    keras.Model

    Raises
    ------
    ModelError
        Unknown preset or option, input too small, weights not available offline.
    """
    allowed = preset_table.get(name).options
    builder = _BUILDERS[name]
    shape = _check_shape(name, input_shape, num_classes)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ModelError(
            f"Preset {name!r} does not take option(s) {', '.join(unknown)}. "
            f"It takes: {', '.join(allowed)}."
        )
    return builder(shape, num_classes, **options)


def layer_table(model):
    """Describe the layers of ``model`` like ``model.summary()``.

    Returns
    -------
    list of dict
        One ``{"name", "type", "output_shape", "params", "trainable"}`` per layer; output
        shapes use ``None`` for the batch axis.
    """
    rows = []
    for layer in model.layers:
        try:
            shape = list(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": shape,
            "params": int(layer.count_params()) if layer.built else 0,
            "trainable": bool(layer.trainable),
        })
    return rows


def count_params(model):
    """Return ``(trainable, non_trainable)`` parameter counts of ``model``."""
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    frozen = sum(int(keras.ops.size(w)) for w in model.non_trainable_weights)
    return trainable, frozen


def preset_info(name, input_shape=(28, 28, 1), num_classes=10, **options):
    """Summarise a preset: parameter counts and the layer table, without training anything.

    Transfer presets are summarised with an untrained backbone (``weights="random"``), so no
    weights file is needed; the counts are the same.

    Returns
    -------
    dict
        ``name``, ``description``, ``input_shape``, ``num_classes``, ``options``,
        ``trainable_params``, ``non_trainable_params``, ``total_params`` and ``layers``
        (see :func:`layer_table`).
    """
    if name in ("vgg16", "mobilenetv2"):
        options = {**options, "weights": "random"}
    model = build_model(name, input_shape, num_classes, **options)
    trainable, frozen = count_params(model)
    return {
        "name": name,
        "description": preset_description(name),
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "options": {k: v for k, v in options.items() if k != "weights"},
        "trainable_params": trainable,
        "non_trainable_params": frozen,
        "total_params": trainable + frozen,
        "layers": layer_table(model),
    }
