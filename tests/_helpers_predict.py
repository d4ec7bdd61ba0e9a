"""A stripe classifier with hand-set weights and synthetic stripe images for the prediction tests.

The model needs no training, so its answers are deterministic and never flaky: a 3×3
derivative along Y and along X (both signs, ReLU), averaged over the input; class 0
("horizontal", intensity changes along Y) wins when the Y derivative carries more energy.
A flat patch scores 0.5 / 0.5. Only numpy is imported at module level (engine tests must
keep TensorFlow out of the pytest process and build the bundle in a subprocess).
"""

import numpy as np

CLASSES = ["horizontal", "vertical"]
TILE = 16


def stripes(shape, vertical, period=4, noise=0.2, seed=0):
    """float32 ``shape`` (Y, X) stripes in [0, 1] (``vertical``: constant along Y), with noise."""
    rng = np.random.default_rng(seed)
    axis = np.arange(shape[1] if vertical else shape[0])
    line = (axis % period < period // 2).astype(np.float32)
    img = np.broadcast_to(line[None, :] if vertical else line[:, None], shape)
    return (0.8 * img + noise * rng.random(shape)).astype(np.float32)


def mosaic(blocks=(2, 2), block=64, seed=0):
    """A checkerboard of stripe blocks; returns the image and the true class (0/1) per pixel."""
    truth = (np.add.outer(np.arange(blocks[0]), np.arange(blocks[1])) % 2).astype(np.uint8)
    truth = np.kron(truth, np.ones((block, block), np.uint8))
    image = np.where(truth == 1, stripes(truth.shape, True, seed=seed),
                     stripes(truth.shape, False, seed=seed + 1))
    return image.astype(np.float32), truth


def objects_scene(size=128, seed=0):
    """Striped discs on a flat background; returns ``image``, ``labels`` and ``truth``.

    ``truth`` maps each label id to its class index (even ids horizontal, odd vertical).
    """
    yy, xx = np.mgrid[:size, :size]
    image = 0.4 + 0.02 * np.random.default_rng(seed).random((size, size))
    labels = np.zeros((size, size), np.int32)
    truth = {}
    centres = [(20, 22), (24, 70), (22, 108), (66, 30), (70, 80), (104, 24), (108, 100)]
    for i, (cy, cx) in enumerate(centres):
        label = 3 * i + 2  # ids need not be contiguous
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= 11 ** 2
        vertical = label % 2 == 1
        image[disc] = stripes((size, size), vertical, period=6, seed=seed + i)[disc]
        labels[disc] = label
        truth[label] = int(vertical)
    return image.astype(np.float32), labels, truth


def stripe_model(channels=1, scale=10.0):
    """The hand-set stripe classifier, input (16, 16, channels), softmax over CLASSES."""
    import keras  # noqa: TID251 (called by core tests and in subprocesses only, see above)

    model = keras.Sequential([
        keras.Input((TILE, TILE, channels)),
        keras.layers.Conv2D(4, 3, use_bias=False),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])
    kernel = np.zeros((3, 3, channels, 4), np.float32)
    kernel[2, 1, :, 0], kernel[0, 1, :, 0] = 1, -1  # d/dy
    kernel[1, 2, :, 2], kernel[1, 0, :, 2] = 1, -1  # d/dx
    kernel[..., 1], kernel[..., 3] = -kernel[..., 0], -kernel[..., 2]
    dense = np.array([[1, -1], [1, -1], [-1, 1], [-1, 1]], np.float32) * scale / channels
    model.layers[0].set_weights([kernel])
    model.layers[3].set_weights([dense, np.zeros(2, np.float32)])
    return model


def stripe_meta(channels=1, **data_config):
    """Bundle metadata for :func:`stripe_model`."""
    config = {"image_size": [TILE, TILE], "channels": channels, "normalization": "percentile",
              **data_config}
    return {"class_names": list(CLASSES), "input_shape": [TILE, TILE, channels],
            "data_config": config}


def save_stripe_bundle(path):
    """Save the stripe model as a bundle at ``path``; return ``path``."""
    from napari_convnet.core.bundle import save_bundle  # noqa: TID251 (as stripe_model)

    save_bundle(stripe_model(), path, stripe_meta())
    return path
