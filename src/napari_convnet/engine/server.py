"""The engine child: ``python -m napari_convnet.engine``.

Imports Keras on the backend asked for (never done in napari's process), then serves requests
from the parent one at a time on the main thread. A reader thread keeps listening while a
request runs, so a stop request reaches its handler, and the child exits as soon as the parent
goes away (no orphan processes, even if napari is killed). A heartbeat thread tells the parent
the child is alive, so the parent can tell a busy engine from a frozen one.
"""

import os
import queue
import sys
import threading
import time
import traceback
from multiprocessing.connection import Client

from napari_convnet.engine import protocol


class HandlerContext:
    """What a handler receives: event emitter, stop flag, and the engine's state.

    Attributes
    ----------
    state : dict
        Lives as long as the engine: the current model and its bundle metadata
        (``state["model"]``, ``state["meta"]``), caches.
    """

    def __init__(self, conn, send_lock, req_id, state):
        self._conn = conn
        self._send_lock = send_lock
        self.req_id = req_id
        self.state = state
        self.stop_event = threading.Event()

    def emit(self, event):
        """Send a progress event (a JSON-able dict) to the client."""
        _send(self._conn, self._send_lock, {"kind": "event", "id": self.req_id, "event": event})

    def should_stop(self):
        """Return True once the user asked to stop this request."""
        return self.stop_event.is_set()


def _send(conn, lock, message):
    with lock:
        conn.send(message)


def _reader(conn, inbox, current):
    """Forward parent messages to the main loop; stop requests go straight to the handler."""
    try:
        while True:
            message = conn.recv()
            if message.get("kind") == "stop":
                ctx = current.get("ctx")
                if ctx is not None and ctx.req_id == message["id"]:
                    ctx.stop_event.set()
                continue
            inbox.put(message)
            if message.get("kind") == "shutdown":
                return
    except (EOFError, OSError):
        # The parent is gone (closed, crashed or killed): leave at once, whatever runs.
        os._exit(0)


def _heartbeat(conn, lock):
    try:
        while True:
            time.sleep(protocol.HEARTBEAT_S)
            _send(conn, lock, {"kind": "alive"})
    except (EOFError, OSError, ValueError):
        os._exit(0)  # the parent is gone


def _out_of_memory(exc):
    """True for an out-of-memory error of Python, TensorFlow, PyTorch or JAX (XLA)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ in ("ResourceExhaustedError",
                                                              "OutOfMemoryError"):
        return True  # torch.OutOfMemoryError: "CUDA out of memory"
    # JAX raises XlaRuntimeError (a RuntimeError) whose message starts "RESOURCE_EXHAUSTED"
    return isinstance(exc, RuntimeError) and str(exc).startswith("RESOURCE_EXHAUSTED")


def _memory_message(op, exc):
    limit = os.environ.get(protocol.MEMORY_LIMIT_ENV)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # TensorFlow's message starts with "Graph execution error:"; the tensor is named further on
    cause = next((line for line in lines if "OOM" in line or "alloc" in line
                  or "out of memory" in line),
                 lines[0] if lines else type(exc).__name__)[:300]
    text = f"The engine ran out of memory while running {op!r} ({cause}). "
    if limit:
        size = protocol.format_bytes(protocol.parse_memory_limit(limit))
        text += (f"Its memory limit is {size} ({protocol.MEMORY_LIMIT_ENV}); raise it, or "
                 "lower the batch size or the image size.")
    else:
        text += "Lower the batch size or the image size, or close other programs."
    return text + " The engine is still running."


def _apply_memory_limit():
    """Cap the child's address space (before TensorFlow is imported), if asked to.

    With RLIMIT_AS, an allocation beyond the limit fails (MemoryError, TensorFlow's
    ResourceExhaustedError) instead of making the whole workstation swap.
    """
    limit = protocol.parse_memory_limit(os.environ.get(protocol.MEMORY_LIMIT_ENV))
    if limit is None:
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def serve(conn):
    """Serve requests until shutdown; ``conn`` is a connected ``Connection``."""
    from napari_convnet import backends
    from napari_convnet.errors import ConvnetError

    send_lock = threading.Lock()
    try:
        backends.select(os.environ.get(protocol.BACKEND_ENV) or None)
    except ConvnetError as exc:  # e.g. not installed: the client shows the pip command
        _send(conn, send_lock, {"kind": "hello", "error": str(exc)})
        return
    from napari_convnet.engine import handlers  # imports Keras and its backend

    handlers.load_all()
    state = {}
    _send(conn, send_lock, {"kind": "hello", "info": handlers.info.device_info()})
    inbox = queue.Queue()
    current = {}
    threading.Thread(target=_reader, args=(conn, inbox, current), daemon=True).start()
    threading.Thread(target=_heartbeat, args=(conn, send_lock), daemon=True).start()
    while True:
        message = inbox.get()
        if message["kind"] == "shutdown":
            return
        ctx = HandlerContext(conn, send_lock, message["id"], state)
        current["ctx"] = ctx
        try:
            value = handlers.run(message["op"], ctx, message.get("kwargs") or {})
            kind = "stopped" if ctx.should_stop() else "result"
            reply = {"kind": kind, "id": ctx.req_id, "value": value}
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the client
            from napari_convnet.errors import ConvnetError

            reply = {
                "kind": "error",
                "id": ctx.req_id,
                "type": type(exc).__name__,
                "message": (_memory_message(message["op"], exc) if _out_of_memory(exc)
                            else str(exc) or type(exc).__name__),
                "traceback": traceback.format_exc(),
                "user_error": isinstance(exc, ConvnetError) or _out_of_memory(exc),
            }
        finally:
            current.pop("ctx", None)
        try:
            _send(conn, send_lock, reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            _send(
                conn,
                send_lock,
                {
                    "kind": "error",
                    "id": ctx.req_id,
                    "type": type(exc).__name__,
                    "message": f"the engine could not send the result back: {exc}",
                    "traceback": traceback.format_exc(),
                    "user_error": False,
                },
            )


def main():
    """Connect to the parent named in the environment and serve."""
    if hasattr(os, "nice"):
        # Training saturates every core; a lower priority keeps napari's window responsive
        # (it costs nothing when napari is idle).
        os.nice(5)
    if os.name == "posix":
        _apply_memory_limit()
    address = os.environ[protocol.ADDRESS_ENV]
    authkey = bytes.fromhex(os.environ[protocol.AUTHKEY_ENV])
    conn = Client(address, authkey=authkey)
    try:
        serve(conn)
    finally:
        conn.close()
    # Skip interpreter teardown: TensorFlow's atexit handlers can take seconds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

