"""EngineTask's states with a fake engine: fast, no child process, no TensorFlow.

The real-engine end-to-end runs are in the dock tests; these check the task's own logic:
events reach the dock in order, a result, a stop and an error each end it once, the progress
bar closes, and a destroyed owner is no longer called back (and stopped when asked).
"""

import queue

import pytest
from magicgui.widgets import Container

from napari_convnet._widgets import tasks
from napari_convnet.errors import JobError


class _FakeRequest:
    """Plays back ``events`` then ends with ``value``, ``error`` or after a stop."""

    def __init__(self, events, value=None, error=None, wait_for_stop=False):
        self._events = queue.Queue()
        for event in events:
            self._events.put(event)
        if not wait_for_stop:
            self._events.put(None)
        self.value, self.error, self.stopped, self.stops = value, error, False, 0
        self.engine = self

    def events(self):
        while (event := self._events.get(timeout=10)) is not None:
            yield event

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value

    def stop(self):
        self.stops += 1
        self.stopped = True
        self._events.put(None)

    def stop_request(self, request, timeout):  # the Engine's escalating stop
        request.stop()


class _FakeEngine:
    def __init__(self, request):
        self.request, self.submitted = request, []

    def submit(self, op, **kwargs):
        self.submitted.append((op, kwargs))
        return self.request


def _run(qtbot, monkeypatch, request, **callbacks):
    engine = _FakeEngine(request)
    monkeypatch.setattr(tasks, "get_engine", lambda: engine)
    seen = {"events": [], "results": [], "errors": [], "finished": 0}
    task = tasks.EngineTask(
        "classify_stack", {"batch_size": 2}, "Classifying",
        on_event=seen["events"].append,
        on_result=lambda value, stopped: seen["results"].append((value, stopped)),
        on_error=seen["errors"].append,
        on_finished=lambda: seen.__setitem__("finished", seen["finished"] + 1), **callbacks)
    return engine, task, seen


def test_events_then_result(qtbot, monkeypatch):
    events = [{"type": "progress", "stage": "reading", "done": 1, "total": 2},
              {"type": "message", "level": "info", "text": "half way"},
              {"type": "progress", "stage": "reading", "done": 2, "total": 2}]
    engine, task, seen = _run(qtbot, monkeypatch, _FakeRequest(events, value={"n": 2}))
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    assert engine.submitted == [("classify_stack", {"batch_size": 2})]
    assert [e["type"] for e in seen["events"]] == ["progress", "message", "progress"]
    assert seen["results"] == [({"n": 2}, False)] and not seen["errors"]
    assert task.request is engine.request and task._bar is None  # the bar is closed


def test_error_reaches_on_error_once(qtbot, monkeypatch):
    error = JobError("No such folder: '/nope'", kind="DatasetError", user_error=True,
                     remote_traceback="")
    _, _, seen = _run(qtbot, monkeypatch, _FakeRequest([], error=error))
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    assert seen["errors"] == [error] and not seen["results"]
    assert tasks.error_message(error) == "No such folder: '/nope'"


def test_stop_ends_with_what_was_kept(qtbot, monkeypatch):
    request = _FakeRequest([{"type": "progress", "stage": "s", "done": 1, "total": 9}],
                           value={"kept": 1}, wait_for_stop=True)
    _, task, seen = _run(qtbot, monkeypatch, request)
    qtbot.waitUntil(lambda: len(seen["events"]) == 1, timeout=5000)
    task.stop()
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    assert seen["results"] == [({"kept": 1}, True)] and request.stops == 1


@pytest.mark.parametrize("stop_with_owner", [False, True])
def test_destroyed_owner_is_not_called_back(qtbot, monkeypatch, stop_with_owner):
    owner = Container()
    request = _FakeRequest([], value={"done": True}, wait_for_stop=True)
    _, task, seen = _run(qtbot, monkeypatch, request, owner=owner,
                         stop_with_owner=stop_with_owner)
    qtbot.waitUntil(lambda: task.request is not None, timeout=5000)
    owner.native.deleteLater()
    qtbot.waitUntil(lambda: task._on_result is None, timeout=5000)  # detached
    if stop_with_owner:
        qtbot.waitUntil(lambda: request.stops == 1, timeout=5000)  # the run is stopped
    else:
        assert request.stops == 0
        request.stop()
    qtbot.waitUntil(lambda: not task._alive, timeout=5000)
    assert not seen["results"] and seen["finished"] == 0
