"""The one way napari-convnet writes a file: atomically, from every surface.

Model bundles, checkpoints, run records, the command line's CSVs, TIFFs and reports, and the
docks' exports (CSV, JSON, PNG) all go through :func:`replacing` (or :func:`writing`, which
also turns a failure into one clear message). Keras-free: napari's process imports it.

- The data goes to a temporary file in the destination's folder, which ``os.replace`` then
  renames over the destination (same file system: atomic). Readers see the old file or the
  complete new one; a full disk or an interrupted write leaves the old file byte-identical
  and no temporary file behind.
- A destination that is a symbolic link is written *through*: its target gets the new
  content and the link stays a link.
- An existing file keeps its permission bits (a 0600 file stays 0600); a new one gets the
  usual ``0666 & ~umask``.
"""

import contextlib
import os
import stat
import tempfile

from napari_convnet.errors import ConvnetError


def destination(path):
    """The file that writing ``path`` changes: the link's target for a symbolic link."""
    path = os.fspath(path)
    return os.path.realpath(path) if os.path.islink(path) else path


def _mode(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def replacing(path, suffix=""):
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (its folder is created if missing; a link is written through).
    suffix : str
        End of the temporary name (``".tmp.keras"`` lets Keras recognise a bundle).

    Raises
    ------
    OSError
        Full disk, permissions, a file where a folder should be: for the caller to explain
        (:func:`writing` does). The temporary file is removed whatever goes wrong.
    """
    target = destination(path)
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=suffix,
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode(target))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_failed(path, exc, what):
    """The message for an ``OSError`` ``exc`` writing ``path``: what failed, what was kept."""
    path = os.fspath(path)
    kept = "an existing file is unchanged" if os.path.exists(path) else "nothing was written"
    reason = getattr(exc, "strerror", None) or str(exc)
    return (f"Cannot write {what} {path!r}: {reason} ({kept}). Free some disk space, or "
            "choose a path in a folder you can write to.")


@contextlib.contextmanager
def writing(path, what):
    """:func:`replacing`, with any ``OSError`` raised as one :class:`ConvnetError` line.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    what : str
        The file for the message (``"--csv"``, ``"the report"``).

    Raises
    ------
    ConvnetError
        Saying which file, why, that an earlier file is unchanged, and what to do. A
        ``UnicodeEncodeError`` (a name the file's encoding cannot hold) is reported the same
        way.
    """
    path = os.fspath(path)
    try:
        with replacing(path, suffix=os.path.splitext(path)[1]) as tmp:
            yield tmp
    except (OSError, UnicodeError) as exc:
        raise ConvnetError(write_failed(path, exc, what)) from exc


def write_text(path, text, what):
    """Write the str ``text`` (UTF-8) to ``path`` through :func:`writing`."""
    with writing(path, what) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
