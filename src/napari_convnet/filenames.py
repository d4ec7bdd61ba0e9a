"""Names of the files a run or a report writes; shared by napari's process, the engine and the CLI.

Keras-free (napari's process imports it). One rule on every surface: a new run never replaces
an existing model bundle. The Train dock saves to the next free name (``cells.keras`` taken:
``cells-2.keras``, then ``cells-3.keras``...); the command line refuses an existing ``--out``
and names that free file; only an explicit choice (the dock's "replace the model's own file"
when continuing, ``--overwrite``) writes over a bundle.
"""

import os
import re

BUNDLE_SUFFIX = ".keras"
RUN_SUFFIX = ".run.json"
REPORT_SUFFIXES = (".json", ".csv", ".png")
# a name that already ends in "-N" counts on from N (cells-2 -> cells-3, not cells-2-2)
_NUMBERED = re.compile(r"^(?P<base>.*)-(?P<n>[2-9]|[1-9][0-9]{1,2})$")


def _stem(path, suffix):
    path = os.fspath(path)
    if not path.endswith(suffix):
        raise ValueError(f"`path` must end in {suffix!r}. Received: path={path!r}")
    return path[: -len(suffix)]


def next_free(path, suffix=BUNDLE_SUFFIX, siblings=()):
    """``path`` when it is free, else the first free ``STEM-N<suffix>`` (N = 2, 3, ...).

    Parameters
    ----------
    path : str or os.PathLike
        The wanted file; must end in ``suffix``.
    suffix : str
        The file's whole suffix (``".keras"``, ``".run.json"``): the number goes before it.
    siblings : tuple of str
        Suffixes of the files that belong to the same name (a bundle's ``".run.json"``): a
        name is free only when none of them exists either.

    Returns
    -------
    str
        A path in the same folder whose file (and siblings) do not exist.
    """
    stem = _stem(path, suffix)

    def free(candidate):
        return not any(os.path.exists(candidate + s) for s in (suffix, *siblings))

    if free(stem):
        return stem + suffix
    folder, name = os.path.split(stem)
    match = _NUMBERED.match(name)
    base, n = (match["base"], int(match["n"]) + 1) if match else (name, 2)
    while not free(os.path.join(folder, f"{base}-{n}")):
        n += 1
    return os.path.join(folder, f"{base}-{n}") + suffix


def free_bundle_path(path):
    """The bundle path a new run writes when ``path`` is wanted: ``path``, or the next free name.

    A name is taken when its bundle ``NAME.keras`` or its run record ``NAME.run.json`` exists
    (a record of a deleted bundle must not end up describing another model).
    """
    return next_free(path, BUNDLE_SUFFIX, siblings=(RUN_SUFFIX,))


def report_stem(model_path):
    """Where the evaluation report of the bundle ``model_path`` goes, without the suffix.

    ``DIR/NAME.keras`` → ``DIR/NAME.evaluation``, or ``DIR/NAME.evaluation-2`` (and so on)
    when a report of that model is already there: the report files are that stem plus
    ``.json``, ``.csv`` and ``.png``, beside the bundle, and an earlier report is never
    replaced.
    """
    model_path = os.fspath(model_path)
    stem = (model_path[: -len(BUNDLE_SUFFIX)] if model_path.endswith(BUNDLE_SUFFIX)
            else os.path.splitext(model_path)[0]) + ".evaluation"
    return _stem(next_free(stem + REPORT_SUFFIXES[0], REPORT_SUFFIXES[0],
                           siblings=REPORT_SUFFIXES[1:]), REPORT_SUFFIXES[0])
