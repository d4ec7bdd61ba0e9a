"""Output files of the commands, written atomically: a failed write never leaves half a file.

The data goes to a temporary file next to the destination, which ``os.replace`` then moves
over it; a full disk or a missing permission leaves an earlier file of that name untouched
and ends the command with one line that names the file.
"""

import contextlib
import os

from napari_convnet.core.atomic import replacing
from napari_convnet.errors import ConvnetError


@contextlib.contextmanager
def output_file(path, option):
    """Yield a temporary path to write; on success it replaces ``path``.

    Parameters
    ----------
    path : str
        Destination file.
    option : str
        The command-line option that named it (``--csv``...), for the error message.

    Raises
    ------
    ConvnetError
        When the file cannot be written (any ``OSError``), saying what to do.
    """
    path = os.fspath(path)
    try:
        with replacing(path, suffix=os.path.splitext(path)[1]) as tmp:
            yield tmp
    except OSError as exc:
        kept = "an existing file is unchanged" if os.path.exists(path) else "nothing was written"
        raise ConvnetError(
            f"Cannot write {option} {path!r}: {exc.strerror or exc} ({kept}). Free some disk "
            "space, or give a path in an existing folder you can write to."
        ) from exc
