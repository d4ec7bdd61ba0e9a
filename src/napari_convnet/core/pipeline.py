"""Feeding Keras: in-memory loading, tf.data pipelines and on-the-fly augmentation.

TensorFlow is imported inside the functions that need it, so indexing a folder stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from napari_convnet import options
from napari_convnet.core.images import (
    finish,
    prepare_planes,
    preprocess_syxc,
    read_image,
    reduce_stack,
)
from napari_convnet.errors import DatasetError

# shuffle buffer of a file-cached dataset: bounded in bytes, since elements are whole images
_SHUFFLE_BUFFER_BYTES = 256 * 2**20
# files per vectorised preprocessing group, and their raw bytes: bounds the temporary copies
_CHUNK = 256
_CHUNK_BYTES = 32 * 2**20
_SHIFT = 0.1  # the course's width/height_shift_range
_JITTER = 0.1  # intensity gain and offset, as a fraction of each image's range


def _workers():
    return min(8, (os.cpu_count() or 1) + 2)


def split_samples(index, split):
    """The samples of ``split``; a DatasetError for an unknown or empty split."""
    if split not in index.splits:
        raise DatasetError(
            f"`split` must be one of {', '.join(map(repr, index.splits))}. "
            f"Received: split={split!r}"
        )
    samples = index.splits[split]
    if not samples:
        raise DatasetError(f"The {split!r} split of {index.root!r} has no images.")
    return samples


def read_sample(index, path, slice_index=None):
    """float32 (N, H, W, C) of one file, from the arrays decoded while indexing when kept."""
    stack = index.decoded.get(path)
    if stack is None:
        return read_image(path, index.config, slice_index)
    if slice_index is not None and index.config.stack_rule == "slices":
        stack = stack[slice_index:slice_index + 1]
    return preprocess_syxc(stack, index.config, repr(path))


def load_split(index, split, on_event=None):
    """Read and preprocess a whole split into memory.

    Files kept decoded by :func:`~napari_convnet.core.data.index_folder` are preprocessed in
    vectorised groups of one size; the others are read again, in a thread pool.

    Parameters
    ----------
    index : DatasetIndex
    split : str
        ``"train"``, ``"validation"`` or ``"test"``.
    on_event : callable, optional
        Receives ``{"type": "progress", "stage": "loading", "done", "total"}`` dicts.

    Returns
    -------
    x : ndarray
        float32 (N, H, W, C).
    y : ndarray
        int32 (N,), labels in ``index.class_names`` order.
    """
    samples = split_samples(index, split)
    config = index.config
    height, width = config.image_size
    x = np.empty((len(samples), height, width, config.channels), np.float32)
    y = np.array([s.label for s in samples], np.int32)
    # slices of one stack are read once: group sample rows by file
    rows = {}
    for row, sample in enumerate(samples):
        rows.setdefault(sample.path, []).append((row, sample.slice_index))

    def fill(path, images):
        for row, slice_index in rows[path]:
            x[row] = images[slice_index or 0]

    total, done = len(rows), 0
    kept = [p for p in rows if p in index.decoded]
    for chunk in _chunks(kept, [index.decoded[p].nbytes for p in kept]):
        # files of one slice are stacked before their per-pixel steps: per-file calls would
        # cost more than the work on a small image; stacks get their rule file by file
        groups = {}
        for path in chunk:
            planes = index.decoded[path]
            planes = planes if len(planes) == 1 else reduce_stack(planes, config.stack_rule)
            groups.setdefault((planes.shape[1:], planes.dtype.str), []).append((path, planes))
        for items in groups.values():
            batch = np.concatenate([a for _, a in items])
            batch = finish(prepare_planes(batch, config), config)
            start = 0
            for path, planes in items:
                fill(path, batch[start:start + len(planes)])
                start += len(planes)
        done += len(chunk)
        _progress(on_event, done, total)
    on_disk = [p for p in rows if p not in index.decoded]
    with ThreadPoolExecutor(_workers()) as pool:
        chunks = _chunks(on_disk, [1] * len(on_disk), size=8)
        for chunk, images in zip(chunks, pool.map(
                lambda c: [read_image(p, config) for p in c], chunks), strict=True):
            for path, image in zip(chunk, images, strict=True):
                fill(path, image)
            done += len(chunk)
            _progress(on_event, done, total)
    return x, y


def _chunks(items, nbytes, size=_CHUNK):
    """Consecutive runs of at most ``size`` items and ``_CHUNK_BYTES`` bytes (at least 1 item)."""
    chunks, current, total = [], [], 0
    for item, n in zip(items, nbytes, strict=True):
        if current and (len(current) == size or total + n > _CHUNK_BYTES):
            chunks.append(current)
            current, total = [], 0
        current.append(item)
        total += n
    return chunks + ([current] if current else [])


def _progress(on_event, done, total):
    if on_event is not None:
        on_event({"type": "progress", "stage": "loading", "done": done, "total": total})


def _cache_file(cache, index, split, samples):
    """``cache`` plus a digest of what it holds, so a changed config never reads stale data."""
    key = json.dumps([index.config.to_dict(), split,
                      [(s.path, s.label, s.slice_index) for s in samples]])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = f"{os.fspath(cache)}.{digest}"
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    # found now, not by TensorFlow in the middle of the first epoch
    reason = (f"{existing!r} is a file, not a folder" if not os.path.isdir(existing) else
              f"the folder {existing!r} is read-only" if not os.access(existing, os.W_OK)
              else None)
    if reason is None:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
    if reason is not None:
        raise DatasetError(
            f"Cannot write the dataset cache {path!r}: {reason}. Give `cache` a path in a "
            "folder you can write to, or cache=True (memory) / False (no cache)."
        )
    return path


def make_dataset(index, split, batch_size=32, shuffle=None, augment=False, cache=True,
                 drop_remainder=False, on_event=None):
    """A ``tf.data.Dataset`` of preprocessed batches of one split.

    Parameters
    ----------
    index : DatasetIndex
    split : str
    batch_size : int
    shuffle : bool, optional
        Defaults to ``split == "train"``; seeded by ``index.config.seed``, reshuffled each epoch.
    augment : bool
        Random flips, 90-degree rotations, shifts and intensity jitter (pass it for training only).
    cache : bool or str or os.PathLike
        True: decode everything now (in parallel) and keep it in memory. A path: decode lazily
        and cache to files starting with that path (suffixed with a digest of the data and
        config), for data larger than memory. False: stream from disk with bounded memory.
    drop_remainder : bool
    on_event : callable, optional
        Progress events while loading into memory.

    Returns
    -------
    tf.data.Dataset
        Yields ``(x, y)``: x float32 (B, H, W, C), y int32 (B,).
    """
    samples = split_samples(index, split)
    options.check("batch_size", batch_size, options.PREDICT_BATCH_SIZE, DatasetError,
                  integer=True)
    if not isinstance(cache, (bool, str, os.PathLike)):
        raise DatasetError(f"`cache` must be True, False or a file path. Received: cache={cache!r}")
    import tensorflow as tf

    config = index.config
    n, seed = len(samples), config.seed
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    shape = (*config.image_size, config.channels)
    autotune = tf.data.AUTOTUNE
    if cache is True:
        x, y = load_split(index, split, on_event)
        xt, yt = tf.constant(x), tf.constant(y)
        del x
        ds = tf.data.Dataset.range(n)
        if shuffle:  # shuffling indices, not images: a full shuffle costs n int64s
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(lambda i: (tf.gather(xt, i), tf.gather(yt, i)))
    else:
        yt = tf.constant(np.array([s.label for s in samples], np.int32))

        def load(i):
            s = samples[int(i)]
            return read_sample(index, s.path, s.slice_index)[0]

        def load_tf(i):
            image = tf.numpy_function(load, [i], tf.float32, stateful=False)
            image.set_shape(shape)
            return image, tf.gather(yt, i)

        ds = tf.data.Dataset.range(n)
        if shuffle and cache is False:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(load_tf, num_parallel_calls=autotune, deterministic=True)
        if cache is not False:
            ds = ds.cache(_cache_file(cache, index, split, samples))
            if shuffle:
                buffer = max(64, min(n, _SHUFFLE_BUFFER_BYTES // (4 * int(np.prod(shape)))))
                ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment:
        # a seed pair per batch, different every epoch but reproducible from config.seed
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda xy, s: (augment_batch(xy[0], s), xy[1]), num_parallel_calls=autotune)
    return ds.prefetch(autotune)


def augment_batch(x, seed=None, shift=_SHIFT, jitter=_JITTER):
    """Randomly flip, rotate by 90 degrees, shift and intensity-jitter a batch, per image.

    Horizontal and vertical flips plus a transpose (square images) give all 8 flips and
    90-degree rotations with equal probability; shifts are whole pixels up to ``shift`` of the
    size (edges repeated, as the course's ``ImageDataGenerator``); intensities become
    ``x * gain + offset``, gain in 1 +- ``jitter``, offset in +- ``jitter`` of the image's range.

    Parameters
    ----------
    x : tf.Tensor or ndarray
        float32 (B, H, W, C).
    seed : tensor of 2 ints, optional
        Stateless seed (reproducible); None draws from TensorFlow's global generator.

    Returns
    -------
    tf.Tensor
        float32 (B, H, W, C).
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    b, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    if seed is None:
        def uniform(k):
            return tf.random.uniform([b])
    else:
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 7)

        def uniform(k):
            return tf.random.stateless_uniform([b], seeds[k])

    def where(k, transformed, original):
        return tf.where((uniform(k) < 0.5)[:, None, None, None], transformed, original)

    x = where(0, tf.reverse(x, [2]), x)
    x = where(1, tf.reverse(x, [1]), x)
    if x.shape[1] is not None and x.shape[1] == x.shape[2]:
        x = where(2, tf.transpose(x, [0, 2, 1, 3]), x)
    if shift > 0:
        dx = tf.round((uniform(3) * 2 - 1) * shift * tf.cast(w, tf.float32))
        dy = tf.round((uniform(4) * 2 - 1) * shift * tf.cast(h, tf.float32))
        one, zero = tf.ones_like(dx), tf.zeros_like(dx)
        transforms = tf.stack([one, zero, dx, zero, one, dy, zero, zero], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.shape(x)[1:3],
            fill_value=0.0, interpolation="NEAREST", fill_mode="NEAREST")
    if jitter > 0:
        span = tf.reduce_max(x, [1, 2, 3]) - tf.reduce_min(x, [1, 2, 3])
        gain = 1 + (uniform(5) * 2 - 1) * jitter
        offset = (uniform(6) * 2 - 1) * jitter * span
        x = x * gain[:, None, None, None] + offset[:, None, None, None]
    return x


def training_batches(index, split, batch_size=32, shuffle=None, cache=True, on_event=None):
    """The batches ``fit`` and ``evaluate`` read, on the running Keras backend.

    TensorFlow: :func:`make_dataset` (``tf.data``). JAX and PyTorch: a
    :class:`~napari_convnet.core.batches.SplitBatches` (a ``keras.utils.PyDataset``), so
    TensorFlow is not needed. Both yield ``(x, y)``: x float32 (B, H, W, C), y int32 (B,),
    shuffled each epoch (seeded by ``index.config.seed``) when ``shuffle``.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return make_dataset(index, split, batch_size=batch_size, shuffle=shuffle, cache=cache,
                            on_event=on_event)
    from napari_convnet.core.batches import SplitBatches

    return SplitBatches(index, split, batch_size, shuffle, cache=cache, on_event=on_event)
