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


SCENARIOS = {"engine": scenario_engine}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 850)
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
