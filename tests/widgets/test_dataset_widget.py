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
    widget.image_height.value = widget.image_width.value = 16

    widget.scan.clicked()
    qtbot.waitUntil(lambda: widget.last_summary is not None, timeout=START_MS)
    summary = widget.last_summary
    assert summary["class_names"] == ["bright", "dim"]
    assert sum(summary["totals"].values()) == 12
    assert "broken.png" in widget.summary.value
    assert "2 classes" in widget.summary.value

    widget.per_class.value = 3
    widget.open_samples.clicked()
    qtbot.waitUntil(lambda: any(layer.name.startswith("samples") for layer in viewer.layers),
                    timeout=60_000)
    layer = next(layer for layer in viewer.layers if layer.name.startswith("samples"))
    assert layer.data.shape == (6, 16, 16)
    assert layer.metadata["classes"] == ["bright"] * 3 + ["dim"] * 3
    # per-image percentile normalisation (the default): 1 % → 0 and 99.8 % → 1 in every plane,
    # although the raw "bright" images are ~160 grey levels above the "dim" ones
    for plane in layer.data:
        assert abs(np.percentile(plane, 1)) < 0.1
        assert abs(np.percentile(plane, 99.8) - 1) < 0.1

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
