"""The model presets: names, options, smallest input and description. Keras-free.

The one table of presets: :mod:`napari_convnet.core.presets` builds the models it names, the
Train dock lists them and enables each option where a preset takes it, the command line
lists them (``napari-convnet presets``). napari's process imports this module, so it holds no
Keras; adding a preset means a row here and a builder in ``core.presets``.
"""

from dataclasses import dataclass

from napari_convnet.errors import ModelError


@dataclass(frozen=True)
class Preset:
    """One preset's row of the table.

    Attributes
    ----------
    name : str
    min_size : int
        Smallest input height/width (pixels) the preset can be built for.
    options : tuple of str
        Keyword options ``build_model`` accepts for it (``augment`` always).
    description : str
        One line, for menus and ``napari-convnet presets``.
    """

    name: str
    min_size: int
    options: tuple
    description: str


#: Options every preset takes: ``augment`` (False, True = "course", or a mode below).
COMMON_OPTIONS = ("augment",)
#: Extra options of the VGG presets (as in the course: dropout, L2, batch normalisation).
VGG_OPTIONS = ("dropout", "l2", "batchnorm")
#: Extra options of the transfer-learning presets.
TRANSFER_OPTIONS = ("weights", "fine_tune", "dropout")
#: Smallest input of the ImageNet backbones.
TRANSFER_MIN_SIZE = 32
#: Augmentation modes: ``True`` means ``"course"``.
AUGMENT_MODES = ("course", "microscopy")
#: The preset a new model starts from in the Train dock.
DEFAULT_PRESET = "course-cnn"

_ROWS = (
    ("dense-2x10", 1, (), "Flatten, Dense(10, relu), Dense(n) — course example 4"),
    ("dense-3x15", 1, (), "Flatten, 2 x Dense(15, relu), Dense(n) — course example 4"),
    ("course-cnn", 18, (),
     "3 x Conv2D(16, 3x3) + 2 max-pools, Dense(15), Dense(n) — course example 4"),
    ("vgg1", 6, VGG_OPTIONS, "course VGG, 1 block (32 filters) — example 5"),
    ("vgg2", 8, VGG_OPTIONS, "course VGG, 2 blocks (32, 64 filters) — example 5"),
    ("vgg3", 12, VGG_OPTIONS, "course VGG, 3 blocks (32, 64, 128) — example 5"),
    ("vgg16", TRANSFER_MIN_SIZE, TRANSFER_OPTIONS,
     "ImageNet VGG16 backbone (transfer learning), frozen or fine-tuned"),
    ("mobilenetv2", TRANSFER_MIN_SIZE, TRANSFER_OPTIONS,
     "ImageNet MobileNetV2 backbone (transfer learning), frozen or fine-tuned"),
)
#: name -> :class:`Preset`, in display order.
PRESETS = {name: Preset(name, size, COMMON_OPTIONS + extra, text)
           for name, size, extra, text in _ROWS}


def names():
    """The preset names, in display order (list of str)."""
    return list(PRESETS)


def get(name):
    """The :class:`Preset` called ``name``.

    Raises
    ------
    ModelError
        Unknown name (the message lists the presets).
    """
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ModelError(f"Unknown preset {name!r}. Choose one of: {', '.join(PRESETS)}.") \
            from None
