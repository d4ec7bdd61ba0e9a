"""The "ConvNet" dock: engine state (starting / ready / crashed + restart), the Keras backend
it runs on, and the device badge."""

from magicgui.widgets import ComboBox, Container, Label, PushButton
from qtpy.QtCore import QTimer

from napari_convnet import backends
from napari_convnet.engine import get_engine
from napari_convnet.engine.client import CRASHED, READY, STARTING, STOPPED

_STATE_TEXT = {
    STOPPED: "Engine: stopped",
    STARTING: "Engine: starting… (loading Keras)",
    READY: "Engine: ready",
    CRASHED: "Engine: crashed",
}


class EngineWidget(Container):
    """Shows the shared engine's state and device; starts the engine when opened.

    The Backend box restarts the engine on another Keras backend (the current model goes
    with the old engine: save it first).

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
        self.engine = get_engine()
        self._backend = ComboBox(
            label="Backend", choices=backends.CHOICES,
            value=backends.requested(self.engine.backend),
            tooltip="Keras backend the engine runs on. auto: the first of "
                    f"{', '.join(backends.TITLES[n] for n in backends.AUTO_ORDER)} that sees a "
                    "GPU, else TensorFlow. Changing it restarts the engine: save the current "
                    "model first. On native Windows only PyTorch trains on an NVIDIA GPU.")
        super().__init__(widgets=[self._state, self._backend, self._device, self._error,
                                  self._restart])
        self._backend.changed.connect(self._on_backend)
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
        self._device.value = backends.describe(self.engine.info) if state == READY else ""
        crashed = state == CRASHED
        error = (self.engine.last_error or "").splitlines()
        self._error.value = error[0] if crashed and error else ""
        self._error.tooltip = self.engine.last_error if crashed else ""
        self._restart.visible = crashed or state == STOPPED

    def _on_restart(self):
        self.engine.restart()
        self.refresh()

    def _on_backend(self, name):
        if name != backends.requested(self.engine.backend):
            self.engine.backend = name
            self._on_restart()
