"""The Train dock in a real viewer with a real engine: train, curves, stop, continue, load, runs."""

import csv
import hashlib
import json

from qtpy.QtGui import QMovie
from qtpy.QtWidgets import QLabel, QScrollArea

START_MS = 240_000
TRAIN_MS = 240_000


def _wait_idle(qtbot, widget, timeout=TRAIN_MS):
    qtbot.waitUntil(lambda: widget.train_button.enabled, timeout=timeout)


def test_train_shows_params_curves_runs_then_continue_and_load(open_train_dock, qtbot,
                                                               tmp_path):
    viewer, widget = open_train_dock()

    widget.summary_button.clicked()
    qtbot.waitUntil(lambda: "trainable parameters" in widget.param_count.value, timeout=START_MS)
    # course-cnn on 20×20×1, 2 classes: conv 160 + 2320 + 2320 (3×3 output → 144... here 1×1)
    assert "course-cnn" in widget.param_count.value
    assert "conv2d" in widget.layers.value.lower()

    widget.epochs.value = 2
    drawn = widget.curves.draws
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: not widget.train_button.enabled, timeout=2000)
    bar_values = []  # napari's progress bar, shown from the click on
    widget.task._bar.events.value.connect(lambda e: bar_values.append(e.value))
    # napari's animated "in progress" GIF is held still (it costs a core under software GL)
    movies = [label.movie() for label in widget.native.window().findChildren(QLabel)
              if label.movie() is not None]
    assert movies and all(m.state() != QMovie.MovieState.Running for m in movies)
    _wait_idle(qtbot, widget)
    assert widget.current is not None, widget.status.value
    assert bar_values and max(bar_values) > 0, bar_values
    # curves drawn in their own thread, the epoch's line drawn with them
    qtbot.waitUntil(lambda: widget.curves.draws > drawn and not widget.curves._busy,
                    timeout=10_000)
    assert widget.curves.caption.startswith("epoch 2/2 · validation accuracy")
    assert widget.curves.image is not None and not widget.curves.image.isNull()
    saved = widget.current["path"]
    assert saved.endswith(".keras") and "stripes-models" in saved
    assert len(widget.curves.live["loss"]) == 2 and len(widget.curves.live["val_accuracy"]) == 2
    assert "best validation accuracy" in widget.status.value
    qtbot.waitUntil(lambda: widget.runs.rowCount() == 1, timeout=60_000)
    widget.runs.selectRow(0)  # the run on screen is not drawn a second time as an overlay
    assert widget.curves.overlays == []

    # continue training: epochs continue the numbering, curves continue the history
    widget.epochs.value = 1
    widget.continue_button.clicked()
    qtbot.waitUntil(lambda: not widget.train_button.enabled, timeout=2000)
    _wait_idle(qtbot, widget)
    assert widget.current["meta"]["epochs"] == 3
    assert len(widget.curves.live["loss"]) == 3
    qtbot.waitUntil(lambda: widget.runs.rowCount() == 2, timeout=60_000)

    # runs table: overlay by selection, export as CSV
    widget.runs.selectAll()
    assert len(widget.curves.overlays) == 2
    out = tmp_path / "runs.csv"
    widget.runs.export_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert [r["preset"] for r in rows] == ["course-cnn", "course-cnn"]
    assert all(r["best val accuracy"].endswith("%") for r in rows)
    widget.curves.export_png(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000

    # load the first bundle back as the current model
    widget.load_path.value = saved
    widget.load_button.clicked()
    qtbot.waitUntil(lambda: not widget.load_button.enabled, timeout=2000)
    _wait_idle(qtbot, widget)
    assert widget.current["path"] == saved
    assert widget.current["meta"]["class_names"] == ["horizontal", "vertical"]


def test_a_reopened_train_dock_shows_the_engines_model(open_train_dock, qtbot, stripe_model):
    from napari_convnet.engine import get_engine

    get_engine().call("load_model", timeout=300, path=str(stripe_model))
    _, widget = open_train_dock()
    qtbot.waitUntil(lambda: widget.current is not None, timeout=60_000)
    assert widget.current["path"] == str(stripe_model)
    assert "Current model" in widget.status.value and "horizontal" in widget.status.value


def test_a_reopened_train_dock_keeps_the_users_settings(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    widget.data.folder.value = tmp_path
    widget.preset.value, widget.epochs.value, widget.dropout.value = "vgg2", 3, True
    widget.data.normalization.value = "range"
    viewer.window.remove_dock_widget(dock)
    _, again = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    assert again is not widget
    assert (again.preset.value, again.epochs.value, again.dropout.value) == ("vgg2", 3, True)
    assert str(again.data.folder.value) == str(tmp_path)
    assert again.data.normalization.value == "range"
    assert again.dropout.enabled  # vgg2 takes dropout: the restored preset set the options up
    _, other = make_napari_viewer().window.add_plugin_dock_widget("napari-convnet", "Train")
    assert other.epochs.value == 10  # another window starts from the defaults


def test_docks_scroll_instead_of_growing_the_window(make_napari_viewer):
    viewer = make_napari_viewer()
    for name in ("Train", "Evaluate", "Classify", "Inspect"):
        dock, widget = viewer.window.add_plugin_dock_widget("napari-convnet", name)
        # napari docks ``native``, which holds the body's scroll area: a laptop screen still
        # fits the window, and the body really is taller than what the dock needs
        scroll = widget.native.findChild(QScrollArea)
        assert scroll is not None and scroll.widget() is widget.body.native
        assert dock.minimumSizeHint().height() < 300, name
        assert widget.body.native.minimumSizeHint().height() > 300, name


def test_stop_keeps_best_weights_and_the_model_is_usable(open_train_dock, qtbot, tmp_path):
    viewer, widget = open_train_dock()
    widget.epochs.value = 200
    epochs_seen = []
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.task is not None and widget.task.request is not None,
                    timeout=START_MS)
    widget.task.worker.yielded.connect(
        lambda e: epochs_seen.append(e["epoch"]) if e.get("type") == "epoch" else None)
    qtbot.waitUntil(lambda: len(epochs_seen) >= 2, timeout=TRAIN_MS)
    widget.stop_button.clicked()
    _wait_idle(qtbot, widget)
    assert "stopped" in widget.status.value
    meta = widget.current["meta"]
    assert meta["epochs"] < 200
    assert 1 <= meta["best_epoch"] <= meta["epochs"]


def test_bad_folder_is_a_notification_and_the_dock_stays_usable(open_train_dock, qtbot,
                                                                tmp_path):
    viewer, widget = open_train_dock()
    # the dock asks the engine for its current model when it opens
    qtbot.waitUntil(lambda: widget.model_checked, timeout=START_MS)
    before = widget.current  # an earlier test's model, or None
    (tmp_path / "one").mkdir()
    widget.data.folder.value = tmp_path / "one"
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: not widget.train_button.enabled, timeout=2000)
    _wait_idle(qtbot, widget)
    assert widget.current == before  # a failed run changes nothing
    assert "one" in widget.status.value
    assert widget.train_button.enabled and not widget.stop_button.enabled


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_and_wait(qtbot, widget, button):
    button.clicked()
    qtbot.waitUntil(lambda: not widget.train_button.enabled, timeout=2000)
    _wait_idle(qtbot, widget)
    assert widget.current is not None, widget.status.value


def test_a_second_run_never_replaces_the_first_bundle(open_train_dock, qtbot, tmp_path):
    viewer, widget = open_train_dock()
    widget.epochs.value = 1
    models = tmp_path / "models"
    first, second = models / "m.keras", models / "m-2.keras"
    widget.out.value = first
    _run_and_wait(qtbot, widget, widget.train_button)
    assert widget.current["path"] == str(first)
    kept = _digest(first)

    # 'Save model to' still names the first bundle: the run goes to the next free name
    _run_and_wait(qtbot, widget, widget.train_button)
    assert widget.current["path"] == str(second) and str(widget.out.value) == str(second)
    assert "m.keras exists and is kept: saving to m-2.keras" in widget.status.value
    assert _digest(first) == kept
    for bundle in (first, second):
        record = json.loads((models / f"{bundle.stem}.run.json").read_text())
        assert record["model"] == str(bundle)
    qtbot.waitUntil(lambda: widget.runs.rowCount() == 2, timeout=60_000)
    assert sorted(widget.runs.item(r, 0).text() for r in range(2)) == ["m", "m-2"]

    # continuing into the model's own file: only when asked for
    widget.replace_own.value = True
    _run_and_wait(qtbot, widget, widget.continue_button)
    assert widget.current["path"] == str(second) and widget.current["meta"]["epochs"] == 2
    assert "replacing the model's own file m-2.keras" in widget.status.value
    assert _digest(first) == kept and not (models / "m-3.keras").exists()

    # Save to an existing file: the next free name as well
    widget.out.value = first
    widget.save_button.clicked()
    third = models / "m-3.keras"
    qtbot.waitUntil(lambda: widget.current["path"] == str(third), timeout=60_000)
    assert third.is_file() and _digest(first) == kept and str(widget.out.value) == str(third)
