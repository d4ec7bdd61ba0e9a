"""Closing napari during a training: it asks first, and a closed viewer stops the engine's run."""

import os

import pytest
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QMainWindow

from napari_convnet._widgets import _closing
from napari_convnet._widgets._closing import KEEP_OPEN, STOP_AND_CLOSE, CloseGuard

START_MS = TRAIN_MS = 240_000


class _UserClose:
    """A close event as the window's close button sends it (spontaneous: from the window
    system, which Qt lets no code create)."""

    ignored = False

    def type(self):
        return QEvent.Type.Close

    def spontaneous(self):
        return True

    def ignore(self):
        self.ignored = True


def test_guard_asks_and_closes_only_when_the_run_has_ended(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    answers, stops = [KEEP_OPEN, STOP_AND_CLOSE], []
    guard = CloseGuard(window, "The training run", lambda: stops.append(1),
                       answer=lambda w, what: answers.pop(0))
    for stopped in ([], [1], [1]):  # kept open; stopping; asked once only
        user_close = _UserClose()
        assert guard.eventFilter(window, user_close) is True and user_close.ignored
        assert stops == stopped
    assert not answers and window.isVisible()
    guard.ended()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)


def test_guard_lets_the_window_close_after_a_run_ended_without_asking(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    CloseGuard(window, "The training run", lambda: None,
               answer=lambda w, what: KEEP_OPEN).ended()
    assert window.close() is True


def test_guard_stops_without_asking_when_code_closes_the_window(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    stops = []
    CloseGuard(window, "The training run", lambda: stops.append(1),
               answer=lambda w, what: pytest.fail("asked"))
    assert window.close() is True and stops == [1]  # napari's menu, viewer.close()


def _start_long_run(widget, qtbot, tmp_path):
    """Start a 200-epoch training in the Train dock ``widget``; return its engine request."""
    widget.epochs.value = 200
    widget.out.value = tmp_path / "long.keras"
    epochs = []
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.task is not None and widget.task.request is not None,
                    timeout=START_MS)
    request = widget.task.request
    widget.task.worker.yielded.connect(
        lambda e: epochs.append(e["epoch"]) if e.get("type") == "epoch" else None)
    qtbot.waitUntil(lambda: len(epochs) >= 1, timeout=TRAIN_MS)
    return request


class _CloseSpy(QObject):
    """Records the first close event that gets past the guard (whether the request had ended
    then), and swallows it: the fixture closes the viewer after the test."""

    def __init__(self, window, job_done):
        super().__init__(window)
        self.seen, self._job_done = [], job_done
        window.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Close:
            self.seen.append(self._job_done())
            obj.removeEventFilter(self)  # once: the fixture's close must go through
            event.ignore()
            return True
        return False


def test_closing_napari_while_training_asks_then_stops_saves_and_closes(
        open_train_dock, qtbot, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(_closing, "ask", lambda w, what: asked.append(what) or STOP_AND_CLOSE)
    _, widget = open_train_dock()
    window, jobs = widget.native.window(), []
    spy = _CloseSpy(window, lambda: jobs[0].done)  # installed first: sees what the guard lets by
    jobs.append(_start_long_run(widget, qtbot, tmp_path))
    user_close = _UserClose()  # the close button
    assert widget._guard.eventFilter(window, user_close) is True and user_close.ignored
    assert asked == ["The training run"] and spy.seen == []  # held by the guard
    qtbot.waitUntil(lambda: bool(spy.seen), timeout=TRAIN_MS)  # the guard closes napari...
    assert spy.seen == [True] and jobs[0].stopped  # ...once the run has ended and saved
    assert jobs[0].result(timeout=1)["meta"]["epochs"] < 200
    assert os.path.isfile(tmp_path / "long.keras")


def test_a_viewer_closed_from_code_stops_the_engine_run(open_train_dock, qtbot, tmp_path):
    viewer, widget = open_train_dock()
    request = _start_long_run(widget, qtbot, tmp_path)
    viewer.close()  # as in a notebook: no question, the docks are destroyed
    qtbot.waitUntil(lambda: request.done, timeout=TRAIN_MS)
    assert request.stopped and request.result(timeout=1)["meta"]["epochs"] < 200
    assert os.path.isfile(tmp_path / "long.keras")  # what it had is saved
