"""The "ConvNet" dock: engine state (starting / ready / crashed + restart) and device badge."""

from magicgui.widgets import Container, Label, PushButton
from qtpy.QtCore import QTimer

from napari_convnet.engine import get_engine
from napari_convnet.engine.client import CRASHED, READY, STARTING, STOPPED

_STATE_TEXT = {
    STOPPED: "Engine: stopped",
    STARTING: "Engine: starting… (loading TensorFlow)",
    READY: "Engine: ready",
    CRASHED: "Engine: crashed",
}


def device_badge(info):
    """Return a one-line device description from the engine's device info (or '')."""
    if not info:
        return ""
    where = f"GPU: {info['device']}" if info.get("gpus") else "CPU only (no GPU found)"
    return f"{where} · TensorFlow {info['tensorflow']} · Keras {info['keras']}"


class EngineWidget(Container):
    """Shows the shared engine's state and device; starts the engine when opened.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer, optional
        Accepted for napari's widget protocol; not needed here.
    """

    def __init__(self, napari_viewer=None):
        self._state = Label(value=_STATE_TEXT[STOPPED])
        self._device = Label(value="")
        self._error = Label(value="")
        self._restart = PushButton(text="Restart engine", visible=False)
        super().__init__(widgets=[self._state, self._device, self._error, self._restart])
        self.engine = get_engine()
        self._restart.changed.connect(self._on_restart)
        # Poll instead of cross-thread callbacks: Qt widgets may only be touched from the
        # main thread, and four updates a second are plenty for a status line.
        self._timer = QTimer(self.native)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.engine.start()
        self.refresh()

    def refresh(self):
        """Update labels from the engine's current state."""
        state = self.engine.state
        self._state.value = _STATE_TEXT[state]
        self._device.value = device_badge(self.engine.info) if state == READY else ""
        crashed = state == CRASHED
        error = (self.engine.last_error or "").splitlines()
        self._error.value = error[0] if crashed and error else ""
        self._error.tooltip = self.engine.last_error if crashed else ""
        self._restart.visible = crashed or state == STOPPED

    def _on_restart(self):
        self.engine.restart()
        self.refresh()
