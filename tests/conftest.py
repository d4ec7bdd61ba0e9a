"""Shared test settings. Core/engine tests and widget tests run in separate pytest processes
(TensorFlow and napari's OpenGL canvas must not share a process; see docs/troubleshooting.md)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
