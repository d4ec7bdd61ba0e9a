"""Take screenshots of real napari windows with the plugin's docks, for the README and docs/.

Run under a display or Xvfb:
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py engine
Each scenario opens a viewer, drives the plugin as a user would, waits for the engine, and
saves docs/images/<scenario>.png.
"""

import argparse
import sys
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_convnet.engine import get_engine
from napari_convnet.engine.client import READY

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def wait_until(predicate, timeout=240.0):
    """Process Qt events until ``predicate()`` is true; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        QApplication.processEvents()
        time.sleep(0.05)


def scenario_engine(viewer):
    """The ConvNet dock beside a sample image, engine ready."""
    from skimage import data

    viewer.add_image(data.cell(), name="cell (scikit-image sample)")
    viewer.window.add_plugin_dock_widget("napari-convnet", "ConvNet")
    wait_until(lambda: get_engine().state == READY)


def _dock(viewer, name, width=560):
    from qtpy.QtCore import Qt

    dock, widget = viewer.window.add_plugin_dock_widget("napari-convnet", name)
    dock.parentWidget().resizeDocks([dock], [width], Qt.Orientation.Horizontal)
    return widget


def scenario_train(viewer):
    """The Train dock after training course-cnn on the bundled digits: curves and runs."""
    widget = _dock(viewer, "Train")
    widget.data.use_digits.clicked()
    widget.data.open_samples.clicked()
    wait_until(lambda: any(layer.name.startswith("samples") for layer in viewer.layers))
    widget.preset.value = "course-cnn"
    widget.epochs.value = 8
    widget.summary_button.clicked()
    wait_until(lambda: "trainable" in widget.param_count.value)
    widget.train_button.clicked()
    wait_until(lambda: not widget.train_button.enabled, 10)
    wait_until(lambda: widget.train_button.enabled, 600)
    wait_until(lambda: widget.runs.rowCount() > 0, 60)
    widget.runs.selectRow(0)
    # the dock scrolls: show the curves and the runs table (below the training options)
    bar = widget.body.root_native_widget.verticalScrollBar()
    bar.setValue(bar.maximum())
    wait_until(lambda: widget.curves.draws > 0 and not widget.curves._busy, 30)


def scenario_dataset(viewer):
    """The Dataset dock with the digits summary and samples opened as a layer."""
    widget = _dock(viewer, "Dataset")
    widget.use_digits.clicked()
    widget.scan.clicked()
    wait_until(lambda: widget.last_summary is not None)
    widget.open_samples.clicked()
    wait_until(lambda: any(layer.name.startswith("samples") for layer in viewer.layers))


def _digits_model():
    """Train course-cnn on the bundled digits in the engine (the current model)."""
    from napari_convnet._sample_data import digits_folder

    # a scratch bundle the script re-makes on every run: replaced on purpose
    get_engine().call("train", root=digits_folder(), preset="course-cnn",
                      data_config={"image_size": [28, 28]}, train_config={"epochs": 15},
                      out=str(Path.home() / "napari-convnet" / "screenshots" / "digits.keras"),
                      overwrite=True)
    return digits_folder()


def scenario_evaluate(viewer):
    """The Evaluate dock: digits model, confusion matrix, a cell opened for review."""
    from napari_convnet._sample_data import digits_folder

    _digits_model()
    widget = _dock(viewer, "Evaluate")
    widget.folder.value = digits_folder()
    widget.evaluate_button.clicked()
    wait_until(lambda: widget.report is not None)
    report = widget.report
    off = [(i["true"], i["predicted"]) for i in report["items"] if i["true"] != i["predicted"]]
    cell = off[0] if off else (0, 0)
    widget.open_cell(*cell)
    wait_until(lambda: any(layer.name.startswith("review") for layer in viewer.layers))


def _digit_mosaic(rows=3, cols=5):
    """A mosaic of real digit images (one per cell), and the class of each cell."""
    from PIL import Image

    from napari_convnet._sample_data import digits_folder

    root = Path(digits_folder())
    cells, classes = [], []
    for i in range(rows * cols):
        digit = str(i % 10)
        path = sorted((root / digit).glob("*.png"))[i // 10 + 5]
        cells.append(np.asarray(Image.open(path).convert("L")))
        classes.append(digit)
    grid = np.block([[cells[r * cols + c] for c in range(cols)] for r in range(rows)])
    return grid, classes


def scenario_inspect(viewer):
    """The Inspect dock: feature maps of conv1 over a digit, and Grad-CAM."""
    _digits_model()
    layer = viewer.add_image(_digit_mosaic(1, 1)[0], name="digit 0")
    widget = _dock(viewer, "Inspect")
    wait_until(lambda: bool(widget.model_layers))
    widget.image_layer.value = layer
    widget.kernels_button.clicked()
    wait_until(lambda: any(x.name.startswith("kernels") for x in viewer.layers))
    widget.maps_button.clicked()
    wait_until(lambda: any(x.name.startswith("maps") for x in viewer.layers))
    widget.gradcam_button.clicked()
    wait_until(lambda: any(x.name.startswith("Grad-CAM") for x in viewer.layers))
    # the dock shows only the newest result over an image: show the maps for the picture
    for x in viewer.layers:
        x.visible = x.name.startswith(("maps", "digit"))
    viewer.dims.set_current_step(0, 3)


def scenario_classify(viewer):
    """The Classify dock: a tiled class map over a mosaic of real digits."""
    _digits_model()
    grid, _ = _digit_mosaic()
    layer = viewer.add_image(grid, name="digit mosaic")
    widget = _dock(viewer, "Classify")
    widget.image_layer.value = layer
    widget.mode.value = "tiled class map"
    widget.stride.value = 28  # one tile per digit
    widget.run_button.clicked()
    wait_until(lambda: "classes: digit mosaic" in viewer.layers)


def _workflow(viewer):
    """The Workflow dock on the digits sample, its folder set (what scripts/run.sh opens)."""
    from napari_convnet._sample_data import digits_folder

    viewer.open_sample("napari-convnet", "digits")
    dock = _dock(viewer, "Workflow", width=520)
    dock.data.folder.value = digits_folder()
    return dock


def scenario_quickstart_train(viewer):
    """docs/quickstart.md: the Workflow dock's Train step after 8 epochs on the digits."""
    dock = _workflow(viewer)
    dock.tabs.setCurrentIndex(1)
    dock.train.epochs.value = 8
    dock.train.train_button.clicked()
    wait_until(lambda: dock.train.current is not None and dock.train.train_button.enabled)
    dock.train.body.root_native_widget.ensureWidgetVisible(dock.train.curves, 0, 0)


def scenario_quickstart_classify(viewer):
    """docs/quickstart.md: the Classify step's tiled class map over a mosaic of digits."""
    dock = _workflow(viewer)
    dock.train.epochs.value = 15
    dock.train.train_button.clicked()
    wait_until(lambda: dock.train.current is not None and dock.train.train_button.enabled)
    grid, _ = _digit_mosaic()
    layer = viewer.add_image(grid, name="digit mosaic")
    viewer.layers[0].visible = False
    dock.tabs.setCurrentIndex(3)
    dock.classify.reset_choices()
    dock.classify.image_layer.value = layer
    dock.classify.mode.value = "tiled class map"
    dock.classify.stride.value = 28  # one tile per digit
    dock.classify.run_button.clicked()
    wait_until(lambda: "classes: digit mosaic" in viewer.layers)
    viewer.reset_view()


_NOTEBOOK_MODEL = """
import sys
import keras, numpy as np
sys.path.insert(0, sys.argv[2])
from tests import _textures
x = np.stack([c for i, n in enumerate(_textures.TEXTURES)
              for c in _textures.crops(n, 32, 60, "left", i)])[..., None] / 255.0
keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                      keras.layers.MaxPooling2D(), keras.layers.Conv2D(16, 3, activation="relu"),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
m.fit(x, np.repeat(np.arange(3), 60), epochs=12, verbose=0)
m.save(sys.argv[1])
"""


def scenario_sharing(viewer):
    """The Train step's import section: a notebook's .h5 (logits, x / 255) with its preview."""
    import os
    import subprocess

    from skimage import data

    root = Path(__file__).resolve().parents[1]
    folder = Path.home() / "napari-convnet" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "course_cnn.h5"
    subprocess.run([sys.executable, "-c", _NOTEBOOK_MODEL, str(model), str(root)], check=True,
                   env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"})
    viewer.add_image(data.grass()[:160, :160], name="grass (scikit-image)")
    widget = _dock(viewer, "Train")
    section = next(w for w in widget.body if type(w).__name__ == "ImportSection")
    section.unfold()
    for old in folder.glob("course_cnn-imported*.keras"):
        old.unlink()
    section.source.value = model
    wait_until(lambda: section.described is not None)
    section.class_names.value = "brick, grass, gravel"
    section.reset_choices()
    section.preview_button.clicked()
    wait_until(lambda: section.preview._pair is not None, 60)
    section.import_button.clicked()
    wait_until(lambda: widget.current is not None, 60)
    from qtpy.QtCore import QPoint

    for _ in range(20):  # let the dock lay out the unfolded section before scrolling to it
        QApplication.processEvents()
        time.sleep(0.05)
    scroll = widget.body.root_native_widget
    top = section.native.mapTo(scroll.widget(), QPoint(0, 0)).y()
    scroll.verticalScrollBar().setValue(top - 10)


SCENARIOS = {"sharing": scenario_sharing, "quickstart-train": scenario_quickstart_train,
             "quickstart-classify": scenario_quickstart_classify,
             "inspect": scenario_inspect, "classify": scenario_classify,
             "engine": scenario_engine, "train": scenario_train, "dataset": scenario_dataset,
             "evaluate": scenario_evaluate}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--size", default=None, help="window size WxH; default 1400x850, "
                        "1366x768 for the quickstart")
    args = parser.parse_args(argv)
    size = args.size or ("1366x768" if args.scenario.startswith("quickstart") else "1400x850")
    viewer = napari.Viewer(show=True)
    viewer.window.resize(*map(int, size.split("x")))
    try:
        SCENARIOS[args.scenario](viewer)
        for _ in range(20):
            QApplication.processEvents()
            time.sleep(0.05)
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        out = DOCS_IMAGES / f"{args.scenario}.png"
        viewer.screenshot(str(out), canvas_only=False)
        print(out)
    finally:
        get_engine().shutdown()
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
