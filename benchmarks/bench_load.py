"""Long session in one napari viewer: does napari's memory grow, do child processes leak?

Run under a display or Xvfb (TensorFlow never loads in this process):

    xvfb-run -a .venv/bin/python benchmarks/bench_load.py            # 20 cycles, 500 requests

Drives the real Train and Classify docks with the shared engine: ``--cycles`` times
train → stop after the first epoch → continue one epoch (course-cnn on a tiny folder), then
``--requests`` single-image classifications (``classify_image``) in a row, each waiting for
its result as a user clicking "Classify" would. Prints napari's resident memory (RSS) after
warm-up (one cycle and 20 requests) and at the end, its growth against ``--bound-mb``, the
thread count, and the child processes left besides the engine (goal: none). Exits 1 when a
bound is broken. ``tests/widgets/test_load.py`` runs a short version.
"""

import argparse
import runpy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

_TESTS = Path(__file__).resolve().parents[1] / "tests"
# the same tiny folder and process figures as tests/widgets/test_load.py (one copy, in tests/)
_FOLDERS = runpy.run_path(str(_TESTS / "_helpers_folders.py"))
_SESSION = runpy.run_path(str(_TESTS / "_helpers_session.py"))
SIZE, stripes_folder = _FOLDERS["SIZE"], _FOLDERS["stripes_folder"]
rss_mb, leaked_children = _SESSION["rss_mb"], _SESSION["leaked_children"]


def open_docks(viewer, root, out):
    return _SESSION["open_docks"](viewer, root, out, SIZE)
WARMUP_REQUESTS = 20
STEP_TIMEOUT_S = 240


def wait_until(predicate, timeout=STEP_TIMEOUT_S):
    """Run napari's event loop until ``predicate()`` holds."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s")
        QApplication.processEvents()
        time.sleep(0.005)


def cycle(train):
    """Train, stop after the first epoch, continue one epoch. Returns nothing; raises on error."""
    train.epochs.value = 500
    train.train_button.clicked()
    wait_until(lambda: not train.train_button.enabled, 5)
    wait_until(lambda: len(train.curves.live.get("loss", ())) >= 1)
    train.stop_button.clicked()
    wait_until(lambda: train.train_button.enabled)
    if "stopped" not in train.status.value:
        raise RuntimeError(f"training did not stop as asked: {train.status.value}")
    train.epochs.value = 1
    train.continue_button.clicked()
    wait_until(lambda: not train.train_button.enabled, 5)
    wait_until(lambda: train.train_button.enabled)
    if "done" not in train.status.value:
        raise RuntimeError(f"continued training failed: {train.status.value}")


def classify(widget, count):
    """Classify the selected image ``count`` times, one request after the other."""
    for _ in range(count):
        widget.run_button.clicked()
        wait_until(lambda: not widget.run_button.enabled, 5)
        wait_until(lambda: widget.run_button.enabled, 60)
        if not widget.status.value.startswith("1 result"):
            raise RuntimeError(f"classification failed: {widget.status.value}")


def session(viewer, folder, cycles, requests):
    """Run the long session in ``viewer``; return its figures as a dict."""
    root = stripes_folder(Path(folder) / "stripes")
    train, classify_dock = open_docks(viewer, root, Path(folder) / "models" / "load.keras")
    image = viewer.add_image(np.asarray(Image.open(root / "vertical" / "00.png")), name="one")
    classify_dock.reset_choices()
    classify_dock.image_layer.value = image
    classify_dock.mode.value = "image"
    started = time.monotonic()
    cycle(train)
    classify(classify_dock, min(WARMUP_REQUESTS, requests))
    before, threads_before = rss_mb(), psutil.Process().num_threads()
    t0 = time.monotonic()
    for _ in range(cycles - 1):
        cycle(train)
    cycles_s = time.monotonic() - t0
    t0 = time.monotonic()
    classify(classify_dock, requests - min(WARMUP_REQUESTS, requests))
    requests_s = time.monotonic() - t0
    after = rss_mb()
    engine = train.engine
    return {
        "cycles": cycles, "requests": requests,
        "rss_after_warmup_mb": before, "rss_end_mb": after, "growth_mb": after - before,
        "threads_after_warmup": threads_before, "threads_end": psutil.Process().num_threads(),
        "seconds": time.monotonic() - started,
        "seconds_per_cycle": cycles_s / max(cycles - 1, 1),
        "ms_per_request": 1000 * requests_s / max(requests - WARMUP_REQUESTS, 1),
        "engine": engine, "engine_alive": engine.state == "ready",
        "leaked_children": leaked_children(engine),
        "runs_in_table": train.runs.rowCount(),
    }


def report(figures, bound_mb):
    """Print the figures; return True when within bounds."""
    ok = (figures["growth_mb"] < bound_mb and not figures["leaked_children"]
          and figures["engine_alive"])
    print(f"{figures['cycles']} train/stop/continue cycles, {figures['requests']} "
          f"classify_image requests in {figures['seconds']:.0f} s "
          f"({figures['seconds_per_cycle']:.1f} s per cycle, "
          f"{figures['ms_per_request']:.0f} ms per request)")
    print(f"napari RSS after warm-up {figures['rss_after_warmup_mb']:.0f} MB, at the end "
          f"{figures['rss_end_mb']:.0f} MB: growth {figures['growth_mb']:+.1f} MB "
          f"(bound {bound_mb} MB)")
    print(f"threads {figures['threads_after_warmup']} → {figures['threads_end']}; runs in the "
          f"table {figures['runs_in_table']}; leaked child processes: "
          f"{len(figures['leaked_children'])}; engine alive: {figures['engine_alive']}")
    print("OK" if ok else "FAILED")
    return ok


def main():
    import napari

    from napari_convnet.engine import get_engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--bound-mb", type=float, default=100.0)
    args = parser.parse_args()
    viewer = napari.Viewer(show=True)
    get_engine().wait_ready(STEP_TIMEOUT_S)
    try:
        with tempfile.TemporaryDirectory() as folder:
            figures = session(viewer, folder, args.cycles, args.requests)
    finally:
        viewer.close()
        get_engine().shutdown()
    ok = report(figures, args.bound_mb)
    if leaked_children(get_engine()):
        print("child processes still alive after shutdown:", leaked_children(get_engine()))
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
