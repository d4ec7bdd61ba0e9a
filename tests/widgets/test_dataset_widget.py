"""The Dataset dock in a real viewer, scanning real folders through a real engine."""

import numpy as np
from PIL import Image

START_MS = 240_000


def _write_folder(root):
    rng = np.random.default_rng(0)
    for name, bright in (("dim", 40), ("bright", 200)):
        (root / name).mkdir(parents=True)
        for i in range(6):
            img = rng.integers(0, 30, (20, 20)) + bright
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i}.png")
    (root / "bright" / "broken.png").write_text("not an image")


def test_scan_shows_summary_and_bad_files_then_samples_become_a_layer(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Dataset")
    _write_folder(tmp_path / "data")
    widget.folder.value = tmp_path / "data"
    assert widget.auto_size.value and not widget.image_height.enabled  # the default: auto

    widget.scan.clicked()
    qtbot.waitUntil(lambda: widget.last_summary is not None, timeout=START_MS)
    summary = widget.last_summary
    assert summary["class_names"] == ["bright", "dim"]
    assert sum(summary["totals"].values()) == 12
    assert "broken.png" in widget.summary.value
    assert "2 classes" in widget.summary.value
    assert "image size auto: every image is 20×20 → 20×20" in widget.summary.value
    assert (widget.image_height.value, widget.image_width.value) == (20, 20)  # from the data
    assert "dataset levels (per channel)" in widget.summary.value

    widget.per_class.value = 3
    widget.open_samples.clicked()
    qtbot.waitUntil(lambda: any(layer.name.startswith("samples") for layer in viewer.layers),
                    timeout=60_000)
    layer = next(layer for layer in viewer.layers if layer.name.startswith("samples"))
    assert layer.data.shape == (6, 20, 20)
    assert layer.metadata["classes"] == ["bright"] * 3 + ["dim"] * 3
    # dataset normalisation (the default): one mapping for all images, so the "bright" images
    # stay ~160 grey levels above the "dim" ones: near 1 and near 0 on the 0-1 scale
    means = layer.data.mean(axis=(1, 2))
    assert means[:3].min() > 0.8 and means[3:].max() < 0.2

    # a size typed in replaces the data's own
    widget.auto_size.value = False
    widget.image_height.value = widget.image_width.value = 16
    widget.scan.clicked()
    qtbot.waitUntil(lambda: "model input 16×16×1" in widget.summary.value, timeout=60_000)

    # re-running updates the same layer instead of adding another
    widget.open_samples.clicked()
    qtbot.waitUntil(lambda: widget.open_samples.enabled, timeout=60_000)
    qtbot.wait(200)
    assert sum(layer.name.startswith("samples") for layer in viewer.layers) == 1


def test_missing_folder_is_a_message_not_a_crash(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Dataset")
    widget.folder.value = tmp_path / "nowhere"
    widget.scan.clicked()
    qtbot.waitUntil(lambda: widget.scan.enabled and widget.summary.value != "scanning…",
                    timeout=START_MS)
    assert "nowhere" in widget.summary.value
    assert "Traceback" not in widget.summary.value
