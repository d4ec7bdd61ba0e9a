"""The Workflow dock: the whole walk from the digits folder to results, in one napari window."""

import numpy as np
from matplotlib.backend_bases import MouseEvent

from napari_convnet._sample_data import digits_folder
from napari_convnet.engine import get_engine

START_MS = 240_000


def _idle(qtbot, button, timeout=START_MS):
    qtbot.waitUntil(lambda: button.enabled, timeout=timeout)


def test_digits_folder_to_results_in_one_dock(make_napari_viewer, qtbot):
    get_engine().restart()  # a fresh engine: no model of an earlier test
    get_engine().wait_ready(START_MS / 1000)
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-convnet", "Workflow")
    qtbot.waitUntil(lambda: dock.train.model_checked, timeout=START_MS)
    titles = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    assert titles == ["1 Data", "2 Train", "3 Inspect", "4 Classify", "5 Evaluate"]
    # before any model the steps that need one say so and lead to the Train step
    assert all(note.missing for note in dock.model_notes)
    dock.tabs.setCurrentIndex(2)
    assert dock.model_notes[0].note.native.isVisibleTo(dock.native)
    dock.model_notes[0].go.clicked()
    assert dock.tabs.currentIndex() == 1

    # 1 Data: the digits folder, scanned once; Evaluate's folder follows it
    (sample,) = viewer.open_sample("napari-convnet", "digits")
    dock.data.folder.value = digits_folder()
    assert str(dock.evaluate.folder.value) == digits_folder()
    dock.data.scan.clicked()
    qtbot.waitUntil(lambda: dock.data.last_summary is not None, timeout=START_MS)
    assert dock.data.last_summary["class_names"] == [str(i) for i in range(10)]

    # 2 Train: two epochs of the default preset on that folder
    dock.train.epochs.value = 2
    dock.train.train_button.clicked()
    qtbot.waitUntil(lambda: dock.train.current is not None, timeout=START_MS)
    _idle(qtbot, dock.train.train_button)
    assert dock.train.current["meta"]["epochs"] == 2
    qtbot.waitUntil(lambda: not any(note.missing for note in dock.model_notes), timeout=2000)

    # 3 Inspect: kernels, feature maps and Grad-CAM of the digits layer
    inspect = dock.inspect  # it read the new model's layers by itself
    qtbot.waitUntil(lambda: bool(inspect.model_layers), timeout=START_MS)
    before = len(viewer.layers)
    inspect.kernels_button.clicked()
    qtbot.waitUntil(lambda: len(viewer.layers) > before, timeout=60_000)
    inspect.reset_choices()
    inspect.image_layer.value = sample
    for button in (inspect.maps_button, inspect.gradcam_button):
        count = len(viewer.layers)
        button.clicked()
        qtbot.waitUntil(lambda count=count: len(viewer.layers) > count, timeout=60_000)
        _idle(qtbot, button, 60_000)
    assert any(layer.name.startswith("Grad-CAM") for layer in viewer.layers)

    # 4 Classify: one digit, then a tiled class map of a 2x2 mosaic of digits
    classify = dock.classify
    one = viewer.add_image(sample.data[0], name="one digit")
    classify.reset_choices()
    classify.image_layer.value = one
    classify.mode.value = "image"
    classify.run_button.clicked()
    qtbot.waitUntil(lambda: "convnet" in one.metadata, timeout=60_000)
    _idle(qtbot, classify.run_button)
    assert one.metadata["convnet"]["class_name"] in [str(i) for i in range(10)]
    planes = sample.data
    mosaic = viewer.add_image(np.block([[planes[0], planes[10]], [planes[20], planes[30]]]),
                              name="mosaic")
    classify.reset_choices()
    classify.image_layer.value = mosaic
    classify.mode.value = "tiled class map"
    count = len(viewer.layers)
    classify.run_button.clicked()
    qtbot.waitUntil(lambda: len(viewer.layers) > count, timeout=60_000)
    _idle(qtbot, classify.run_button)

    # 5 Evaluate: the folder is already there; a confusion-matrix cell opens its images
    evaluate = dock.evaluate
    evaluate.evaluate_button.clicked()
    qtbot.waitUntil(lambda: evaluate.report is not None, timeout=START_MS)
    report = evaluate.report
    assert report["class_names"] == [str(i) for i in range(10)]
    item = max(report["items"], key=lambda i: i["confidence"])
    x, y = evaluate.matrix.ax.transData.transform((item["predicted"], item["true"]))
    MouseEvent("button_press_event", evaluate.matrix, x, y, button=1)._process()
    qtbot.waitUntil(lambda: any(layer.name.startswith("review:") for layer in viewer.layers),
                    timeout=60_000)
