"""Output paths: an output never replaces an input, and it can be written.

Every command-line subcommand and every training run (the engine's too) call
:func:`check_outputs` before they read or write anything. Paths are compared by
``os.path.realpath``, so a symbolic link counts as the file it points to (and ``..``, a
linked folder on the way, a relative path are all resolved); an existing output is also
compared by device and inode, so a hard link counts. An output is refused when it

- is an input file (an image, a label image, a model bundle, a weights file),
- is an input folder, or an existing file inside one, or
- is an image file (by its suffix) inside an input folder, where a later run on that folder
  would read it as an input (a folder run's class maps written among its images),

or when two outputs of one run are the same file. The images of a folder are inputs before
the first one is read: the caller lists them first.

Numpy/PIL only (no Keras): the command line checks its arguments before importing Keras.
"""

import os

from napari_convnet.core.reading import IMAGE_SUFFIXES
from napari_convnet.errors import OutputError


def _labelled(pairs):
    """``(label, path)`` pairs as str paths, without the None paths (options not given)."""
    return [(label, os.fspath(path)) for label, path in pairs if path is not None]


def _inside(real, folder):
    try:
        return os.path.commonpath([real, folder]) == folder
    except ValueError:  # different drives (Windows)
        return False


def _file_stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _verb(path):
    return "links to" if os.path.islink(path) else "is"


def _as_input(path, real, files, stats):
    """Why the output ``path`` is one of the input files, or None."""
    if real in files:
        what, source = files[real]
        return f"{_verb(path)} the {what} {source!r}"
    key = _file_stat(path)
    if key is not None and key in stats:
        what, source = stats[key]
        return f"is the same file (a hard link) as the {what} {source!r}"
    return None


def _in_folder(path, real, folders):
    """Why the output ``path`` belongs to an input folder, or None."""
    for what, folder, folder_real in folders:
        if real == folder_real:
            return f"{_verb(path)} the {what} {folder!r}", "an output never replaces an input"
        if not _inside(real, folder_real):
            continue
        where = ("links to a file inside" if os.path.islink(path) else "is inside") \
            + f" the {what} {folder!r}"
        if os.path.lexists(path):
            return where, "an output never replaces a file of an input folder"
        if real.lower().endswith(IMAGE_SUFFIXES):
            return where, "a later run on that folder would read it as an input image"
    return None


def check_outputs(outputs, inputs=(), folders=()):
    """Refuse outputs that are, or link to, inputs (see the module docstring for the rules).

    Parameters
    ----------
    outputs : iterable of (str, path or None)
        What names each output in the message (``"--csv"``, ``"The checkpoint"``) and its
        path; None (an option not given) is skipped.
    inputs : iterable of (str, path or None)
        The files read, named for the message: ``("input image", path)``,
        ``("model bundle", path)``...; None is skipped.
    folders : iterable of (str, path or None)
        The folders whose files are read: ``("data folder", path)``; None is skipped.

    Raises
    ------
    OutputError
        One line naming the output, the input it would replace and what to do.
    """
    outputs = _labelled(outputs)
    if not outputs:  # nothing to write: no need to look at (maybe many) inputs
        return
    files, stats = {}, {}
    for what, path in _labelled(inputs):
        files.setdefault(os.path.realpath(path), (what, path))
        key = _file_stat(path)
        if key is not None:
            stats.setdefault(key, (what, path))
    roots = [(what, path, os.path.realpath(path)) for what, path in _labelled(folders)]
    seen = {}
    for label, path in outputs:
        real = os.path.realpath(path)
        problem = _as_input(path, real, files, stats)
        if problem is not None:
            raise OutputError(f"{label} {path!r} {problem}: an output never replaces an "
                              "input. Choose another output path.")
        problem = _in_folder(path, real, roots)
        if problem is not None:
            raise OutputError(f"{label} {path!r} {problem[0]}: {problem[1]}. Choose a path "
                              "outside it.")
        if real in seen:
            other, other_path = seen[real]
            other = other[:1].lower() + other[1:]  # "The model bundle" mid-sentence
            raise OutputError(f"{label} {path!r} is the same file as {other} {other_path!r}. "
                              "Give each output its own path.")
        seen[real] = (label, path)


def unwritable(path):
    """Why no file can be written at ``path``, or None when it can (nothing is created).

    The folder, or its first existing parent when it is to be created, must be a folder the
    user may write to (``os.access``: permissions and read-only file systems), and ``path``
    itself must not be a folder.
    """
    path = os.fspath(path)
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if os.path.isdir(path):
        return "it is a folder"
    if not os.path.isdir(existing):
        return f"{existing!r} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the folder {existing!r} is read-only (no write permission)"
    return None


def check_writable(path, what, option, error=OutputError):
    """Raise ``error`` when :func:`unwritable` finds a reason; checked before long work.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        The file, for the message (``"model bundle"``, ``"checkpoint"``).
    option : str
        What the user changes (``"output file (--out)"``, ``"--checkpoint file"``).
    error : type
        The ConvnetError subclass to raise.
    """
    reason = unwritable(path)
    if reason is not None:
        raise error(f"Cannot write the {what} {os.fspath(path)!r}: {reason}. Choose another "
                    f"{option} in a folder you can write to.")
