"""Engine faults with real engine children: SIGKILL during training, prediction and saving,
out of memory under a memory limit, a frozen engine that ignores stop.

Each time: the pending request fails with a clear error, the next request starts a fresh engine
and works, the last good model bundle is intact, and no child process is left behind.
"""

import glob
import hashlib
import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest

from _helpers_folders import SIZE, stripes_folder
from napari_convnet.engine import Engine
from napari_convnet.engine.client import CRASHED, READY
from napari_convnet.errors import EngineCrashed, JobError

START_TIMEOUT = 180


def _train_kwargs(root, out, epochs, batch_size=4):
    return {"root": str(root), "preset": "course-cnn", "out": str(out),
            "data_config": {"image_size": [SIZE, SIZE], "seed": 1},
            "train_config": {"epochs": epochs, "batch_size": batch_size, "seed": 1}}


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _leftovers(folder):
    return sorted(glob.glob(os.path.join(folder, ".*.tmp.keras")))


def _children():
    return [p for p in psutil.Process().children(recursive=True) if p.status() != "zombie"]


def _assert_no_leaked_children(allowed=(), seconds=15):
    """Only the ``allowed`` pids (the current engine) remain children of this process."""
    def leaked():
        return [p for p in _children() if p.pid not in allowed]

    deadline = time.monotonic() + seconds
    while leaked() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not leaked(), f"leaked child processes: {leaked()}"


def _first_event(request, kind):
    for event in request.events(timeout=120):
        if event.get("type") == kind:
            return event
    raise AssertionError(f"{request.op!r} finished without a {kind!r} event: {request.result()}")


@pytest.fixture(scope="module", autouse=True)
def _no_leaks_after_the_module(engine):
    """Once the module's ``engine`` (conftest.py) is shut down, no child process at all is left.
    Shuts it down itself (a second shutdown, conftest's, does nothing): torn down before it."""
    yield
    engine.shutdown()
    _assert_no_leaked_children()


@pytest.fixture(scope="module")
def bundle(engine, tmp_path_factory):
    """A folder of data and a good bundle trained from it (the 'last good model')."""
    folder = tmp_path_factory.mktemp("faults")
    root = stripes_folder(folder / "stripes")
    good = folder / "models" / "good.keras"
    engine.call("train", timeout=300, **_train_kwargs(root, good, epochs=1))
    return root, good, _digest(good)


@pytest.fixture(autouse=True)
def _no_leaks(engine):
    yield
    _assert_no_leaked_children({engine.pid})


def _wait_crashed(eng, seconds=30):
    deadline = time.monotonic() + seconds
    while eng.state != CRASHED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert eng.state == CRASHED


def _check_recovered(eng, first_pid, good, digest):
    """The next request starts a fresh engine; the last good bundle is intact and loads."""
    assert eng.state == CRASHED
    assert "next request starts a fresh engine" in eng.last_error
    described = eng.call("load_model", path=str(good), timeout=START_TIMEOUT)
    assert eng.state == READY and eng.pid != first_pid
    assert described["meta"]["class_names"] == ["horizontal", "vertical"]
    assert _digest(good) == digest
    assert _leftovers(os.path.dirname(good)) == []
    assert not psutil.pid_exists(first_pid)


def _kill_during(engine, request, event, good, digest):
    """SIGKILL the engine at ``request``'s first ``event``; check the error and the recovery."""
    _first_event(request, event)
    first_pid = engine.pid
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(EngineCrashed, match="killed by SIGKILL"):
        request.result(timeout=30)
    _wait_crashed(engine)
    _check_recovered(engine, first_pid, good, digest)


def test_sigkill_during_training_keeps_the_saved_bundle(engine, bundle):
    root, good, digest = bundle
    # retrain into the same path (explicitly): the kill must not damage what was saved there
    request = engine.submit("train", **_train_kwargs(root, good, epochs=500), overwrite=True)
    _kill_during(engine, request, "epoch", good, digest)


def test_sigkill_during_prediction(engine, bundle):
    _, good, digest = bundle
    engine.call("load_model", path=str(good), timeout=60)
    stack = np.random.default_rng(0).integers(0, 255, (20_000, SIZE, SIZE), dtype=np.uint8)
    request = engine.submit("classify_stack", stack=stack, batch_size=16)
    _kill_during(engine, request, "progress", good, digest)
    # and prediction works again in the fresh engine
    result = engine.call("classify_stack", stack=stack[:8], timeout=60)
    assert len(result["predicted"]) == 8


def test_sigkill_racing_a_save_never_leaves_a_half_written_bundle(engine, bundle, tmp_path):
    root, good, _ = bundle
    target = tmp_path / "model.keras"
    outcomes = []
    # kill at once, as soon as the temporary file appears (mid-write), and late
    for delay in (0.0, "mid-write", 0.4):
        engine.call("load_model", path=str(good), timeout=START_TIMEOUT)
        # the previously saved bundle (replaced explicitly: saving never replaces silently)
        engine.call("save_model", path=str(target), overwrite=True, timeout=60)
        before = _digest(target)
        engine.call("train", timeout=120, root=str(root), out=None, continue_current=True,
                    data_config={"seed": 1}, train_config={"epochs": 1, "batch_size": 4})
        # one more epoch: other weights
        request = engine.submit("save_model", path=str(target), overwrite=True)
        if delay == "mid-write":
            deadline = time.monotonic() + 10
            while not _leftovers(tmp_path) and not request.done and time.monotonic() < deadline:
                time.sleep(0.001)
            # whether the kill lands mid-write depends on the machine's speed: reported only
            delay = "mid-write" if _leftovers(tmp_path) else "mid-write (missed)"
        else:
            time.sleep(delay)
        first_pid = engine.pid
        os.kill(first_pid, signal.SIGKILL)
        try:
            request.result(timeout=30)
            finished = True
        except EngineCrashed as exc:
            assert "killed by SIGKILL" in str(exc)
            finished = False
        _wait_crashed(engine)
        # whatever the timing: the old bundle byte for byte, or the complete new one
        assert _leftovers(tmp_path) == []
        replaced = _digest(target) != before
        assert replaced or not finished
        outcomes.append((delay, "new" if replaced else "old"))
        described = engine.call("load_model", path=str(target), timeout=START_TIMEOUT)
        assert engine.pid != first_pid  # the next request started a fresh engine
        assert described["meta"]["epochs"] == (2 if replaced else 1)
        assert described["meta"]["class_names"] == ["horizontal", "vertical"]
    print("save races:", outcomes)


def test_out_of_memory_under_a_memory_limit_is_a_clear_error(bundle):
    root, good, digest = bundle
    eng = Engine(memory_limit_bytes="4G")
    try:
        eng.wait_ready(START_TIMEOUT)
        first_pid = eng.pid
        assert psutil.Process(first_pid).rlimit(psutil.RLIMIT_AS)[0] == 4 * 2**30
        # a user who picks a huge image size: 8 images of 2048×2048 into a CNN (≈ 8 GB)
        kwargs = _train_kwargs(root, good.parent / "huge.keras", epochs=1, batch_size=8)
        kwargs["data_config"]["image_size"] = [2048, 2048]
        with pytest.raises((JobError, EngineCrashed)) as info:
            eng.call("train", timeout=300, **kwargs)
        message = str(info.value)
        print(type(info.value).__name__, message)
        assert "memory" in message and "4.0 GiB" in message, message
        if isinstance(info.value, JobError):
            assert info.value.user_error and "ran out of memory while running 'train'" in message
        else:
            _wait_crashed(eng)
        # the next request works (in the same engine, or a fresh one after a crash)
        described = eng.call("load_model", path=str(good), timeout=START_TIMEOUT)
        assert described["meta"]["class_names"] == ["horizontal", "vertical"]
        assert _digest(good) == digest and not (good.parent / "huge.keras").exists()
        assert _leftovers(good.parent) == []
    finally:
        eng.shutdown()


def test_frozen_engine_is_terminated_by_stop_request(engine, bundle):
    root, good, digest = bundle
    request = engine.submit("train", **_train_kwargs(root, good, epochs=500), overwrite=True)
    _first_event(request, "epoch")
    first_pid = engine.pid
    os.kill(first_pid, signal.SIGSTOP)  # frozen: ignores stop, sends nothing
    started = time.monotonic()
    assert engine.stop_request(request, timeout=3) is False
    assert 3 <= time.monotonic() - started < 20
    with pytest.raises(EngineCrashed) as info:
        request.result(timeout=1)
    assert "did not respond for 3 s after being asked to stop 'train'" in str(info.value)
    assert "was terminated" in engine.last_error
    _check_recovered(engine, first_pid, good, digest)


def test_busy_engine_is_not_terminated_by_stop_request(engine, monkeypatch):
    # a request slow to honour stop keeps sending heartbeats: stop_request leaves it to finish
    request = engine.submit("device_benchmark", seconds=60, size=64)
    next(iter(request.events(timeout=60)))
    send_stop = engine.send_stop
    monkeypatch.setattr(engine, "send_stop", lambda request: None)  # the request runs on...
    threading.Timer(4, send_stop, args=(request,)).start()  # ...and stops 4 s later
    started = time.monotonic()
    assert engine.stop_request(request, timeout=2) is True
    assert request.stopped and time.monotonic() - started >= 4
    assert engine.state == READY


def test_memory_limit_is_validated():
    with pytest.raises(ValueError, match="Received: 'lots'"):
        Engine(memory_limit_bytes="lots")
    assert Engine(memory_limit_bytes="512M").memory_limit == 512 * 2**20
    assert Engine(env={"NAPARI_CONVNET_ENGINE_MEMORY_LIMIT": "1G"}).memory_limit == 2**30
