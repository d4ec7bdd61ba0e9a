"""ImageNet backbones (VGG16, MobileNetV2) for the transfer-learning presets.

Weights are never downloaded here: they come from a file the user names or from the Keras
cache (``$KERAS_HOME/models`` or ``~/.keras/models``), where ``keras.applications`` itself
puts them. When neither has them, the error names the exact file, URL and folder. An
untrained backbone is built only when the caller asks for ``weights="random"`` (tests).

Input adaptation (documented in docs/models.md): our images are normalised to about [0, 1]
with any number of channels, while the backbones expect 3 channels with their own scaling.
A 1×1 ``Conv2D`` named ``channel_adapter`` maps C channels to the backbone's RGB input and
applies its scaling in one affine step. For 1 channel (grey repeated to R, G, B) and
3 channels (RGB, reordered to BGR for VGG16) it is fixed; for any other C it starts as the
channel mean and is trainable.
"""

import os
from pathlib import Path

import keras
import numpy as np

from napari_convnet.errors import ModelError

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
_WEIGHT_FILES = {
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16/"),
    # The 224 px weights are valid for any input size (convolutions only, no top).
    "mobilenetv2": ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
                    "mobilenet_v2/"),
}
# VGG16 was trained on BGR images in 0..255 minus the ImageNet channel means (caffe style);
# MobileNetV2 on RGB in [-1, 1].
_VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype="float32")


def keras_cache_dirs():
    """Return the folders searched for cached ImageNet weights, in order."""
    dirs = []
    if os.environ.get("KERAS_HOME"):
        dirs.append(Path(os.environ["KERAS_HOME"]) / "models")
    dirs += [Path.home() / ".keras" / "models", Path("/tmp/.keras/models")]
    return dirs


def weights_file_name(backbone):
    """Return the file name Keras uses for the ImageNet weights of ``backbone`` (no top)."""
    return _WEIGHT_FILES[backbone][0]


def resolve_weights(backbone, weights):
    """Return the weights file to load, or None for an untrained backbone.

    Raises
    ------
    ModelError
        When ``weights="imagenet"`` and no cached file exists, or a given path is missing.
    """
    if weights is None or weights == "random":
        return None
    fname, sub = _WEIGHT_FILES[backbone]
    if weights == "imagenet":
        for folder in keras_cache_dirs():
            if (folder / fname).is_file():
                return str(folder / fname)
        raise ModelError(
            f"ImageNet weights for {backbone!r} are not available offline. Download "
            f"{_BASE}{sub}{fname} and put it at {keras_cache_dirs()[-2] / fname} "
            "(or in $KERAS_HOME/models), or pass the file with weights=PATH "
            "(command line: --weights PATH). weights='random' builds an untrained "
            "backbone (for tests only)."
        )
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise ModelError(
            f"Weights file for {backbone!r} not found. Received: weights={str(weights)!r}. "
            f"Pass the path of {fname} (Keras ImageNet weights without the top), "
            "'imagenet' to use the Keras cache, or 'random'."
        )
    return str(path)


def _adapter_weights(backbone, channels):
    scale, offset = (255.0, -_VGG_MEAN_BGR) if backbone == "vgg16" else (2.0, -np.ones(3))
    kernel = np.zeros((1, 1, channels, 3), dtype="float32")
    if channels == 3:
        order = (2, 1, 0) if backbone == "vgg16" else (0, 1, 2)
        for c_in, c_out in enumerate(order):
            kernel[0, 0, c_in, c_out] = scale
    else:
        kernel[0, 0, :, :] = scale / channels
    return kernel, offset.astype("float32")


def _make_backbone(backbone, shape, weights_path):
    kwargs = {"include_top": False, "input_shape": shape, "name": f"{backbone}_backbone"}
    try:
        if backbone == "vgg16":
            return keras.applications.VGG16(weights=weights_path, **kwargs)
        return keras.applications.MobileNetV2(weights=weights_path, **kwargs)
    except (ValueError, OSError) as exc:
        raise ModelError(
            f"Could not build the {backbone} backbone with weights {weights_path!r}: {exc}. "
            f"The file must be {weights_file_name(backbone)} (Keras ImageNet weights, no top)."
        ) from exc


def _set_trainable(model, fine_tune):
    if fine_tune is False or fine_tune == 0:
        model.trainable = False
        return
    model.trainable = True
    if fine_tune is True:
        return
    if not isinstance(fine_tune, int) or fine_tune < 0:
        raise ModelError(
            "`fine_tune` must be False (frozen), True (all layers) or the number of top "
            f"backbone layers to unfreeze. Received: fine_tune={fine_tune!r}"
        )
    for layer in model.layers[:-fine_tune]:
        layer.trainable = False


def backbone_features(backbone, x, input_shape, weights, fine_tune):
    """Apply the channel adapter and the ImageNet backbone to the symbolic tensor ``x``.

    Parameters
    ----------
    backbone : {"vgg16", "mobilenetv2"}
    x : KerasTensor
        ``(batch, H, W, C)`` float input, normalised to about [0, 1].
    input_shape : tuple of int
        ``(H, W, C)``.
    weights : str or None
        ``"imagenet"`` (Keras cache), a file path, or ``"random"``/None (untrained).
    fine_tune : bool or int
        False: frozen backbone; True: all trainable; k: the top k layers trainable.

    Returns
    -------
    KerasTensor
        The backbone's last feature map.
    """
    path = resolve_weights(backbone, weights)
    height, width, channels = input_shape
    fixed = channels in (1, 3)
    adapter = keras.layers.Conv2D(3, 1, trainable=not fixed, name="channel_adapter")
    x = adapter(x)
    adapter.set_weights(list(_adapter_weights(backbone, channels)))
    model = _make_backbone(backbone, (height, width, 3), path)
    _set_trainable(model, fine_tune)
    # training=False keeps BatchNormalization in inference mode even when fine-tuning,
    # as Keras recommends: batch statistics of small datasets would wreck ImageNet stats.
    return model(x, training=False)
