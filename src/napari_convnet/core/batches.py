"""Batches of one split as a ``keras.utils.PyDataset``: the input pipeline on JAX and PyTorch.

The same samples, preparation and seeded shuffling as :func:`.pipeline.make_dataset`, without
TensorFlow. The split is decoded into memory once (``cache=True``, the default), or each batch
is read from disk, its files decoded in a thread pool (``cache=False``, or a cache path, which
only ``tf.data`` can use).
"""

import math
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from napari_convnet import options
from napari_convnet.core.pipeline import load_split, read_sample, split_samples
from napari_convnet.errors import DatasetError


class SplitBatches(keras.utils.PyDataset):
    """``(x, y)`` batches of ``split``: x float32 (B, H, W, C), y int32 (B,).

    Parameters
    ----------
    index : DatasetIndex
    split : str
    batch_size : int
    shuffle : bool, optional
        Defaults to ``split == "train"``: a new order every epoch, from ``index.config.seed``.
    cache : bool or path
        True: decode the whole split now; otherwise read each batch from disk.
    on_event : callable, optional
        Progress events while decoding into memory.
    """

    def __init__(self, index, split, batch_size=32, shuffle=None, cache=True, on_event=None):
        super().__init__()
        options.check("batch_size", batch_size, options.PREDICT_BATCH_SIZE, DatasetError,
                      integer=True)
        self._index = index
        self._samples = split_samples(index, split)
        self._labels = np.array([s.label for s in self._samples], np.int32)
        self._x = load_split(index, split, on_event)[0] if cache is True else None
        self._batch = batch_size
        self._shuffle = split == "train" if shuffle is None else bool(shuffle)
        self._rng = np.random.default_rng(index.config.seed)
        self._order = self._new_order()
        # streaming: one pool for every batch (not one per batch); threads end with the object
        self._pool = None if self._x is not None else ThreadPoolExecutor(max_workers=8)

    def _new_order(self):
        n = len(self._samples)
        return self._rng.permutation(n) if self._shuffle else np.arange(n)

    def __len__(self):
        return math.ceil(len(self._samples) / self._batch)

    def __getitem__(self, i):
        rows = self._order[i * self._batch:(i + 1) * self._batch]
        if self._x is not None:
            return self._x[rows], self._labels[rows]
        picked = [self._samples[r] for r in rows]
        x = list(self._pool.map(lambda s: read_sample(self._index, s.path, s.slice_index)[0],
                                picked))
        return np.stack(x).astype(np.float32, copy=False), self._labels[rows]

    def on_epoch_end(self):
        self._order = self._new_order()
