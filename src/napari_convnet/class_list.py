"""Class names given by a user: a list, a comma-separated string, or a ``classes.txt`` file.

Keras-free, so the command line checks them before any backend is imported and a dock can
show them before asking the engine.
"""

import os

from napari_convnet.errors import ModelError, shorten

#: The largest class-list file read (a list of 10,000 names of 255 characters is 2.6 MB).
MAX_FILE_BYTES = 4 * 2**20


def parse(value):
    """The class names ``value`` gives, in order.

    Parameters
    ----------
    value : str, os.PathLike or sequence of str
        A list of names; a path to a text file with one name per line (blank lines and
        surrounding spaces ignored); or names separated by commas (``"cell,debris"``).

    Returns
    -------
    list of str

    Raises
    ------
    ModelError
        An unreadable file, an empty list, or a name given twice.
    """
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isfile(value)):
        names = _read_file(os.fspath(value))
    elif isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
        names = [n for n in names if n]
    else:
        names = [str(n).strip() for n in value]
    if not names:
        raise ModelError(f"No class names in {shorten(repr(value), 200)}: give one name per "
                         "model output, separated by commas, or a text file with one per line.")
    twice = sorted({n for n in names if names.count(n) > 1}) if len(names) < 2000 else []
    if len(set(names)) != len(names):
        raise ModelError(f"Class names must be distinct; given twice: {shorten(twice)}.")
    return names


def _read_file(path):
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            raise ModelError(f"The class-name file {path!r} is larger than "
                             f"{MAX_FILE_BYTES // 2**20} MiB: it is not a list of class names.")
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ModelError(f"The class-name file {path!r} is not UTF-8 text.") from None
    except OSError as exc:
        raise ModelError(f"Cannot read the class-name file {path!r}: "
                         f"{exc.strerror or exc}.") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
