"""Engine requests about data folders: scan a folder, read a few samples per class."""

from napari_convnet import options
from napari_convnet.core import data
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.images import read_image
from napari_convnet.engine.handlers import handler
from napari_convnet.errors import DatasetError


def _index(ctx, root, config):
    """Index ``root`` with ``config`` (a DataConfig dict), reusing the last index if identical."""
    key = (str(root), repr(sorted((config or {}).items())))
    cached = ctx.state.get("dataset")
    if cached is not None and cached[0] == key:
        return cached[1]
    index = data.index_folder(root, DataConfig.from_dict(config or {}),
                              on_event=ctx.emit, should_stop=ctx.should_stop)
    # The index keeps up to 256 MiB of images decoded while checking files; the engine keeps
    # this index between requests only to show a few samples, which can be read from disk.
    index.forget_decoded()
    ctx.state["dataset"] = (key, index)
    return index


@handler("scan_dataset")
def scan_dataset(ctx, root, config=None):
    """Index a labelled folder; return :meth:`DatasetIndex.summary` (JSON-able dict)."""
    return _index(ctx, root, config).summary()


@handler("dataset_samples")
def dataset_samples(ctx, root, config=None, per_class=4, split="train"):
    """Read the first ``per_class`` samples of each class, preprocessed as for training.

    Returns
    -------
    dict
        ``images`` float32 (N, H, W, C); ``labels`` list of int; ``class_names``;
        ``paths`` (one per image).
    """
    import numpy as np

    options.check("per_class", per_class, options.SAMPLES_PER_CLASS, DatasetError, integer=True)
    index = _index(ctx, root, config)
    samples = index.splits.get(split) or index.splits["train"]
    picked = []
    for label in range(len(index.class_names)):
        picked += [s for s in samples if s.label == label][:per_class]
    images = []
    for i, sample in enumerate(picked):
        images.append(read_image(sample.path, index.config, sample.slice_index)[0])
        ctx.emit({"type": "progress", "stage": "reading samples", "done": i + 1,
                  "total": len(picked)})
    return {
        "images": np.stack(images).astype("float32"),
        "labels": [s.label for s in picked],
        "class_names": list(index.class_names),
        "paths": [s.path for s in picked],
    }
