"""A long napari session: its docks, napari's memory and the child processes it leaves. Shared
by tests/widgets/test_load.py and benchmarks/bench_load.py (which loads this file with
``runpy``). psutil and Qt only: it runs in napari's process."""

import gc

import psutil


def rss_mb():
    """This process's resident memory in MB, after a garbage collection and Qt's events."""
    from qtpy.QtWidgets import QApplication

    gc.collect()
    QApplication.processEvents()
    return psutil.Process().memory_info().rss / 2**20


def leaked_children(engine):
    """Child processes of this process other than the live ``engine``."""
    return [p for p in psutil.Process().children(recursive=True)
            if p.pid != engine.pid and p.status() != psutil.STATUS_ZOMBIE]


def open_docks(viewer, root, out, size):
    """Add the Train and Classify docks, set for the tiny folder ``root``; return them.

    Trains course-cnn on ``size``x``size`` images, batch 8, saving to ``out``.
    """
    _, train = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    _, classify = viewer.window.add_plugin_dock_widget("napari-convnet", "Classify")
    train.data.folder.value = root
    train.data.image_height.value = train.data.image_width.value = size
    train.preset.value = "course-cnn"
    train.batch_size.value = 8
    train.out.value = str(out)
    return train, classify
