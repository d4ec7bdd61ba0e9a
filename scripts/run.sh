#!/usr/bin/env bash
# Install napari with the plugin and open it with the ConvNet docks. Without a display,
# run the headless demo instead: train a small CNN on the bundled digits and report accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/venv.sh qt
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec .venv/bin/napari -w napari-convnet "$@"
else
    echo "No display found: running the headless demo (napari-convnet demo)."
    exec .venv/bin/napari-convnet demo "$@"
fi
