"""One request sent to the engine, as the client sees it (no Keras here)."""

import glob
import os
import queue
import threading

from napari_convnet.errors import EngineError

_DONE = object()

#: Requests that write a model bundle, and the argument that names it. A bundle is written to a
#: temporary file beside it, then renamed (``core.bundle.save_bundle``); when the engine dies
#: in between, the client removes the temporary file: the old bundle is intact.
_BUNDLE_ARGS = {"save_model": "path", "train": "out"}


class Request:
    """One request sent to the engine: the client's handle of it.

    Iterate :meth:`events` for progress, then read :meth:`result`. A request stopped by the
    user returns whatever the request kept (e.g. a model with its best weights) and sets
    :attr:`stopped`.
    """

    def __init__(self, engine, req_id, op):
        self.engine = engine
        self.id = req_id
        self.op = op
        self.stopped = False
        self._stop_requested = False
        self._queue = queue.Queue()
        self.partial_files = ()  # glob patterns of files this request may leave half-written
        self._outcome = None  # ("value", v) or ("error", exc)
        self._done = threading.Event()

    @property
    def done(self):
        """True once the engine answered (result, error or crash)."""
        return self._done.is_set()

    def deliver(self, message):
        """Queue a progress event from the engine (called by the client's reader)."""
        self._queue.put(message)

    def finish(self, kind, payload):
        """End the request with ``("value", v)`` or ``("error", exc)``; later calls are ignored."""
        if self._done.is_set():
            return
        self._outcome = (kind, payload)
        self._done.set()
        self._queue.put(_DONE)

    def events(self, timeout=None):
        """Yield progress events (dicts) until the request finishes.

        Parameters
        ----------
        timeout : float, optional
            Longest wait in seconds for the next event; ``None`` waits forever.
        """
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise EngineError(
                    f"No word from the engine for {timeout} s while running {self.op!r}."
                ) from None
            if item is _DONE:
                return
            yield item

    def result(self, timeout=None):
        """Return the request's value, or raise what went wrong.

        Raises
        ------
        JobError
            The request raised in the engine (message and traceback from the child).
        EngineCrashed
            The engine process died while this request was pending.
        EngineError
            No answer within ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise EngineError(f"The engine did not finish {self.op!r} within {timeout} s.")
        kind, payload = self._outcome
        if kind == "error":
            raise payload
        return payload

    def stop(self):
        """Ask the engine to stop this request (cooperative; returns at once)."""
        self._stop_requested = True
        self.engine.send_stop(self)


def partial_patterns(op, kwargs):
    path = kwargs.get(_BUNDLE_ARGS.get(op, ""))
    if not path:
        return ()
    path = os.path.abspath(os.fspath(path))
    # the temporary name core.bundle.save_bundle uses: ".<name>.<random>.tmp.keras"
    pattern = f".{glob.escape(os.path.basename(path))}.*.tmp.keras"
    return (os.path.join(glob.escape(os.path.dirname(path)), pattern),)


def remove_partial_files(request):
    """Remove the temporary bundle files of a request whose engine died while writing them."""
    for pattern in request.partial_files:
        for path in glob.glob(pattern):
            try:
                os.remove(path)
            except OSError:
                pass
