"""Engine faults seen from napari: a killed engine and a frozen engine while the Train dock trains.

napari stays up, the Train dock returns to a usable state and says what happened, the ConvNet
dock shows the crash and a restart button, a bundle saved earlier is intact, and training
works again afterwards. No child process is left behind.
"""

import hashlib
import os
import signal
import time

import numpy as np
import psutil
from qtpy.QtCore import QTimer

from _helpers_folders import SIZE, stripes_folder
from napari_convnet._widgets import tasks
from napari_convnet.engine.client import CRASHED, READY

START_MS = 240_000
TRAIN_MS = 240_000


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _open(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, engine_dock = viewer.window.add_plugin_dock_widget("napari-convnet", "ConvNet")
    _, train = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    stripes_folder(tmp_path / "stripes")
    train.data.folder.value = tmp_path / "stripes"
    train.data.image_height.value = train.data.image_width.value = SIZE
    train.preset.value = "course-cnn"
    train.batch_size.value = 4
    return viewer, engine_dock, train


def _train(qtbot, train, out, epochs):
    train.out.value = str(out)
    train.epochs.value = epochs
    train.train_button.clicked()
    qtbot.waitUntil(lambda: not train.train_button.enabled, timeout=2000)


def _wait_idle(qtbot, train, timeout=TRAIN_MS):
    qtbot.waitUntil(lambda: train.train_button.enabled, timeout=timeout)


def _saved_bundle(qtbot, train, tmp_path):
    """Train one epoch into ``good.keras`` (the bundle that must survive); return its digest."""
    good = tmp_path / "good.keras"
    _train(qtbot, train, good, 1)
    _wait_idle(qtbot, train)
    assert train.current is not None and train.current["path"] == str(good), train.status.value
    return good, _digest(good)


def _usable(train):
    buttons = (train.train_button, train.continue_button, train.load_button, train.save_button)
    return all(b.enabled for b in buttons) and not train.stop_button.enabled


def _shows_crash(qtbot, train, engine_dock, pid, *phrases):
    """The Train dock is usable and says what happened; the ConvNet dock offers a restart."""
    assert _usable(train)
    for phrase in phrases:
        assert phrase in train.status.value
    qtbot.waitUntil(lambda: engine_dock.engine.state == CRASHED, timeout=5000)
    qtbot.waitUntil(lambda: engine_dock._restart.native.isVisibleTo(engine_dock.native),
                    timeout=2000)
    assert engine_dock._state.value == "Engine: crashed"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _assert_no_leaked_children(engine):
    allowed = {engine.pid} if engine.pid is not None else set()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        leaked = [p for p in psutil.Process().children(recursive=True)
                  if p.pid not in allowed and p.status() != psutil.STATUS_ZOMBIE]
        if not leaked:
            return
        time.sleep(0.1)
    raise AssertionError(f"leaked child processes: {leaked}")


def _load_and_train_again(qtbot, train, good, digest, tmp_path):
    """The saved bundle is intact and loads; training works again in a fresh engine."""
    assert _digest(good) == digest
    assert not list(tmp_path.glob(".*.tmp.keras"))
    train.load_path.value = str(good)
    train.load_button.clicked()
    qtbot.waitUntil(lambda: not train.load_button.enabled, timeout=2000)
    _wait_idle(qtbot, train)
    assert train.current["path"] == str(good), train.status.value
    again = tmp_path / "again.keras"
    _train(qtbot, train, again, 1)
    _wait_idle(qtbot, train)
    assert train.current["path"] == str(again), train.status.value
    assert train.engine.state == READY


def test_killed_engine_while_training(make_napari_viewer, qtbot, tmp_path):
    viewer, engine_dock, train = _open(make_napari_viewer, tmp_path)
    good, digest = _saved_bundle(qtbot, train, tmp_path)

    # continue into the same file (the one way the dock writes over a bundle), then kill
    train.replace_own.value = True
    train.epochs.value = 500
    train.continue_button.clicked()
    qtbot.waitUntil(lambda: not train.train_button.enabled, timeout=2000)
    assert "replacing the model's own file good.keras" in train.status.value
    qtbot.waitUntil(lambda: len(train.curves.live.get("loss", ())) >= 1, timeout=TRAIN_MS)
    pid = train.engine.pid
    os.kill(pid, signal.SIGKILL)
    _wait_idle(qtbot, train, timeout=30_000)

    _shows_crash(qtbot, train, engine_dock, pid, "killed by SIGKILL",
                 "next request starts a fresh engine")
    assert "killed by SIGKILL" in engine_dock._error.value
    viewer.add_image(np.arange(4.0).reshape(2, 2))  # napari still renders

    engine_dock._restart.clicked()
    qtbot.waitUntil(lambda: engine_dock.engine.state == READY, timeout=START_MS)
    _load_and_train_again(qtbot, train, good, digest, tmp_path)
    _assert_no_leaked_children(train.engine)


def test_stop_on_a_frozen_engine_terminates_it_without_freezing_napari(
        make_napari_viewer, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "STOP_TIMEOUT_S", 3.0)
    viewer, engine_dock, train = _open(make_napari_viewer, tmp_path)
    good, digest = _saved_bundle(qtbot, train, tmp_path)

    _train(qtbot, train, tmp_path / "frozen.keras", 500)
    qtbot.waitUntil(lambda: len(train.curves.live.get("loss", ())) >= 1, timeout=TRAIN_MS)
    pid = train.engine.pid
    os.kill(pid, signal.SIGSTOP)  # frozen: ignores stop, sends nothing
    states = []  # the engine's state at each tick of a timer in napari's event loop
    timer = QTimer()
    timer.timeout.connect(lambda: states.append(train.engine.state))
    timer.start(50)
    started = time.monotonic()
    train.stop_button.clicked()  # returns at once: still training, no tick ran yet
    assert not train.train_button.enabled and not states
    assert "terminated if it does not answer for 3 s" in train.status.value
    _wait_idle(qtbot, train, timeout=30_000)
    timer.stop()

    assert time.monotonic() - started >= 3.0  # the engine was given its 3 s to answer
    # napari's event loop kept running while the engine was frozen, before it was terminated
    # (how smoothly is measured by benchmarks/bench_gui.py)
    assert states and states[0] != CRASHED, states
    _shows_crash(qtbot, train, engine_dock, pid,
                 "did not respond for 3 s after being asked to stop 'train'", "was terminated")
    assert not (tmp_path / "frozen.keras").exists()

    # no restart click this time: the next request starts a fresh engine by itself
    _load_and_train_again(qtbot, train, good, digest, tmp_path)
    _assert_no_leaked_children(train.engine)
