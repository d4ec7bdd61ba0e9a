"""The engine child process: round trip, events, errors, stop, crash recovery, no orphans."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from napari_convnet.engine import Engine
from napari_convnet.engine.client import CRASHED, READY, STOPPED
from napari_convnet.errors import EngineCrashed, JobError

START_TIMEOUT = 180


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def _wait_dead(pid, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_start_is_lazy_and_reports_device(engine):
    info = engine.info
    assert engine.state == READY
    assert info["backend"] == "tensorflow"
    assert info["tensorflow"].count(".") >= 2 and info["keras"].startswith("3.")
    assert info["device"] == (info["gpus"][0]["name"] if info["gpus"] else "CPU")
    assert info["pid"] == engine.pid != os.getpid()


def test_round_trip_streams_events_then_result(engine):
    request = engine.submit("device_benchmark", seconds=0.5, size=64)
    events = list(request.events(timeout=60))
    result = request.result(timeout=60)
    assert events and all(e["type"] == "progress" for e in events)
    assert result["steps"] >= len(events) > 0
    assert result["gflops"] > 0
    assert "CPU" in result["device"] or "GPU" in result["device"]


def test_exception_in_child_carries_message_and_traceback(engine):
    with pytest.raises(JobError) as info:
        engine.call("device_benchmark", timeout=60, no_such_argument=1)
    assert info.value.kind == "TypeError"
    assert "no_such_argument" in str(info.value)
    assert "Traceback" in info.value.remote_traceback
    assert "handlers" in info.value.remote_traceback
    assert not info.value.user_error
    # the engine survives an error
    assert engine.call("info", timeout=60)["pid"] == engine.pid


def test_unknown_request_is_a_clear_error(engine):
    with pytest.raises(JobError, match="no request named 'train_a_unicorn'"):
        engine.call("train_a_unicorn", timeout=60)


def test_stop_request_is_honoured(engine):
    request = engine.submit("device_benchmark", seconds=120, size=64)
    next(iter(request.events(timeout=60)))
    started = time.monotonic()
    assert engine.stop_request(request, timeout=30)
    assert request.stopped
    assert request.result()["seconds"] < 60
    assert time.monotonic() - started < 30
    assert engine.state == READY


def test_killed_child_gives_clear_error_and_next_request_restarts():
    eng = Engine()
    try:
        eng.wait_ready(START_TIMEOUT)
        first_pid = eng.pid
        request = eng.submit("device_benchmark", seconds=120, size=64)
        next(iter(request.events(timeout=60)))
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(EngineCrashed, match="SIGKILL"):
            request.result(timeout=30)
        assert eng.state == CRASHED
        assert "next request starts a fresh engine" in eng.last_error
        # the next request starts a fresh child and works
        info = eng.call("info", timeout=START_TIMEOUT)
        assert info["pid"] != first_pid and eng.state == READY
    finally:
        eng.shutdown()


def test_shutdown_leaves_no_orphan_and_no_log():
    from napari_convnet.engine import process

    eng = Engine()
    eng.wait_ready(START_TIMEOUT)
    pid, log = eng.pid, eng.log_path
    assert os.path.isfile(log)
    assert os.path.dirname(log) == process.log_folder()  # the user's cache, not the temp folder
    eng.shutdown()
    assert eng.state == STOPPED
    assert _wait_dead(pid)
    assert not os.path.exists(log)  # a clean exit leaves nothing in the log folder


def test_old_logs_of_crashed_engines_are_pruned(tmp_path):
    from napari_convnet.engine import process

    old, new, other = (tmp_path / f"{process.LOG_PREFIX}{n}{process.LOG_SUFFIX}"
                       for n in ("old", "new", "x"))
    for path in (old, new, other):
        path.write_text("Traceback ...\n")
    week = process.KEEP_LOGS_S
    os.utime(old, (time.time() - week - 60,) * 2)
    os.utime(other, (time.time() - week + 3600,) * 2)
    assert process.prune_logs(folder=tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new.name, other.name])
    # and at most the KEEP_LOGS most recent are kept, however young
    assert process.prune_logs(folder=tmp_path, keep=1) == 1
    assert [p.name for p in tmp_path.iterdir()] == [new.name]


def test_child_exits_when_parent_is_killed(tmp_path):
    # napari killed hard (no atexit): the child notices the closed connection and exits
    script = textwrap.dedent(
        """
        import sys, time
        from napari_convnet.engine import Engine
        e = Engine(); e.wait_ready(180)
        print(e.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        assert _alive(child_pid)
        parent.kill()
        parent.wait()
        assert _wait_dead(child_pid), "engine child outlived its killed parent"
    finally:
        parent.kill()
