"""Atomic file replacement: a failed or interrupted write never leaves half a file.

Used for model bundles, run records and the command line's output files.
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def replacing(path, suffix=""):
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    The temporary file is in the destination's folder, so ``os.replace`` is an atomic rename
    (same filesystem): readers see the old file or the complete new one, never a mix. It is
    removed whatever goes wrong; ``OSError`` (full disk, permissions, a file where a folder
    should be) propagates for the caller to explain.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (its folder is created if missing).
    suffix : str
        End of the temporary name (``".tmp.keras"`` lets Keras recognise a bundle).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)  # mkstemp's file is private (0600); give the usual permissions
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
