#!/usr/bin/env bash
# Install napari with the plugin and open it with the Workflow dock and the bundled digits
# sample, ready to train (press Train in step 2). Without a display, run the headless demo
# instead: train a small CNN on the bundled digits and report accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/venv.sh qt
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec .venv/bin/python -c '
import napari
from napari_convnet._sample_data import digits_folder
viewer = napari.Viewer(title="napari-convnet")
viewer.open_sample("napari-convnet", "digits")
_, dock = viewer.window.add_plugin_dock_widget("napari-convnet", "Workflow")
dock.data.folder.value = digits_folder()
napari.run()
' "$@"
else
    echo "No display found: running the headless demo (napari-convnet demo)."
    exec .venv/bin/napari-convnet demo "$@"
fi
