"""A short long session (see benchmarks/bench_load.py): 3 train/stop/continue cycles and 50
classifications in one viewer; napari's memory stays bounded and no child process leaks."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks"))

from bench_load import leaked_children, report, session  # noqa: E402

#: Generous: the full benchmark (20 cycles, 500 requests) holds 100 MB.
BOUND_MB = 150


def test_short_session_keeps_memory_bounded_and_leaks_no_process(make_napari_viewer,
                                                                 tmp_path):
    viewer = make_napari_viewer()
    figures = session(viewer, tmp_path, cycles=3, requests=50)
    assert report(figures, BOUND_MB), figures
    assert figures["runs_in_table"] >= 2 and not leaked_children(figures["engine"])
