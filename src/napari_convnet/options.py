"""How images are prepared for a model: the choices, defaults and bounds users can set.

Keras-free, so the docks (napari's process), the command line and ``core`` take every
default from here and never disagree. :class:`napari_convnet.core.data.DataConfig` checks a
configuration against these; docs/preparation.md explains them to users.
"""

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

#: Defaults of :class:`~napari_convnet.core.data.DataConfig` (and of the Dataset dock and the
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
