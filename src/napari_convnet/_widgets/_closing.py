"""Closing napari while a run is active: ask first, and never leave the engine working alone.

:class:`CloseGuard` filters the close event of the window a dock lives in (plain Qt: the
window is ``dock.native.window()``) while a run is active. Closing the window (its close
button, the system's quit) asks whether to stop the run and keep what it has (a training
saves its best weights) or to keep napari open; on "stop", napari closes by itself once the
run has ended and saved.

A window closed by napari's menu (after napari's own question) or from code
(``viewer.close()`` in a notebook) cannot be kept open: the run is stopped at once and saves
what it has. A dock destroyed any other way stops its run too
(:class:`~napari_convnet._widgets.tasks.EngineTask`'s ``stop_with_owner``), so the engine
never goes on training for a window that is gone.
"""

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QMessageBox

STOP_AND_CLOSE, KEEP_OPEN = "stop and close", "keep open"


def ask(window, what):
    """Ask whether to stop ``what`` (e.g. "The training run") and close; return the answer."""
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("napari-convnet")
    box.setText(f"{what} is still running.")
    box.setInformativeText("Stop it now (the model is saved with its best weights so far) "
                           "and close napari when it has ended?")
    stop = box.addButton("Stop, save and close", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(stop)
    box.exec()
    return STOP_AND_CLOSE if box.clickedButton() is stop else KEEP_OPEN


class CloseGuard(QObject):
    """Hold the close of ``window`` while a run is active (see the module docstring).

    Parameters
    ----------
    window : QWidget
        The top-level window (napari's main window).
    what : str
        The run, for the question ("The training run").
    stop : callable
        Called with no argument to stop the run (it keeps what it has).
    answer : callable, optional
        ``answer(window, what)`` -> :data:`STOP_AND_CLOSE` or :data:`KEEP_OPEN`; the
        default asks the user (:func:`ask`).
    """

    def __init__(self, window, what, stop, answer=None):
        super().__init__(window)
        self.window = window
        self.what = what
        self._stop = stop
        self._answer = answer or ask
        self.closing = False  # the user chose to stop and close
        window.installEventFilter(self)

    def eventFilter(self, obj, event):
        if obj is not self.window or event.type() != QEvent.Type.Close:
            return False
        if not event.spontaneous():
            # napari's menu (after its own question) or code (viewer.close()): napari has
            # begun tearing the viewer down, so the close cannot be refused; the run stops
            # and saves what it has
            if not self.closing:
                self.closing = True
                self._stop()
            return False
        if not self.closing and self._answer(self.window, self.what) == STOP_AND_CLOSE:
            self.closing = True
            self._stop()
        event.ignore()  # closed by :meth:`ended`, once the run has saved what it has
        return True

    def ended(self):
        """The run has ended: stop guarding, and close the window if the user asked to."""
        self.window.removeEventFilter(self)
        if self.closing:
            QTimer.singleShot(0, self.window.close)
        self.deleteLater()
