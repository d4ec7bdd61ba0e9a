"""Run one engine request from a widget without blocking napari.

A ``thread_worker`` reads the engine's events and yields them to the main thread; a napari
progress bar follows ``progress``/``batch`` events; errors become napari notifications that
say what to do. Widgets only say what to do with events and results.
"""

import threading
import time
import weakref

from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtGui import QMovie
from qtpy.QtWidgets import QLabel

from napari_convnet._widgets.messages import dock_message
from napari_convnet.engine import get_engine
from napari_convnet.errors import EngineCrashed, JobError

#: Seconds a stopped request's engine may stay silent (no event, no heartbeat) before the
#: dock terminates it. A busy engine (finishing a batch, saving) keeps its heartbeat and is
#: never cut off; a frozen one is. Tests shorten it.
STOP_TIMEOUT_S = 20.0
#: Milliseconds between updates of napari's progress bar (see ``EngineTask._progress``).
_BAR_INTERVAL_MS = 300


@thread_worker
def _follow(op, kwargs, holder):
    # Errors are returned, not raised: superqt swallows a RuntimeError raised in a worker
    # (it takes it for a deleted Qt object) instead of emitting ``errored``.
    try:
        request = get_engine().submit(op, **kwargs)
        holder["request"] = request
        yield from _thinned(request.events())
        return {"value": request.result(), "stopped": request.stopped}
    except Exception as exc:  # noqa: BLE001 - shown to the user by EngineTask
        return {"error": exc}


def _thinned(events, interval=0.5):
    """Drop progress and batch events that follow the last one within ``interval`` seconds.

    Indexing sends one event per file and training one per batch: passing each to napari's
    main thread would flood its event loop (each progress-bar repaint can repaint the window,
    on the CPU with software OpenGL). Epoch, message and final events always pass.
    """
    last = 0.0
    for event in events:
        kind = event.get("type")
        if kind in ("progress", "batch"):
            now = time.monotonic()
            final = kind == "progress" and event.get("done") == event.get("total")
            if now - last < interval and not final:
                continue
            last = now
        yield event


def _hold_activity_gif(window):
    """Hold the animated "in progress" GIF of napari's ``window`` on one frame; bars still move.

    The GIF repaints the window about 33 times a second. With software OpenGL (Xvfb, VNC and
    other remote desktops, where facility staff train) every repaint re-composites the whole
    window: about one CPU core, taken from the training beside it, and a busier event loop.
    napari restarts the GIF for the next progress bar. Plain Qt: every running ``QMovie`` of a
    label in the window (napari's status bar has the only one).
    """
    if window is None:
        return
    for label in window.findChildren(QLabel):
        movie = label.movie()
        if movie is not None and movie.state() == QMovie.MovieState.Running:
            movie.setPaused(True)


def error_message(exc):
    """Text for the user: their error as the engine said it (advice reworded as dock controls,
    see :mod:`messages`), or what happened and what to do."""
    if isinstance(exc, JobError) and exc.user_error:
        return dock_message(str(exc))
    if isinstance(exc, EngineCrashed):
        return str(exc).split("\nLast lines")[0]
    if isinstance(exc, JobError):
        return (f"The engine failed ({exc.kind}): {exc}. Details are in the engine log; "
                "try again, or restart the engine from the ConvNet dock.")
    return f"{type(exc).__name__}: {exc}"


class EngineTask:
    """One engine request run from a widget.

    Parameters
    ----------
    op : str
        Engine request name.
    kwargs : dict
        Its arguments (picklable).
    description : str
        Progress bar text.
    on_event, on_result, on_error, on_finished : callable, optional
        Called in the main thread with an event dict, ``(value, stopped)``, the exception, and
        nothing, respectively. Without ``on_error`` the error is shown as a notification.
    owner : magicgui widget, optional
        When its Qt widget is destroyed (dock closed, viewer closed), callbacks are no longer
        called; the engine request runs to its end, or is stopped (``stop_with_owner``).
    stop_with_owner : bool
        Stop the request when ``owner`` is destroyed (it keeps what it has: a training saves
        its best weights), so the engine does not work on for a window that is gone.
    bar_now : bool
        Show the progress bar at once ("starting"), for long requests: the user sees the click
        taken, and napari builds the bar now rather than in the middle of the work.
    """

    def __init__(self, op, kwargs, description, on_event=None, on_result=None, on_error=None,
                 on_finished=None, owner=None, bar_now=False, stop_with_owner=False):
        self.description = description
        self._alive = True
        self._stop_with_owner = stop_with_owner
        # weakly: a task must not keep napari's window (and viewer) alive
        self._owner_widget = None if owner is None else weakref.ref(owner.native)
        if owner is not None:
            owner.native.destroyed.connect(self._detach)
        self._holder = {}
        self._bar = None
        self._bar_text = None
        self._pending = None  # (done, total, text) not shown yet
        self._creating = False  # napari is building the bar (it runs the event loop)
        self._bar_timer = QTimer()
        self._bar_timer.setSingleShot(True)
        self._bar_timer.setInterval(_BAR_INTERVAL_MS)
        self._bar_timer.timeout.connect(self._apply_progress)
        self._on_event = on_event
        self._on_result = on_result
        self._on_error = on_error
        self._on_finished = on_finished
        self.worker = _follow(op, kwargs, self._holder)
        self.worker.yielded.connect(self._event)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._errored)  # bugs in this module only
        self.worker.finished.connect(self._finished)
        if bar_now:
            self._progress(0, 1, "starting")
        self.worker.start()

    @property
    def request(self):
        """The engine :class:`~napari_convnet.engine.Request` (None until submitted)."""
        return self._holder.get("request")

    def stop(self, timeout=None):
        """Ask the engine to stop this request (it keeps what it has, e.g. best weights).

        With ``timeout`` (seconds), escalate in a background thread: an engine that stays
        silent that long is terminated (:meth:`Engine.stop_request`); the request then ends with
        an error saying that the engine did not respond. Never blocks the GUI.
        """
        request = self.request
        if request is None:
            return
        if timeout is None:
            request.stop()
            return
        threading.Thread(target=request.engine.stop_request, args=(request, timeout),
                         name="engine-stop", daemon=True).start()

    def _detach(self):
        self._on_event = self._on_result = self._on_error = self._on_finished = None
        if self._stop_with_owner and self._alive:
            self.stop(STOP_TIMEOUT_S)

    def _progress(self, done, total, text):
        """Show progress; updates after the first wait for the bar's timer (3 a second).

        napari's bar runs Qt's event loop on every value or text change, so each change can
        repaint the window; stages that pass quickly (indexing, loading) would repaint it
        several times in a row.
        """
        if not self._alive:  # events queued behind ``finished``: the bar is closed
            return
        self._pending = (done, total, text)
        if self._creating:  # re-entered from napari building the bar: it shows the latest
            return
        if self._bar is None:
            # napari runs Qt's event loop while building the bar: ``finished`` or more events
            # may be handled before it returns
            self._creating = True
            try:
                bar = progress(total=total, desc=self.description)
            finally:
                self._creating = False
            if not self._alive:
                bar.close()
                return
            self._bar, self._bar_text = bar, self.description
            widget = None if self._owner_widget is None else self._owner_widget()
            _hold_activity_gif(None if widget is None else widget.window())
            self._apply_progress()
        elif not self._bar_timer.isActive():
            self._bar_timer.start()

    def _apply_progress(self):
        """Show the latest pending progress. napari's bar runs Qt's event loop on every value
        or text change (which may finish this task or apply newer progress meanwhile): change
        only what changed, and stop when the bar is gone or newer progress arrived."""
        bar = self._bar  # a local name: ``_finished`` may run re-entrantly
        if not self._alive or bar is None or self._pending is None:
            return
        done, total, text = self._pending
        self._pending = None
        if bar.total != total:
            bar.total = total
        description = f"{self.description}: {text}" if text else self.description
        if description != self._bar_text:
            self._bar_text = description
            bar.set_description(description)
            if not self._alive or self._bar is not bar:
                return
            if self._pending is not None:  # newer progress arrived meanwhile: shown next
                self._bar_timer.start()
                return
        if done != bar.n:
            bar.update(done - bar.n)  # emits the value napari's bar shows

    def _event(self, event):
        kind = event.get("type")
        if kind == "progress":
            self._progress(event["done"], event["total"], event.get("stage", ""))
        elif kind == "batch":
            done = (event["epoch"] - 1) * event["batches"] + event["batch"]
            self._progress(done, event["epochs"] * event["batches"],
                           f"epoch {event['epoch']}/{event['epochs']}")
        elif kind == "message":
            (show_warning if event.get("level") == "warning" else show_info)(event["text"])
        if self._on_event is not None:
            self._on_event(event)

    def _returned(self, outcome):
        if "error" in outcome:
            self._errored(outcome["error"])
        elif self._on_result is not None:
            self._on_result(outcome["value"], outcome["stopped"])

    def _errored(self, exc):
        if self._on_error is not None:
            self._on_error(exc)
        else:
            show_error(error_message(exc))

    def _finished(self):
        self._bar_timer.stop()
        self._alive = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._on_finished is not None:
            self._on_finished()
