"""Labelled image folders: indexing, validation and splits (the configuration is
:mod:`.data_config`).

Two layouts are understood (class names are folder names, sorted; hidden entries ignored;
subfolders inside a class folder belong to that class):

- ``DATA/<class>/<images>``: split into train/validation(/test), seeded and stratified;
- ``DATA/train/<class>/...`` with optional ``val/`` or ``validation/`` and ``test/``: the given
  split; without a validation folder, validation is split off train (seeded, stratified).

Indexing imports no TensorFlow; :func:`make_dataset` (see :mod:`.pipeline`) does.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from napari_convnet import options
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.intensity import measure_levels
from napari_convnet.core.walk import BadFile, Sample, find_class_files, probe_files, split_files
from napari_convnet.errors import DatasetError

# a training split whose largest class is this many times its smallest is reported as imbalanced
_IMBALANCE_WARN = 1.5
_MAX_LISTED = 10


@dataclass
class DatasetIndex:
    """An indexed, validated and split folder of labelled images (no pixel data held).

    Attributes
    ----------
    root : str
    class_names : list of str
        Label ``i`` is ``class_names[i]``.
    splits : dict of str to list of Sample
        ``"train"``, ``"validation"`` and, when there is one, ``"test"``.
    bad_files : list of BadFile
    config : DataConfig
        With ``channels`` resolved (never None).
    layout : str
        ``"flat"`` (class folders) or ``"splits"`` (train/val/test folders).
    stats : dict
        Shapes and dtypes seen, upscaled and ignored file counts, notes (see :meth:`summary`).
    """

    root: str
    class_names: list[str]
    splits: dict[str, list[Sample]]
    bad_files: list[BadFile]
    config: DataConfig
    layout: str = "flat"
    stats: dict = field(default_factory=dict)
    # decoded (S, Y, X, C) files kept from indexing (see walk.DECODED_BUDGET); not pickled
    decoded: dict = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self):
        return {**self.__dict__, "decoded": {}}

    def forget_decoded(self):
        """Drop the files kept from indexing; later reads decode from disk."""
        self.decoded = {}

    def counts(self):
        """Samples per split and class: ``{split: {class_name: n}}``."""
        out = {}
        for split, samples in self.splits.items():
            per_label = Counter(s.label for s in samples)
            out[split] = {name: per_label.get(i, 0) for i, name in enumerate(self.class_names)}
        return out

    def class_weights(self):
        """Balanced class weights from the training split: ``n / (n_classes * n_class)``."""
        train = self.counts()["train"]
        total, k = sum(train.values()), len(self.class_names)
        return {i: total / (k * train[name]) for i, name in enumerate(self.class_names)}

    def imbalance(self):
        """Largest / smallest class in the training split, with both class names."""
        train = self.counts()["train"]
        largest = max(train, key=train.get)
        smallest = min(train, key=train.get)
        ratio = train[largest] / train[smallest]
        return {"ratio": round(ratio, 3), "largest": largest, "smallest": smallest,
                "imbalanced": ratio >= _IMBALANCE_WARN}

    def summary(self):
        """JSON-able description: classes, counts, shapes/dtypes seen, channels, bad files."""
        counts = self.counts()
        return {
            "root": self.root,
            "layout": self.layout,
            "class_names": list(self.class_names),
            "counts": counts,
            "totals": {split: sum(c.values()) for split, c in counts.items()},
            "files": self.stats.get("files", 0),
            "shapes": dict(self.stats.get("shapes", {})),
            "dtypes": dict(self.stats.get("dtypes", {})),
            "channels": self.config.channels,
            "image_size": list(self.config.image_size),
            "image_size_rule": self.stats.get("image_size_rule"),
            "levels": self.config.to_dict()["levels"],
            "upscaled": self.stats.get("upscaled", 0),
            "ignored_files": self.stats.get("ignored", 0),
            "imbalance": self.imbalance(),
            "class_weights": {self.class_names[i]: round(w, 4)
                              for i, w in self.class_weights().items()},
            "bad_files": [dataclasses.asdict(b) for b in self.bad_files],
            "notes": list(self.stats.get("notes", [])),
            "config": self.config.to_dict(),
        }


def _emit(on_event, level, text):
    if on_event is not None:
        on_event({"type": "message", "level": level, "text": text})


def _listing(paths):
    shown = ", ".join(repr(p) for p in paths[:_MAX_LISTED])
    more = len(paths) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _resolve_channels(config, infos):
    """Return the model's channel count; raise naming the files that do not fit it."""
    per_file = Counter(info.channels for info in infos.values())
    if config.channels is None:
        if len(per_file) == 1:
            return next(iter(per_file))
        common = per_file.most_common(1)[0][0]
        odd = sorted(p for p, info in infos.items() if info.channels != common)
        seen = ", ".join(f"{n} file(s) with {c}" for c, n in sorted(per_file.items()))
        raise DatasetError(
            f"Images have different channel counts ({seen}); most have {common}. Files that "
            f"differ: {_listing(odd)}. Set `channels` (--channels) to convert them all "
            "(grey -> N repeats, N -> grey mean), or fix those files."
        )
    target = config.channels
    odd = sorted(p for p, info in infos.items()
                 if info.channels not in (target, 1) and target != 1)
    if odd:
        raise DatasetError(
            f"Cannot convert these images to channels={target}: {_listing(odd)} (only grey -> N "
            "and N -> grey are defined). Choose another `channels` value or fix those files."
        )
    return target


def auto_size(planes, min_side=None):
    """The ``auto`` model input size for images of the given (Y, X) sizes, and why.

    One shared size is kept; several give each side's median, rounded. A longest side over
    :data:`~napari_convnet.options.AUTO_MAX_SIDE` is scaled down to it (aspect kept); sides
    are at least ``min_side`` (a preset's smallest input) and the smallest allowed side.

    Parameters
    ----------
    planes : collection of (int, int)
        (Y, X) of every usable file.
    min_side : int, optional

    Returns
    -------
    size : (int, int)
    reason : str
        One line for the user, e.g. ``"auto: every image is 28×28"``.
    """
    counts = Counter(planes)
    if len(counts) == 1:
        (height, width), = counts
        reason = f"every image is {height}×{width}"
    else:
        heights, widths = zip(*planes, strict=True)
        height, width = (int(round(float(np.median(v)))) for v in (heights, widths))
        reason = f"median of {len(counts)} image sizes"
    longest = max(height, width)
    if longest > options.AUTO_MAX_SIDE:
        scale = options.AUTO_MAX_SIDE / longest
        height, width = (max(1, round(v * scale)) for v in (height, width))
        reason += f", scaled down to at most {options.AUTO_MAX_SIDE} pixels a side"
    low = max(options.IMAGE_SIDE[0], min_side or 0)
    if min(height, width) < low:
        height, width = max(height, low), max(width, low)
        reason += f", raised to the model's smallest input of {low} pixels"
    return (height, width), f"auto: {reason} → {height}×{width}"


def index_folder(root, config=None, on_event=None, should_stop=None, min_side=None):
    """Walk, validate and split a folder of labelled images; take what is missing from them.

    Every image file is decoded once (in a thread pool) so damaged files are found now, not
    in the middle of training. Bad files are listed in ``bad_files`` and skipped. What the
    configuration leaves to the data is resolved: the channel count, an ``auto`` image size
    (:func:`auto_size`) and, for ``"dataset"`` normalisation, the intensity levels of the
    training split (:func:`napari_convnet.core.intensity.measure_levels`).

    Parameters
    ----------
    root : str or os.PathLike
        ``DATA/<class>/...`` or ``DATA/train/<class>/...`` (+ ``val``/``validation``, ``test``).
    config : DataConfig, optional
        Defaults to ``DataConfig()``.
    on_event : callable, optional
        Receives ``{"type": "progress", "stage": "indexing", "done", "total"}`` and
        ``{"type": "message", "level", "text"}`` dicts.
    should_stop : callable, optional
        Returning True stops indexing (raises :class:`~napari_convnet.errors.JobStopped`).
    min_side : int, optional
        With an ``auto`` image size, the smallest side to choose (a preset's smallest input).

    Returns
    -------
    DatasetIndex
        Its ``config`` is complete (:attr:`DataConfig.complete`).

    Raises
    ------
    DatasetError
        Bad arguments, or a dataset that cannot be used (fewer than two classes with images,
        a class without training samples, mixed channel counts without ``channels``).
    """
    config = DataConfig() if config is None else config
    if not isinstance(config, DataConfig):
        raise DatasetError(f"`config` must be a DataConfig. Received: config={config!r}")
    if not isinstance(root, (str, os.PathLike)):
        raise DatasetError(f"`root` must be a folder path. Received: root={root!r}")
    root = os.fspath(root)
    if not os.path.isdir(root):
        what = "is not a folder" if os.path.exists(root) else "does not exist"
        raise DatasetError(
            f"`root` must be a folder of class folders. Received: root={root!r} ({what})"
        )
    found = find_class_files(root)
    bad = list(found.bad)
    infos, probe_bad, decoded = probe_files(found.all_files(), config, on_event, should_stop)
    bad.extend(probe_bad)

    class_names = sorted({c for per_split in found.files.values() for c in per_split
                          if any(p in infos for p in per_split[c])})
    for split, per_class in found.files.items():
        for name, paths in per_class.items():
            if name not in class_names or not any(p in infos for p in paths):
                folder = os.path.join(found.folders[split], name)
                reason = "class folder without images" if not paths else "no readable images"
                bad.append(BadFile(folder, reason))
    if len(class_names) < 2:
        raise DatasetError(
            f"A classifier needs at least two classes with images; {root!r} has "
            f"{len(class_names)} ({', '.join(class_names) or 'none'}). Put each class's images in "
            "its own subfolder (DATA/<class>/<images>) or use DATA/train/<class>/..."
        )
    config = dataclasses.replace(config, channels=_resolve_channels(config, infos))
    size_reason = None
    if config.image_size is None:
        size, size_reason = auto_size([i.plane for i in infos.values()], min_side)
        config = dataclasses.replace(config, image_size=size)
    splits = split_files(found, class_names, infos, config)
    counts = {s: Counter(x.label for x in samples) for s, samples in splits.items()}
    empty = [n for i, n in enumerate(class_names) if counts["train"].get(i, 0) == 0]
    if empty:
        raise DatasetError(
            f"Classes without training images: {', '.join(empty)}. Add images to their train "
            "folder, or remove those class folders from every split."
        )
    no_val = [n for i, n in enumerate(class_names) if counts["validation"].get(i, 0) == 0]
    notes = []
    if no_val and (config.validation_split > 0 or found.layout == "splits"):
        notes.append(f"no validation images for: {', '.join(no_val)}")
    height, width = config.image_size
    upscaled = sum(i.plane[0] < height or i.plane[1] < width for i in infos.values())
    if size_reason is not None:
        _emit(on_event, "info", f"image size {size_reason}")
    if upscaled:
        notes.append(f"{upscaled} image(s) smaller than {config.image_size} are upscaled")
    if found.layout == "splits" and "validation" in found.files:
        notes.append("validation folder given: validation_split is not used")
    if bad:
        notes.append(f"{len(bad)} bad file(s)/folder(s) skipped")
    stats = {
        "files": len(infos),
        "shapes": dict(sorted(Counter(i.shape_text for i in infos.values()).items())),
        "dtypes": dict(sorted(Counter(i.dtype for i in infos.values()).items())),
        "upscaled": upscaled,
        "image_size_rule": size_reason,
        "ignored": found.ignored,
        "notes": notes,
    }
    if config.normalization == "dataset" and config.levels is None:
        paths = list(dict.fromkeys(s.path for s in splits["train"]))
        config = dataclasses.replace(config, levels=measure_levels(
            paths, config, decoded, on_event, should_stop))
    index = DatasetIndex(root, class_names, splits, sorted(bad, key=lambda b: b.path), config,
                         found.layout, stats)
    index.decoded = decoded
    imbalance = index.imbalance()
    if imbalance["imbalanced"]:
        notes.append(f"class imbalance: {imbalance['largest']!r} has {imbalance['ratio']}x the "
                     f"training images of {imbalance['smallest']!r}; consider class weights")
    for note in notes:
        _emit(on_event, "warning", note)
    return index
