"""Walking class folders, checking every image file, and splitting files into samples.

Helpers of :func:`napari_convnet.core.data.index_folder`; numpy/PIL/tifffile only.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from napari_convnet.core.images import to_syxc
from napari_convnet.core.reading import IMAGE_SUFFIXES, describe_error, read_raw
from napari_convnet.errors import DatasetError, JobStopped

_SPLIT_FOLDERS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}
_CHUNK = 32
# mean values (pixels x channels x slices) per file, over the first _CHUNK files, up to which
# all files are checked in the indexing thread (see probe_files)
_SERIAL_VALUES = 64 * 64
# Indexing decodes every file anyway; keeping the arrays up to this many bytes spares small
# data sets, where per-file overhead dominates, a second read in the first epoch.
DECODED_BUDGET = 256 * 2**20


@dataclass
class Sample:
    """One training sample: a file, its label, and its slice when ``stack_rule="slices"``."""

    path: str
    label: int
    slice_index: int | None = None


@dataclass
class BadFile:
    """A file (or empty class folder) skipped while indexing, and why."""

    path: str
    reason: str


@dataclass
class FoundFiles:
    """Image files by split folder and class (split ``"all"`` for the flat layout)."""

    layout: str
    files: dict = field(default_factory=dict)  # split -> class -> sorted list of paths
    bad: list = field(default_factory=list)  # BadFile
    ignored: int = 0  # files without an image suffix
    folders: dict = field(default_factory=dict)  # split -> folder holding its class folders

    def all_files(self):
        return [p for per_class in self.files.values() for paths in per_class.values()
                for p in paths]


@dataclass
class FileInfo:
    """What indexing learnt from decoding one file."""

    channels: int
    slices: int
    shape_text: str
    dtype: str
    plane: tuple  # (Y, X) of the file's images


def _visible(name):
    return not name.startswith((".", "__MACOSX"))


def _within(path, folder):
    """True if the real path ``path`` is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass
class _Walk:
    """What the folder walk of one data set knows: the folders it must not enter twice."""

    found: FoundFiles
    root: str
    tops: set  # real paths of the data folder and its split folders
    classes: dict  # real path of each class folder -> its path (the folder, not a link to it)
    seen: set = field(default_factory=set)  # real paths of the folders walked so far

    def link_problem(self, target, parent, own):
        """Why the folder link in ``parent`` (real path) to ``target`` must not be followed.

        None when following it indexes no file twice and no file of another class; ``own`` is
        the real path of the class folder being walked.
        """
        if _within(parent, target):
            return "link to a folder that holds it (a loop): not followed"
        others = [os.path.relpath(path, self.root) for real, path in self.classes.items()
                  if real != own and (_within(target, real) or _within(real, target))]
        if others or target in self.tops:
            listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            return (f"link to another class folder ({listed or 'the data folder'}): not "
                    "followed, its files would be indexed twice")
        if target in self.seen:
            return "link to a folder already indexed: not followed"
        return None


def _files_below(folder, walk, own):
    """Sorted image and other files below ``folder``, following safe links (see _Walk)."""
    images, others = [], 0
    for current, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in walk.seen:  # reached twice without a link (e.g. a bind mount)
            dirnames[:] = []
            continue
        walk.seen.add(real)
        kept = []
        for name in sorted(d for d in dirnames if _visible(d)):
            path = os.path.join(current, name)
            reason = (walk.link_problem(os.path.realpath(path), real, own)
                      if os.path.islink(path) else None)
            if reason is None:
                kept.append(name)
            else:
                walk.found.bad.append(BadFile(path, reason))
        dirnames[:] = kept  # os.walk enters only these
        for name in sorted(filenames):
            if not _visible(name):
                continue
            if name.lower().endswith(IMAGE_SUFFIXES):
                images.append(os.path.join(current, name))
            else:
                others += 1
    return images, others


def _class_entries(folder, found, outside_reason):
    """(name, path) of the class folders in ``folder``; files beside them are noted."""
    classes = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not _visible(entry.name):
            continue
        if entry.is_dir():
            classes.append((entry.name, entry.path))
        elif entry.name.lower().endswith(IMAGE_SUFFIXES):
            found.bad.append(BadFile(entry.path, outside_reason))
        else:
            found.ignored += 1
    return classes


def _walk_classes(found, root, entries, tops):
    """Fill ``found.files`` from ``entries`` (split -> (folder, [(class, path)]))."""
    classes = {}
    # a class folder is known by its real path; a link to it is the duplicate, not the folder
    for _, path in sorted((os.path.islink(p), p) for _, listed in entries.values()
                          for _, p in listed):
        real = os.path.realpath(path)
        if not any(_within(top, real) for top in tops):  # a link up to the data folder
            classes.setdefault(real, path)
    walk = _Walk(found, root, tops, classes)
    for split, (folder, listed) in entries.items():
        per_class = found.files[split] = {}
        for name, path in listed:
            own = os.path.realpath(path)
            reason = None
            if os.path.islink(path):
                if classes.get(own, path) != path:
                    reason = (f"link to the class folder {os.path.relpath(classes[own], root)}:"
                              " not followed, its files would be indexed twice")
                else:
                    reason = walk.link_problem(own, os.path.realpath(folder), own)
            if reason is not None:
                found.bad.append(BadFile(path, reason))
                continue
            per_class[name], others = _files_below(path, walk, own)
            found.ignored += others


def find_class_files(root):
    """Detect the layout of ``root`` and list its image files per split and class.

    Folder links are followed, except those that would loop or index a file twice (a link to
    a folder above it, to another class folder, to a folder already walked): these are listed
    in ``bad`` with the reason, and skipped.

    Returns
    -------
    FoundFiles
        ``layout="splits"`` when ``root`` has a ``train`` folder, else ``"flat"``.
    """
    tops = sorted(e.name for e in os.scandir(root) if e.is_dir() and _visible(e.name))
    lower = {name.lower(): name for name in tops}
    if "train" not in lower:
        found = FoundFiles("flat", folders={"all": root})
        entries = {"all": (root, _class_entries(root, found, "not inside a class folder"))}
        _walk_classes(found, root, entries, {os.path.realpath(root)})
        return found
    others = [name for name in tops if name.lower() not in _SPLIT_FOLDERS]
    if others:
        raise DatasetError(
            f"{root!r} has a 'train' folder next to other folders ({', '.join(others)}). Use "
            "either DATA/<class>/... or DATA/train|val|test/<class>/..., not both."
        )
    if "val" in lower and "validation" in lower:
        raise DatasetError(f"{root!r} has both 'val' and 'validation' folders; keep one.")
    found = FoundFiles("splits")
    entries = {}
    for low, name in lower.items():
        folder = os.path.join(root, name)
        found.folders[_SPLIT_FOLDERS[low]] = folder
        entries[_SPLIT_FOLDERS[low]] = (folder, _class_entries(
            folder, found, f"not inside a class folder of {name}/"))
    tops = {os.path.realpath(root), *(os.path.realpath(f) for f, _ in entries.values())}
    _walk_classes(found, root, entries, tops)
    return found


def _check(path, config):
    """Check one file: (FileInfo, (S, Y, X, C) array), or why it is unusable.

    The file is decoded fully, which also finds damaged pixel data and NaN/inf in float TIFFs.
    """
    try:
        raw, axes = read_raw(path)
        stack = to_syxc(raw, axes, config.channel_axis)
    except DatasetError as exc:
        return str(exc)
    except Exception as exc:  # any decoder failure makes this a bad file, never a traceback
        return describe_error(exc)
    if stack.size == 0:
        return f"image has no pixels (shape {raw.shape})"
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        return "contains NaN or inf values"
    if raw.dtype.kind not in "biuf":
        return f"unsupported pixel type {raw.dtype}"
    return FileInfo(
        channels=int(stack.shape[-1]),
        slices=int(stack.shape[0]),
        shape_text=_shape_text(raw.shape),
        dtype=_dtype_text(raw.dtype),
        plane=(int(stack.shape[1]), int(stack.shape[2])),
    ), stack


def probe_files(paths, config, on_event=None, should_stop=None):
    """Check every file by decoding it: small images here, larger ones in a thread pool.

    Returns
    -------
    infos : dict of str to FileInfo
        The usable files.
    bad : list of BadFile
    decoded : dict of str to ndarray
        (S, Y, X, C) arrays of the first usable files, up to :data:`DECODED_BUDGET` bytes.
    """
    infos, bad, decoded, total = {}, [], {}, len(paths)
    progress = {"done": 0, "kept": 0}

    def collect(chunk, results):
        if should_stop is not None and should_stop():
            raise JobStopped("Indexing was stopped.")
        progress["kept"] = _collect(chunk, results, infos, bad, decoded, progress["kept"])
        progress["done"] += len(chunk)
        if on_event is not None:
            on_event({"type": "progress", "stage": "indexing", "done": progress["done"],
                      "total": total})

    # a small image costs Python overhead under the GIL, which threads would only contend for
    # (3x slower than one thread): the first files are checked here, and the others too unless
    # their images are large enough for the pool's decoders, which release the GIL, to pay
    first, to_decode = paths[:_CHUNK], paths[_CHUNK:]
    results = [_check(p, config) for p in first]
    collect(first, results)
    values = [r[1].size for r in results if isinstance(r, tuple)]
    if values and np.mean(values) <= _SERIAL_VALUES:
        for chunk in _chunked(to_decode, 4 * _CHUNK):
            collect(chunk, [_check(p, config) for p in chunk])
        to_decode = []
    workers = min(4, os.cpu_count() or 1)
    # chunks of files per task: one future per small file costs as much as decoding it
    chunks = _chunked(to_decode, _CHUNK)
    with ThreadPoolExecutor(workers) as pool:
        try:
            for chunk, results in zip(chunks, pool.map(
                    lambda c: [_check(p, config) for p in c], chunks), strict=True):
                collect(chunk, results)
        except JobStopped:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return infos, bad, decoded


@functools.lru_cache(maxsize=32)
def _dtype_text(dtype):
    return str(dtype)  # numpy builds this string anew each time (~10 us): once per dtype


@functools.lru_cache(maxsize=256)
def _shape_text(shape):
    return "x".join(map(str, shape))  # data sets have few distinct shapes


def _chunked(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def _collect(paths, results, infos, bad, decoded, kept):
    """File the results of one chunk; return the bytes of decoded arrays kept so far."""
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, tuple):
            infos[path], payload = result
            if kept + payload.nbytes <= DECODED_BUDGET:
                decoded[path] = payload
                kept += payload.nbytes
        else:
            bad.append(BadFile(path, result))
    return kept


def _split_counts(n, fractions):
    """Files per held-out split for a class of n files: at least 1 each when n allows."""
    counts = [max(1, round(n * f)) if f > 0 and n >= 2 else 0 for f in fractions]
    while counts and sum(counts) > n - 1 and any(counts):
        # training keeps at least one file: give back from the last held-out split first
        i = max(i for i, c in enumerate(counts) if c)
        counts[i] -= 1
    return counts


def split_files(found, class_names, infos, config):
    """Assign usable files to splits (seeded, stratified, by file) and expand to samples."""
    labels = {name: i for i, name in enumerate(class_names)}
    by_split = {"train": {}, "validation": {}, "test": {}}
    source = "all" if found.layout == "flat" else "train"
    for split, per_class in found.files.items():
        if split != source:
            for name, paths in per_class.items():
                by_split[split][name] = [p for p in paths if p in infos]
    held_out = [s for s, f in (("validation", config.validation_split),
                               ("test", config.test_split)) if s not in found.files or
                source == "all"]
    for name, paths in found.files.get(source, {}).items():
        if name not in labels:
            continue
        usable = [p for p in paths if p in infos]
        # one generator per class: adding a class does not reshuffle the others
        rng = np.random.default_rng([config.seed, labels[name]])
        order = [usable[i] for i in rng.permutation(len(usable))]
        fractions = [config.validation_split if s == "validation" else config.test_split
                     for s in held_out]
        start = 0
        for split, count in zip(held_out, _split_counts(len(usable), fractions), strict=True):
            by_split[split][name] = sorted(order[start:start + count])
            start += count
        by_split["train"][name] = sorted(order[start:])
    splits = {}
    for split, per_class in by_split.items():
        if split == "test" and config.test_split == 0 and "test" not in found.files:
            continue
        samples = []
        for name in class_names:
            for path in per_class.get(name, []):
                info, label = infos[path], labels[name]
                if config.stack_rule == "slices" and info.slices > 1:
                    samples.extend(Sample(path, label, i) for i in range(info.slices))
                else:
                    samples.append(Sample(path, label))
        splits[split] = samples
    return splits


def find_images(paths):
    """Expand files and folders (recursively, sorted) into image file paths.

    Raises
    ------
    DatasetError
        A path that does not exist, or no image files at all.
    """
    found = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(folder, f) for f in sorted(files)
                          if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise DatasetError(f"No such file or folder: {path!r}")
    if not found:
        raise DatasetError(
            f"No image files ({', '.join(IMAGE_SUFFIXES)}) in {[os.fspath(p) for p in paths]}."
        )
    return found
