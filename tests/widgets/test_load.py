"""A short long session (the short version of benchmarks/bench_load.py, which keeps its own
code): 3 train/stop/continue cycles and 50 classifications in one viewer; napari's memory stays
bounded and no child process leaks."""


import numpy as np
from PIL import Image

from _helpers_folders import SIZE, stripes_folder
from _helpers_session import leaked_children, open_docks, rss_mb
from napari_convnet.engine.client import READY

#: Generous: the full benchmark (20 cycles, 500 requests) holds 100 MB.
BOUND_MB = 150
CYCLES, REQUESTS, WARMUP_REQUESTS = 3, 50, 20
STEP_MS = 240_000


def _open_docks(viewer, tmp_path):
    """The Train and Classify docks, set for a tiny stripes folder and one of its images."""
    root = stripes_folder(tmp_path / "stripes")
    train, classify = open_docks(viewer, root, tmp_path / "models" / "load.keras", SIZE)
    image = viewer.add_image(np.asarray(Image.open(root / "vertical" / "00.png")), name="one")
    classify.reset_choices()
    classify.image_layer.value = image
    classify.mode.value = "image"
    return train, classify


def _cycle(qtbot, train):
    """Train, stop after the first epoch, continue one epoch."""
    train.epochs.value = 500
    train.train_button.clicked()
    qtbot.waitUntil(lambda: not train.train_button.enabled, timeout=STEP_MS)
    qtbot.waitUntil(lambda: len(train.curves.live.get("loss", ())) >= 1, timeout=STEP_MS)
    train.stop_button.clicked()
    qtbot.waitUntil(lambda: train.train_button.enabled, timeout=STEP_MS)
    assert "stopped" in train.status.value, train.status.value
    train.epochs.value = 1
    train.continue_button.clicked()
    qtbot.waitUntil(lambda: not train.train_button.enabled, timeout=STEP_MS)
    qtbot.waitUntil(lambda: train.train_button.enabled, timeout=STEP_MS)
    assert "done" in train.status.value, train.status.value


def _classify(qtbot, dock, count):
    """Classify the selected image ``count`` times, one request after the other."""
    for _ in range(count):
        dock.run_button.clicked()
        qtbot.waitUntil(lambda: not dock.run_button.enabled, timeout=STEP_MS)
        qtbot.waitUntil(lambda: dock.run_button.enabled, timeout=STEP_MS)
        assert dock.status.value.startswith("1 result"), dock.status.value


def test_short_session_keeps_memory_bounded_and_leaks_no_process(make_napari_viewer, qtbot,
                                                                 tmp_path):
    train, classify = _open_docks(make_napari_viewer(), tmp_path)
    _cycle(qtbot, train)  # warm-up
    _classify(qtbot, classify, WARMUP_REQUESTS)
    before = rss_mb()
    for _ in range(CYCLES - 1):
        _cycle(qtbot, train)
    _classify(qtbot, classify, REQUESTS - WARMUP_REQUESTS)
    growth = rss_mb() - before

    assert growth < BOUND_MB, f"napari grew by {growth:+.1f} MB (bound {BOUND_MB} MB)"
    assert train.engine.state == READY
    assert train.runs.rowCount() >= 2 and not leaked_children(train.engine)
