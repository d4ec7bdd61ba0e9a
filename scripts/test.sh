#!/usr/bin/env bash
# Install everything the tests need, then run them: lint, core + engine + packaging tests,
# and widget tests in a real napari viewer under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/venv.sh test
export TF_CPP_MIN_LOG_LEVEL=2
# --no-cache: a cache from before a file moved hides import-order changes CI then finds
.venv/bin/ruff check --no-cache
# TensorFlow and napari's OpenGL canvas must not share a process (Mesa segfault; see
# docs/troubleshooting.md): core/engine tests and widget tests run as separate pytest processes.
.venv/bin/python -m pytest tests/core tests/engine tests/packaging "$@"
# The core suite again with Keras on JAX (the cross-backend tests ran above, without TensorFlow).
KERAS_BACKEND=jax .venv/bin/python -m pytest tests/core --ignore tests/core/test_backends.py \
    --ignore tests/core/test_cli_backend.py "$@"
xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest tests/widgets "$@"
