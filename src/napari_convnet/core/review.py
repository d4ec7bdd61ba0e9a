"""Review a model's mistakes: confusion-matrix cells and relabelling of files.

A facility user must know where the classifier fails before trusting it. The per-image
results come from :func:`napari_convnet.core.evaluation.evaluate_folder` (``items=True``);
this module picks the images of one confusion-matrix cell, and moves (or copies) a mislabelled file
to the class folder the user says is right — never deleting, logging every move so it can be
undone.
"""

import json
import os
import shutil
import time

from napari_convnet.errors import DatasetError

LOG_NAME = ".napari-convnet-moves.jsonl"


def cell_items(items, true_class, predicted_class):
    """Items of one confusion-matrix cell, most confident first.

    Parameters
    ----------
    items : list of dict
        ``report["items"]`` from ``evaluate_folder(..., items=True)``.
    true_class, predicted_class : int
        Row and column of the cell.

    Returns
    -------
    list of dict
    """
    chosen = [i for i in items if i["true"] == true_class and i["predicted"] == predicted_class]
    return sorted(chosen, key=lambda i: -i["confidence"])


def _class_folder(path, data_root, class_names):
    """Return ``(split_prefix, class_name)`` of ``path`` inside ``data_root``."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(data_root)).split(os.sep)
    if rel[0] == ".." or len(rel) < 2:
        raise DatasetError(f"{path!r} is not inside the data folder {os.fspath(data_root)!r}.")
    if rel[0] in class_names:
        return [], rel[0]
    if len(rel) >= 3 and rel[1] in class_names:
        return rel[:1], rel[1]
    raise DatasetError(f"{path!r} is not in a class folder of {os.fspath(data_root)!r}.")


def relabel(path, data_root, new_class, class_names, copy=False):
    """Move (or copy) an image to the folder of ``new_class`` and log it.

    The file keeps its name (a numbered suffix is added if taken) and its split (a file in
    ``train/A`` goes to ``train/B``). Nothing is deleted or overwritten. Every move is
    appended to ``<data_root>/.napari-convnet-moves.jsonl`` (hidden, so it is never read as an
    image) so it can be undone with :func:`undo_last`.

    Returns
    -------
    dict
        The log entry: ``action`` (``"move"``/``"copy"``), ``source``, ``target``,
        ``from_class``, ``to_class``, ``time``.
    """
    if new_class not in class_names:
        raise DatasetError(f"Unknown class {new_class!r}. Choose one of: "
                           f"{', '.join(class_names)}.")
    if not os.path.isfile(path):
        raise DatasetError(f"{path!r} does not exist (moved or deleted meanwhile?).")
    prefix, old_class = _class_folder(path, data_root, class_names)
    folder = os.path.join(data_root, *prefix, new_class)
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    target = os.path.join(folder, stem + ext)
    n = 1
    while os.path.exists(target):
        target = os.path.join(folder, f"{stem}-{n}{ext}")
        n += 1
    (shutil.copy2 if copy else shutil.move)(path, target)
    entry = {"action": "copy" if copy else "move", "source": os.path.abspath(path),
             "target": os.path.abspath(target), "from_class": old_class,
             "to_class": new_class, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with open(os.path.join(data_root, LOG_NAME), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    return entry


def read_log(data_root):
    """Entries of the relabelling log of ``data_root`` (oldest first; undone ones included)."""
    path = os.path.join(data_root, LOG_NAME)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def undo_last(data_root):
    """Undo the last move or copy not yet undone; return its entry, or None if none is left.

    A move is moved back (refused if something now sits at the original path); a copy is
    removed only if it is still byte-identical to its source.
    """
    entries = read_log(data_root)
    undone = {e["undoes"] for e in entries if e["action"] == "undo"}
    todo = [i for i, e in enumerate(entries) if e["action"] != "undo" and i not in undone]
    if not todo:
        return None
    i = todo[-1]
    entry = entries[i]
    if not os.path.exists(entry["target"]):
        raise DatasetError(f"Cannot undo: {entry['target']!r} no longer exists.")
    if entry["action"] == "move":
        if os.path.exists(entry["source"]):
            raise DatasetError(f"Cannot undo: {entry['source']!r} exists again; move it away "
                               "first.")
        shutil.move(entry["target"], entry["source"])
    else:
        with open(entry["target"], "rb") as a, open(entry["source"], "rb") as b:
            if a.read() != b.read():
                raise DatasetError(f"Cannot undo: the copy {entry['target']!r} was changed.")
        os.remove(entry["target"])
    record = {"action": "undo", "undoes": i, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with open(os.path.join(data_root, LOG_NAME), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    return entry
