"""Messages exchanged between the engine client (napari's process) and the engine child.

Pure Python: imported on both sides. Every message is a dict sent with
``multiprocessing.connection.Connection.send`` (pickle; numpy arrays travel as they are).

Parent → child
    ``{"kind": "request", "id": int, "op": str, "kwargs": dict}``
    ``{"kind": "stop", "id": int}``          stop the running request (cooperative)
    ``{"kind": "shutdown"}``
Child → parent
    ``{"kind": "hello", "info": dict}``       once, after Keras is imported (device info)
    ``{"kind": "alive"}``                     every ``HEARTBEAT_S`` seconds (sign of life)
    ``{"kind": "event", "id": int, "event": dict}``
    ``{"kind": "result", "id": int, "value": object}``
    ``{"kind": "error", "id": int, "type": str, "message": str, "traceback": str,
    "user_error": bool}``
    ``{"kind": "stopped", "id": int, "value": object}``   the request honoured a stop
"""

import os

AUTHKEY_ENV = "NAPARI_CONVNET_ENGINE_AUTHKEY"
ADDRESS_ENV = "NAPARI_CONVNET_ENGINE_ADDRESS"
#: Seconds the client waits for the child's hello before declaring start-up failed.
#: TensorFlow's first import can take a while on a cold disk or a slow network filesystem.
STARTUP_TIMEOUT_S = float(os.environ.get("NAPARI_CONVNET_STARTUP_TIMEOUT", "180"))
#: Environment variable with the engine's memory limit (bytes, or with a K/M/G/T suffix).
MEMORY_LIMIT_ENV = "NAPARI_CONVNET_ENGINE_MEMORY_LIMIT"
#: The Keras backend the child runs (a ``napari_convnet.backends.CHOICES`` name); unset or
#: empty: ``KERAS_BACKEND``, else TensorFlow.
BACKEND_ENV = "NAPARI_CONVNET_ENGINE_BACKEND"
#: Seconds between the child's "alive" messages. A thread of its own sends them, so they keep
#: coming while a request computes; they stop when the child is frozen, deadlocked or dead.
HEARTBEAT_S = 1.0

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory_limit(value):
    """Return a memory limit in bytes from an int or a text like ``"8G"``, ``"512M"``; None = off.

    Raises
    ------
    ValueError
        Not a positive size.
    """
    if value is None or value == "" or value == 0:
        return None
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        number = float(text[: len(text) - len(unit)])
    except ValueError:
        number = -1
    if number <= 0:
        raise ValueError(f"The engine memory limit must be a positive size in bytes, optionally "
                         f"with K, M, G or T (e.g. 8G). Received: {value!r}")
    return int(number * _UNITS[unit])


def format_bytes(n):
    """``6442450944`` → ``"6.0 GiB"``."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def request(req_id, op, kwargs):
    """Return a request message for operation ``op``."""
    return {"kind": "request", "id": req_id, "op": op, "kwargs": kwargs}


def stop(req_id):
    """Return a message that asks request ``req_id`` to stop."""
    return {"kind": "stop", "id": req_id}


SHUTDOWN = {"kind": "shutdown"}
