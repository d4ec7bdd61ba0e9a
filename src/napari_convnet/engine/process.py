"""Child-process plumbing of the engine client: connect, greet, kill, read the log."""

import glob
import os
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client

from napari_convnet.engine import protocol
from napari_convnet.errors import EngineError


def accept(listener, authkey, proc, death_message):
    """Wait for the child to connect; raise EngineError(death_message(...)) if it dies first."""
    box = {}

    def wait():
        try:
            box["conn"] = listener.accept()
        except Exception as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    deadline = time.monotonic() + protocol.STARTUP_TIMEOUT_S
    while thread.is_alive():
        thread.join(0.1)
        if thread.is_alive() and (proc.poll() is not None or time.monotonic() > deadline):
            # Unblock accept() portably by connecting ourselves, then give up.
            try:
                Client(listener.address, authkey=authkey).close()
            except Exception:  # noqa: BLE001
                pass
            thread.join(5)
            box.pop("conn", None)
            raise EngineError(death_message(proc, "while starting"))
    if "conn" not in box:
        raise EngineError(f"The engine could not connect: {box.get('error')}")
    return box["conn"]


def await_hello(conn, proc, death_message):
    """Receive the child's hello (device info) once Keras and its backend are imported.

    Raises
    ------
    EngineError
        The child died or timed out, or could not run the backend asked for (its message).
    """
    deadline = time.monotonic() + protocol.STARTUP_TIMEOUT_S
    while not conn.poll(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise EngineError(death_message(proc, "while importing Keras"))
    try:
        hello = conn.recv()
    except (EOFError, OSError):
        try:  # the connection closes just before the process ends: get its exit status
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        raise EngineError(death_message(proc, "while importing Keras")) from None
    if hello.get("error"):
        raise EngineError(hello["error"])
    return hello


def kill(proc, hard=False):
    """Terminate ``proc`` (SIGKILL at once with ``hard``, else SIGTERM then SIGKILL)."""
    if hard:  # a stopped (SIGSTOP) process would keep SIGTERM pending
        proc.kill()
        proc.wait()
        return
    proc.terminate()
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path, lines=15):
    if not path:
        return ""
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


#: Engine logs are named ``napari-convnet-engine-*.log``, in :func:`log_folder`.
LOG_PREFIX, LOG_SUFFIX = "napari-convnet-engine-", ".log"
#: The log of an engine that crashed is kept this long (its path is in the error message).
KEEP_LOGS_S = 7 * 24 * 3600
#: At most this many logs are kept in a folder (the most recent; see :func:`prune_logs`).
KEEP_LOGS = 20
#: The folder of :func:`log_folder`, inside the user's cache folder.
LOG_FOLDER = os.path.join("napari-convnet", "engine-logs")


def cache_folder():
    """The user's cache folder of this platform (it may not exist yet).

    ``%LOCALAPPDATA%`` on Windows, ``~/Library/Caches`` on macOS, else ``$XDG_CACHE_HOME``
    (when it is an absolute path, as the XDG specification asks) or ``~/.cache``.
    """
    if sys.platform == "win32":
        return os.environ.get("LOCALAPPDATA") or os.path.expanduser(
            os.path.join("~", "AppData", "Local"))
    if sys.platform == "darwin":
        return os.path.expanduser(os.path.join("~", "Library", "Caches"))
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return xdg if os.path.isabs(xdg) else os.path.expanduser(os.path.join("~", ".cache"))


def log_folder():
    """The folder engine logs go to: :data:`LOG_FOLDER` in :func:`cache_folder`, created if
    needed; the temp folder when that cannot be created (read-only home, no home)."""
    folder = os.path.join(cache_folder(), LOG_FOLDER)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return tempfile.gettempdir()
    if not os.access(folder, os.W_OK):
        return tempfile.gettempdir()
    return folder


def new_log():
    """An open, empty log file for a new engine (binary; the caller closes it).

    It is created in :func:`log_folder`, whose older logs are then pruned (:func:`prune_logs`),
    so that the folder holds at most :data:`KEEP_LOGS` of them.
    """
    folder = log_folder()
    log = tempfile.NamedTemporaryFile(prefix=LOG_PREFIX, suffix=LOG_SUFFIX, dir=folder,
                                      delete=False)
    prune_logs(folder=folder, protect=log.name)
    return log


def remove_log(path):
    """Delete the log of an engine that exited cleanly (nothing in it is needed)."""
    if path:
        try:
            os.remove(path)
        except OSError:
            pass


def prune_logs(now=None, keep_s=KEEP_LOGS_S, folder=None, keep=KEEP_LOGS, protect=None):
    """Delete engine logs older than ``keep_s`` seconds, and all but the ``keep`` most recent;
    return how many were removed.

    Logs of engines that exited cleanly are removed at once (:func:`remove_log`); this clears
    those of crashed or killed engines, so they do not pile up. ``folder`` None prunes
    :func:`log_folder` and the temp folder (where earlier versions wrote them). The log
    ``protect`` (the one just created) is never removed.
    """
    now = time.time() if now is None else now
    folders = [folder] if folder else list(dict.fromkeys([log_folder(),
                                                          tempfile.gettempdir()]))
    removed = 0
    for where in folders:
        removed += _prune_folder(os.fspath(where), now, keep_s, keep, protect)
    return removed


def _prune_folder(folder, now, keep_s, keep, protect):
    dated = []
    for path in glob.glob(os.path.join(glob.escape(folder), f"{LOG_PREFIX}*{LOG_SUFFIX}")):
        try:
            dated.append((os.path.getmtime(path), path))
        except OSError:  # removed meanwhile (another process pruning)
            pass
    dated.sort(reverse=True)  # most recent first
    removed = 0
    for rank, (mtime, path) in enumerate(dated):
        if protect is not None and os.path.abspath(path) == os.path.abspath(protect):
            continue
        if now - mtime > keep_s or rank >= keep:
            try:
                os.remove(path)
                removed += 1
            except OSError:
                pass
    return removed
