"""How images are prepared and models trained: the choices, defaults and bounds users can set.

Keras-free, so the docks (napari's process), the command line and ``core`` take every
default and every bound from here and never disagree.
:class:`napari_convnet.core.data_config.DataConfig` and
:class:`napari_convnet.core.training.TrainConfig` check a configuration against these; the
command line checks its numbers while it parses them (:func:`within`, :func:`describe`) and
the docks' spin boxes take them as min/max. docs/preparation.md explains them to users.
"""

import numbers

from napari_convnet.errors import shorten

#: Normalisations: ``dataset`` maps fixed per-channel levels measured on the training split to
#: 0..1 (the same pixels always get the same numbers); ``percentile`` stretches each image
#: (each tile, each object crop) on its own; ``range`` divides integers by their dtype maximum;
#: ``none`` only casts to float32.
NORMALIZATIONS = ("dataset", "percentile", "range", "none")
#: Z/T stacks: max projection, middle slice, or every slice as its own sample.
STACK_RULES = ("max", "middle", "slices")
#: Fitting an image to the model input: keep the aspect ratio by padding or centre-cropping,
#: or stretch.
RESIZE_MODES = ("pad", "crop", "stretch")

#: ``image_size`` value that takes the size from the data (see :data:`AUTO_MAX_SIDE`).
AUTO = "auto"
#: With an ``auto`` image size, images that all share one size keep it; otherwise each side is
#: the median over the files, rounded. Either way a side longer than this is scaled down (the
#: aspect ratio kept), since a model input of whole microscope fields would not fit in memory.
AUTO_MAX_SIDE = 256
#: Smallest and largest height or width of a model input, in pixels.
IMAGE_SIDE = (4, 4096)
#: Low and high percentile of ``dataset`` and ``percentile`` normalisation, mapped to 0 and 1.
PERCENTILES = (1.0, 99.8)
#: Pixels per image (spread over the image) and in all that ``dataset`` normalisation measures.
LEVEL_PIXELS_PER_IMAGE = 4096
LEVEL_PIXELS = 4_000_000

#: Defaults of :class:`~napari_convnet.core.data_config.DataConfig` (and of the Dataset dock and the
#: ``--image-size``, ``--normalization``... options of the command line).
DATA_DEFAULTS = {
    "image_size": AUTO,
    "channels": None,
    "channel_axis": None,
    "normalization": "dataset",
    "percentiles": PERCENTILES,
    "stack_rule": "max",
    "resize": "pad",
    "validation_split": 0.2,
    "test_split": 0.0,
    "seed": 1337,
}
#: Normalisation of bundles written before ``dataset`` existed whose metadata names none.
LEGACY_NORMALIZATION = "percentile"
#: Normalisation assumed for a model imported from elsewhere when none is given: a notebook's
#: model usually saw its images divided by 255 (Keras' examples, the course).
IMPORT_NORMALIZATION = "range"

# --- training ------------------------------------------------------------------------------
OPTIMIZERS = ("adam", "sgd")
#: Metric that picks the best epoch (and drives early stopping).
MONITORS = ("val_accuracy", "val_loss")
#: Default learning rate of each optimiser: Adam's usual 1e-3, and for SGD (with momentum)
#: Keras' own SGD default 1e-2: at 1e-3 SGD learns about ten times slower in the few epochs a
#: first run has.
LEARNING_RATES = {"adam": 1e-3, "sgd": 1e-2}
#: Defaults of :class:`~napari_convnet.core.training.TrainConfig` (and of the Train dock and
#: ``napari-convnet train``). ``learning_rate`` None = the optimiser's :data:`LEARNING_RATES`.
TRAIN_DEFAULTS = {
    "optimizer": "adam",
    "learning_rate": None,
    "momentum": 0.9,
    "batch_size": 32,
    "epochs": 10,
    "early_stopping": None,
    "monitor": "val_accuracy",
    "seed": DATA_DEFAULTS["seed"],
}

# --- bounds --------------------------------------------------------------------------------
# Inclusive (low, high) of every number a user can type: core checks them (DataConfig,
# TrainConfig, tiling, objects...), the command line while it parses its arguments, and they
# are the min/max of the docks' spin boxes, so every surface takes the same values.
#: Samples per training batch.
BATCH_SIZE = (1, 4096)
#: Samples per prediction batch (tiles, object crops, files): no gradients, so larger.
PREDICT_BATCH_SIZE = (1, 65_536)
EPOCHS = (1, 10_000)
LEARNING_RATE = (1e-6, 1.0)
#: SGD momentum (1 or more never converges).
MOMENTUM = (0.0, 0.999)
#: Early stopping's patience in epochs (None, or 0 in the Train dock, = off).
PATIENCE = (1, 1000)
#: L2 kernel regularisation of the VGG presets (0 or None = off).
L2 = (0.0, 1.0)
#: Seeds: the int32 range, which numpy, TensorFlow and Qt's spin boxes all take.
SEED = (0, 2**31 - 1)
#: ``validation_split`` and ``test_split``, each; their sum must also leave images to train on.
SPLIT = (0.0, 0.9)
#: Each of ``percentiles`` (low < high).
PERCENTILE = (0.0, 100.0)
#: Channels of a model input.
CHANNELS = (1, 512)
#: Step between the tiles of a tiled class map, in pixels (and at most the tile, the input size).
STRIDE = (1, IMAGE_SIDE[1])
#: Class probability below which a tiled class map leaves a pixel unlabelled.
MIN_CONFIDENCE = (0.0, 1.0)
#: Objects mode: the bounding box widened by this fraction of its height/width on each side.
PADDING = (0.0, 4.0)
#: Samples per class that the Dataset dock opens as a layer.
SAMPLES_PER_CLASS = (1, 100)


def within(value, bounds, integer=False):
    """True when ``value`` is a number in ``bounds``: an int if ``integer``; never a bool or NaN."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return bounds[0] <= value <= bounds[1]


def describe(bounds, integer=False):
    """``"an int from 1 to 4,096"`` or ``"a number from 1e-06 to 1"``: what ``bounds`` allows."""
    if integer:
        return f"an int from {bounds[0]:,} to {bounds[1]:,}"
    return f"a number from {bounds[0]:g} to {bounds[1]:g}"


def check(name, value, bounds, error, integer=False, optional=False):
    """Return ``value`` if it is within ``bounds`` (or None when ``optional``), else raise.

    ``error`` is the exception type raised (e.g. ``DatasetError``), with a message saying what
    ``name`` must be and what was received.
    """
    if (optional and value is None) or within(value, bounds, integer):
        return value
    raise error(f"`{name}` must be {'None or ' if optional else ''}{describe(bounds, integer)}. "
                f"Received: {name}={shorten(repr(value))}")
