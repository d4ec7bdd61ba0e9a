"""Engine client: starts the Keras child process and talks to it. Imports no Keras.

Used by the widgets (napari's process) and by ``napari-convnet info``. One engine runs one
request at a time; further requests queue in the child. Thread-safe.

Examples
--------
>>> engine = Engine()
>>> engine.start()                      # returns at once; Keras loads in the child
>>> request = engine.submit("device_benchmark", seconds=1.0)
>>> for event in request.events():          # progress events while it runs
...     pass
>>> request.result()["gflops"]              # doctest: +SKIP
"""

import atexit
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Listener

from napari_convnet.engine import process, protocol
from napari_convnet.engine.request import Request, partial_patterns, remove_partial_files
from napari_convnet.errors import EngineCrashed, EngineError, JobError, JobStopped

STOPPED, STARTING, READY, CRASHED = "stopped", "starting", "ready", "crashed"

class Engine:
    """Client of one engine child process.

    Parameters
    ----------
    python : str, optional
        Interpreter for the child; default: the current one.
    env : dict, optional
        Extra environment variables for the child (e.g. ``CUDA_VISIBLE_DEVICES``).
    backend : str, optional
        Keras backend of the child: one of ``napari_convnet.backends.CHOICES`` (``"auto"``,
        ``"tensorflow"``, ``"jax"``, ``"torch"``). Default: ``KERAS_BACKEND``, else
        ``"auto"``. One that is not installed makes the start fail with its pip command.
    memory_limit_bytes : int or str, optional
        Cap on the child's address space (POSIX ``RLIMIT_AS``, set before Keras loads),
        e.g. ``8 * 2**30`` or ``"8G"``. A request that needs more fails with an
        out-of-memory error instead of making the workstation swap. Default: the environment
        variable ``NAPARI_CONVNET_ENGINE_MEMORY_LIMIT``, else no limit. Not for GPU engines:
        CUDA reserves far more address space than it uses.
    """

    def __init__(self, python=None, env=None, memory_limit_bytes=None, backend=None):
        self.python = python or sys.executable
        self.extra_env = dict(env or {})
        self.backend = backend
        if memory_limit_bytes is None:
            memory_limit_bytes = self.extra_env.get(protocol.MEMORY_LIMIT_ENV,
                                                    os.environ.get(protocol.MEMORY_LIMIT_ENV))
        self.memory_limit = protocol.parse_memory_limit(memory_limit_bytes)
        if self.memory_limit is not None:
            self.extra_env[protocol.MEMORY_LIMIT_ENV] = str(self.memory_limit)
        else:
            self.extra_env[protocol.MEMORY_LIMIT_ENV] = ""
        self.state = STOPPED
        self.info = None
        self.last_error = None
        self.log_path = None
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._ready = threading.Event()
        self._proc = None
        self._conn = None
        self._requests = {}
        self._next_id = 1
        self._generation = 0
        self._last_heard = 0.0  # time.monotonic() of the child's last message
        self._kill_reason = {}  # proc → why the client terminated it

    # -- life cycle -----------------------------------------------------------------------
    @property
    def pid(self):
        """Process id of the child, or None."""
        return self._proc.pid if self._proc is not None else None

    def _set_state(self, state, error=None):
        self.state = state
        if error is not None:
            self.last_error = error

    def start(self):
        """Start the child in the background unless it is starting or running."""
        with self._lock:
            if self.state in (STARTING, READY):
                return
            self._generation += 1
            self._ready.clear()
            self.info = None
            self._set_state(STARTING)
            threading.Thread(
                target=self._launch, args=(self._generation,), name="engine-start", daemon=True
            ).start()

    def wait_ready(self, timeout=None):
        """Start if needed, wait until the child is ready, return its device info.

        Raises
        ------
        EngineError
            The child failed to start (the message has the end of its log).
        """
        self.start()
        if not self._ready.wait(timeout):
            raise EngineError(f"The engine did not start within {timeout} s.")
        if self.state != READY:
            raise EngineCrashed(self.last_error or "The engine failed to start.")
        return self.info

    def _launch(self, generation):
        authkey = secrets.token_bytes(32)
        listener = Listener(authkey=authkey)
        process.prune_logs()
        log = process.new_log()
        env = dict(os.environ, **self.extra_env)
        env[protocol.BACKEND_ENV] = self.backend or ""
        env[protocol.ADDRESS_ENV] = str(listener.address)
        env[protocol.AUTHKEY_ENV] = authkey.hex()
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.Popen(
                [self.python, "-m", "napari_convnet.engine"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            listener.close()
            log.close()
            self._fail_start(generation, f"Could not start the engine with {self.python}: {exc}")
            return
        log.close()
        self.log_path = log.name
        with self._lock:
            self._proc = proc
        try:
            conn = process.accept(listener, authkey, proc, self._death_message)
            hello = process.await_hello(conn, proc, self._death_message)
        except EngineError as exc:
            process.kill(proc)
            self._fail_start(generation, str(exc))
            return
        finally:
            listener.close()
        with self._lock:
            if generation != self._generation:  # restarted meanwhile
                conn.close()
                return
            self._conn = conn
            self._last_heard = time.monotonic()
            self.info = hello["info"]
            self._set_state(READY)
            self._ready.set()
        threading.Thread(target=self._read_loop, args=(conn, proc, generation),
                         name="engine-reader", daemon=True).start()

    def _fail_start(self, generation, message):
        with self._lock:
            if generation != self._generation:
                return
            self._set_state(CRASHED, message)
            self._ready.set()

    def _read_loop(self, conn, proc, generation):
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            self._last_heard = time.monotonic()
            kind = message.get("kind")
            with self._lock:
                request = self._requests.get(message.get("id"))
            if request is None:
                continue
            if kind == "event":
                request.deliver(message["event"])
                continue
            with self._lock:
                self._requests.pop(request.id, None)
            if kind == "result":
                request.finish("value", message["value"])
            elif kind == "stopped":
                request.stopped = True
                request.finish("value", message["value"])
            elif kind == "error":
                request.finish("error", JobError(
                    message["message"], kind=message["type"],
                    user_error=message["user_error"], remote_traceback=message["traceback"],
                ))
        # The connection closed: either we shut it down or the child died.
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with self._lock:
            if generation != self._generation:
                return
            crashed = self.state != STOPPED
            message = self._death_message(proc, "") if crashed else "The engine was shut down."
            pending, self._requests = list(self._requests.values()), {}
            self._conn = None
            if crashed:
                self._set_state(CRASHED, message)
        for request in pending:
            remove_partial_files(request)
            request.finish("error", EngineCrashed(message))

    def _death_message(self, proc, when):
        code = proc.poll()
        reason = self._kill_reason.pop(proc, None)
        if reason:
            how = reason
        elif code is None:
            how = "stopped answering"
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"was killed by {name}"
            if self.memory_limit is not None:
                how += (" (it probably reached its memory limit of "
                        f"{protocol.format_bytes(self.memory_limit)}, {protocol.MEMORY_LIMIT_ENV})")
            elif -code == signal.SIGKILL:
                how += " (often the system ran out of memory)"
        else:
            how = f"exited with status {code}"
        tail = process.tail(self.log_path)
        text = f"The compute engine {how}{' ' + when if when else ''}. napari is unaffected; "
        text += "the next request starts a fresh engine."
        if tail:
            text += f"\nLast lines of the engine log ({self.log_path}):\n{tail}"
        return text

    def restart(self):
        """Stop the child (if any) and start a fresh one in the background."""
        self.shutdown()
        self.start()

    def shutdown(self, timeout=5.0):
        """Ask the child to exit; terminate it if it does not within ``timeout`` seconds."""
        with self._lock:
            proc, conn = self._proc, self._conn
            self._generation += 1
            self._set_state(STOPPED)
            self._ready.clear()
            pending, self._requests = list(self._requests.values()), {}
            self._proc = self._conn = None
        for request in pending:
            request.finish("error", JobStopped(
                f"The engine was shut down while running {request.op!r}."))
        if conn is not None:
            try:
                with self._send_lock:
                    conn.send(protocol.SHUTDOWN)
            except (OSError, ValueError):
                pass
        if proc is not None:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill(proc)
            for request in pending:
                remove_partial_files(request)
            if proc.returncode == 0:  # a clean exit: its log holds nothing anyone needs
                process.remove_log(self.log_path)
        if conn is not None:
            conn.close()

    # -- requests -----------------------------------------------------------------------
    def submit(self, op, **kwargs):
        """Send request ``op`` (starting the engine if needed) and return its :class:`Request`.

        Does not block on start-up: the request is sent from a background thread once the
        engine is ready, and fails with :class:`EngineCrashed` if it cannot start.
        """
        with self._lock:
            if self.state in (STOPPED, CRASHED):
                self.start()
            request = Request(self, self._next_id, op)
            request.partial_files = partial_patterns(op, kwargs)
            self._next_id += 1
            self._requests[request.id] = request
        if self._ready.is_set() and self.state == READY:
            self._send_request(request, kwargs)
        else:
            threading.Thread(target=self._send_when_ready, args=(request, kwargs),
                             daemon=True).start()
        return request

    def _send_when_ready(self, request, kwargs):
        self._ready.wait()
        if self.state != READY:
            with self._lock:
                self._requests.pop(request.id, None)
            request.finish("error", EngineCrashed(self.last_error or "The engine is not running."))
            return
        self._send_request(request, kwargs)

    def _send_request(self, request, kwargs):
        try:
            with self._send_lock:
                self._conn.send(protocol.request(request.id, request.op, kwargs))
                if request._stop_requested:  # asked to stop while the engine was starting
                    self._conn.send(protocol.stop(request.id))
        except (OSError, ValueError, AttributeError) as exc:
            with self._lock:
                self._requests.pop(request.id, None)
            request.finish("error", EngineCrashed(f"Could not reach the engine: {exc}"))
        except Exception as exc:  # noqa: BLE001 - e.g. unpicklable arguments
            with self._lock:
                self._requests.pop(request.id, None)
            request.finish("error", EngineError(
                f"Could not send {request.op!r} to the engine: {exc}"))

    def send_stop(self, request):
        conn = self._conn
        if conn is None or request.done:
            return
        try:
            with self._send_lock:
                conn.send(protocol.stop(request.id))
        except (OSError, ValueError):
            pass

    def stop_request(self, request, timeout=30.0):
        """Stop ``request``; terminate the engine if it shows no sign of life for ``timeout`` s.

        A busy engine (finishing a batch, evaluating, saving) keeps sending a heartbeat and is
        left to finish; a frozen or deadlocked one is terminated, and ``request`` then fails with
        :class:`EngineCrashed` saying that the engine did not respond. The next request starts
        a fresh engine. Blocks; widgets call it from a background thread.

        Returns
        -------
        bool
            True if the request ended by itself, False if the engine had to be terminated.
        """
        request.stop()
        asked = time.monotonic()
        while not request._done.wait(0.1):
            if self.state != READY:  # starting: the request is sent (with its stop) once ready
                asked = time.monotonic()
                continue
            silent = time.monotonic() - max(asked, self._last_heard)
            if silent < timeout:
                continue
            with self._lock:
                proc = self._proc
                if proc is None or request.done:
                    break
                self._kill_reason[proc] = (
                    f"did not respond for {timeout:g} s after being asked to stop {request.op!r} "
                    "and was terminated (what it had not saved is lost)")
            process.kill(proc, hard=True)
            request._done.wait(10)
            return False
        return True

    def call(self, op, timeout=None, **kwargs):
        """Run request ``op`` and return its result, ignoring progress events."""
        return self.submit(op, **kwargs).result(timeout)


_ENGINE = None
_ENGINE_LOCK = threading.Lock()


def get_engine():
    """Return the engine shared by all widgets of this napari session (created lazily)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = Engine()
            atexit.register(_ENGINE.shutdown)
        return _ENGINE
