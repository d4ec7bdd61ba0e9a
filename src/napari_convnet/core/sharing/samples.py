"""Images of a model's own data folder to check a shared model with (test tensors, ONNX)."""

import os

from napari_convnet.errors import ModelError, shorten


def data_folder(meta, data=None):
    """``data``, else the folder the model was trained on; None when neither is a folder here."""
    data = data or (meta.get("dataset") or {}).get("root")
    return data if data and os.path.isdir(data) else None


def sample_paths(meta, data, per_class=1, limit=8):
    """Up to ``per_class`` files of each of the model's classes in ``data`` (sorted, the
    training split first), at most ``limit`` in all, in class order.

    Raises
    ------
    ModelError
        ``data`` holds no image of the model's classes.
    """
    from napari_convnet.core.walk import find_class_files

    found = find_class_files(data)
    chosen = {}
    for split in ("train", "all", "validation", "test"):
        for name, files in found.files.get(split, {}).items():
            if name in meta["class_names"]:
                have = chosen.setdefault(name, [])
                have += files[:per_class - len(have)]
    paths = [p for name in meta["class_names"] for p in chosen.get(name, [])][:limit]
    if not paths:
        raise ModelError(f"The folder {shorten(repr(os.fspath(data)), 200)} has no images of "
                         "the model's classes to check the shared model with: give the folder "
                         "it was trained on (or one like it).")
    return paths
