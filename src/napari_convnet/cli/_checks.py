"""Checks of the command line that run before any backend is imported (Keras-free).

A subcommand registers ``check(args)`` with ``parser.set_defaults(check=...)``; ``main`` runs
it before :func:`napari_convnet.backends.select` and before Keras, TensorFlow, JAX or PyTorch
is imported, so that a mistake is answered at once. The messages are those core would give
later (the same bounds, from :mod:`napari_convnet.options`).
"""

import os

from napari_convnet import options
from napari_convnet.errors import DatasetError, ModelError


def data_folder(path, what="DATA"):
    """Raise DatasetError unless ``path`` is an existing folder."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        why = "is not a folder" if os.path.exists(path) else "does not exist"
        raise DatasetError(f"{what} must be a folder of class folders. Received: {path!r} "
                           f"({why})")


def bundle_file(path):
    """Raise ModelError unless ``path`` is an existing file (a ``.keras`` model bundle)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        why = "is a folder" if os.path.isdir(path) else "does not exist"
        raise ModelError(f"Model bundle {path!r} {why}. Give the path of a .keras file.")


def batch_size(value, bounds=options.PREDICT_BATCH_SIZE):
    """Raise DatasetError unless ``--batch-size`` is within ``bounds``."""
    options.check("batch_size", value, bounds, DatasetError, integer=True)


def train_numbers(args):
    """The numbers of TrainConfig, as :class:`~napari_convnet.core.training.TrainConfig`
    checks them (ModelError, the same message). An option not given (None) is not checked:
    TrainConfig fills in its default."""
    for name, value, bounds, integer, optional in (
            ("learning_rate", getattr(args, "lr", None), options.LEARNING_RATE, False, False),
            ("momentum", getattr(args, "momentum", None), options.MOMENTUM, False, False),
            ("batch_size", getattr(args, "batch_size", None), options.BATCH_SIZE, True, False),
            ("epochs", args.epochs, options.EPOCHS, True, False),
            ("early_stopping", getattr(args, "early_stopping", None), options.PATIENCE, True,
             True)):
        if value is not None:
            options.check(name, value, bounds, ModelError, integer, optional)


def data_config(kwargs):
    """Build the DataConfig of ``kwargs`` (its own checks; Keras-free) and return it."""
    from napari_convnet.core.data_config import DataConfig

    return DataConfig(**kwargs)
