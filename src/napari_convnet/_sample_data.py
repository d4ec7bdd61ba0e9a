"""Sample data for napari (npe2 ``sample_data`` contributions).

Runs in napari's process, so it uses numpy and PIL only: no Keras, TensorFlow or ``core``.
The digits are scikit-learn's ``load_digits`` (8x8, upscaled to 28x28), written as class
folders by ``scripts/make_sample_data.py``; :func:`digits_folder` gives their path so the
training widget (or the CLI) can use them as a dataset.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image

_DIGITS = Path(__file__).parent / "sample_data" / "digits"


def digits_folder():
    """Path of the shipped digits dataset: ``digits/<0..9>/*.png``, 60 images per class."""
    return str(_DIGITS)


def _class_files(root):
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    return {c: sorted(p for p in (Path(root) / c).iterdir() if p.suffix == ".png") for c in classes}


def make_digits_sample(per_class=5):
    """A stack of a few digits per class, labelled in the layer metadata.

    Parameters
    ----------
    per_class : int
        Images taken from each class folder.

    Returns
    -------
    list of tuple
        One napari LayerData tuple ``(data, kwargs, "image")``: data uint8 (N, 28, 28);
        ``kwargs["metadata"]`` holds ``class_names``, ``labels`` (int per plane), ``paths``
        and ``dataset`` (the folder to train on).
    """
    files = _class_files(_DIGITS)
    class_names = list(files)
    planes, labels, paths = [], [], []
    for label, name in enumerate(class_names):
        for path in files[name][:per_class]:
            with Image.open(path) as im:
                planes.append(np.asarray(im.convert("L")))
            labels.append(label)
            paths.append(str(path))
    metadata = {"class_names": class_names, "labels": labels, "paths": paths,
                "dataset": digits_folder()}
    kwargs = {"name": f"digits ({per_class} per class, classes {class_names[0]}-"
                      f"{class_names[-1]})", "metadata": metadata, "colormap": "gray"}
    return [(np.stack(planes), kwargs, "image")]
