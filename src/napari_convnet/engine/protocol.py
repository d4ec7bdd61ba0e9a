"""Messages exchanged between the engine client (napari's process) and the engine child.

Pure Python: imported on both sides. Every message is a dict sent with
``multiprocessing.connection.Connection.send`` (pickle; numpy arrays travel as they are).

Parent → child
    ``{"kind": "request", "id": int, "op": str, "kwargs": dict}``
    ``{"kind": "stop", "id": int}``          stop the running request (cooperative)
    ``{"kind": "shutdown"}``
Child → parent
    ``{"kind": "hello", "info": dict}``       once, after Keras is imported (device info)
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


def request(req_id, op, kwargs):
    """Return a request message for operation ``op``."""
    return {"kind": "request", "id": req_id, "op": op, "kwargs": kwargs}


def stop(req_id):
    """Return a message that asks request ``req_id`` to stop."""
    return {"kind": "stop", "id": req_id}


SHUTDOWN = {"kind": "shutdown"}
