"""Training from the Train dock: napari's worst event-loop stall, and throughput vs plain Keras.

Run under a display or Xvfb (TensorFlow never loads in this process; plain Keras runs in a
child process of its own):

    xvfb-run -a .venv/bin/python benchmarks/bench_gui.py --epochs 5

Prints:
- the worst gap between ticks of a 10 ms QTimer while the dock trains (goal: stall < 50 ms);
- training throughput (samples/s) through the dock vs a plain ``model.fit`` of the same
  model (the course's CNN written in plain Keras) on the same images, batch size and epochs
  (goal: ratio >= 0.95). Both figures count the ``fit`` time only; the dock's wall time from
  click to result (indexing, loading and saving included) is printed too.
"""

import argparse
import json
import subprocess
import sys
import textwrap
import time

import napari
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_convnet._sample_data import digits_folder
from napari_convnet.engine import get_engine

PLAIN_KERAS = textwrap.dedent(
    """
    import json, sys, time
    import keras
    from napari_convnet.core.data import DataConfig, index_folder, load_split
    root, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    index = index_folder(root, DataConfig(image_size=(28, 28)))
    x, y = load_split(index, "train")
    xv, yv = load_split(index, "validation")
    keras.utils.set_random_seed(1337)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(15, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=(xv, yv), verbose=0)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "samples_per_second": len(x) * epochs / seconds}))
    """
)


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        QApplication.processEvents()
        time.sleep(0.002)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", action="store_true", help="list the 5 worst stalls")
    args = parser.parse_args(argv)

    viewer = napari.Viewer(show=True)
    engine = get_engine()
    engine.wait_ready(300)
    _, dock = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    dock.data.use_digits.clicked()
    dock.preset.value = "course-cnn"
    dock.epochs.value = args.epochs
    dock.batch_size.value = args.batch_size

    gaps, last = [], [time.perf_counter()]
    marks = []  # (time, event type) to tell which events coincide with stalls

    def tick():
        now = time.perf_counter()
        gaps.append((now - last[0], now))
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    probe.start()
    started = time.perf_counter()
    dock.train_button.clicked()
    wait_until(lambda: not dock.train_button.enabled, 10)
    dock.task.worker.yielded.connect(
        lambda e: marks.append((time.perf_counter(), e.get("type"))))
    gaps.clear()
    wait_until(lambda: dock.train_button.enabled, 1800)
    wall = time.perf_counter() - started
    probe.stop()
    if dock.current is None:
        raise SystemExit(f"training failed: {dock.status.value}")
    record = dock.current["meta"]
    n_train = record["dataset"]["totals"]["train"]
    runs = engine.call("list_runs", folders=dock.run_folders())
    result = runs[-1]["result"]
    dock_sps = result["samples_per_second"]

    plain = json.loads(subprocess.run(
        [sys.executable, "-c", PLAIN_KERAS, digits_folder(), str(args.epochs),
         str(args.batch_size)], capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    engine.shutdown()
    viewer.close()

    worst = max(g for g, _ in gaps) * 1000 - 10
    if args.verbose:
        for gap, at in sorted(gaps, reverse=True)[:5]:
            near = [kind for t, kind in marks if at - gap - 0.05 <= t <= at + 0.05]
            print(f"  stall {gap * 1000:.0f} ms at +{at - started:.2f} s; events then: {near}")
    print(f"digits: {n_train} training images, course-cnn, batch {args.batch_size}, "
          f"{args.epochs} epochs, device {result['device']}")
    print(f"GUI event loop: worst stall {worst:.1f} ms over {len(gaps)} ticks "
          f"(goal < 50 ms) {'OK' if worst < 50 else 'MISSED'}")
    print(f"dock: fit {result['seconds']:.2f} s, {dock_sps:.0f} samples/s; "
          f"click to result {wall:.2f} s")
    print(f"plain Keras model.fit: {plain['seconds']:.2f} s, "
          f"{plain['samples_per_second']:.0f} samples/s")
    ratio = dock_sps / plain["samples_per_second"]
    print(f"throughput ratio dock / plain Keras: {ratio:.2f} (goal >= 0.95) "
          f"{'OK' if ratio >= 0.95 else 'MISSED'}")


if __name__ == "__main__":
    main()
