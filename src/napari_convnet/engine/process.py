"""Child-process plumbing of the engine client: connect, greet, kill, read the log."""

import glob
import os
import subprocess
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


#: Engine logs are named ``napari-convnet-engine-*.log`` in the temp folder.
LOG_PREFIX, LOG_SUFFIX = "napari-convnet-engine-", ".log"
#: The log of an engine that crashed is kept this long (its path is in the error message).
KEEP_LOGS_S = 7 * 24 * 3600


def new_log():
    """An open, empty log file for a new engine (binary; the caller closes it)."""
    return tempfile.NamedTemporaryFile(prefix=LOG_PREFIX, suffix=LOG_SUFFIX, delete=False)


def remove_log(path):
    """Delete the log of an engine that exited cleanly (nothing in it is needed)."""
    if path:
        try:
            os.remove(path)
        except OSError:
            pass


def prune_logs(now=None, keep_s=KEEP_LOGS_S, folder=None):
    """Delete engine logs older than ``keep_s`` seconds; return how many were removed.

    Logs of engines that exited cleanly are removed at once (:func:`remove_log`); this clears
    those of crashed or killed engines, so they do not pile up in the temp folder.
    """
    now = time.time() if now is None else now
    removed = 0
    pattern = os.path.join(folder or tempfile.gettempdir(), f"{LOG_PREFIX}*{LOG_SUFFIX}")
    for path in glob.glob(pattern):
        try:
            if now - os.path.getmtime(path) > keep_s:
                os.remove(path)
                removed += 1
        except OSError:
            pass
    return removed
