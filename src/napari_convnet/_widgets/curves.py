"""Live training curves (loss and accuracy, training vs validation) drawn with matplotlib.

The course's way of seeing overfitting: the curves of one run update every epoch; runs
selected in the runs table are overlaid dashed for comparison.

The curves are drawn off napari's main thread: a matplotlib draw takes 0.1-0.3 s (more while
training shares the CPU), which would freeze napari's event loop at every epoch. A worker
thread draws the figure with Agg into an image; the widget only paints that image. Axes
limits are fixed for a run (epochs known in advance, accuracy 0-1, loss from 0 to a rounded
maximum), so most epochs only redraw the lines over a saved background (blitting).
"""

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QObject, QSize, Qt, Signal
from qtpy.QtGui import QImage, QPainter
from qtpy.QtWidgets import QSizePolicy, QWidget

from napari_convnet.atomic import writing

_METRICS = (("loss", "Loss"), ("accuracy", "Accuracy"))
_DPI = 100
_log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries frames from the drawing thread. Parentless, so it outlives the widget: Qt
    drops the queued connection when the widget is destroyed, and a late frame goes nowhere."""

    drawn = Signal(object)  # RGBA uint8 (H, W, 4) array, or None when drawing failed


class CurvesCanvas(QWidget):
    """Two axes (loss, accuracy) over epochs; one live history plus overlaid runs.

    ``live`` and ``overlays`` belong to the main thread; the figure belongs to the drawing
    thread (every use holds ``_figure_lock``). ``image`` is the last drawn frame (QImage).
    """

    def __init__(self):
        super().__init__()
        # a fixed layout: "constrained" re-solves the layout on every draw
        self.figure = Figure(figsize=(4.5, 2.4), dpi=_DPI)
        FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.09, right=0.98, bottom=0.2, top=0.8, wspace=0.25)
        self.axes = dict(zip((m for m, _ in _METRICS), self.figure.subplots(1, 2), strict=True))
        self.live = {}
        self.live_label = ""
        self.caption = ""  # one line above the axes ("epoch 3/10 · accuracy 91.0 %")
        self.epochs = None  # the live run's planned epochs: the x axis does not rescale
        self.overlays = []
        self.image = None
        self.draws = 0  # frames drawn, for tests
        self._lines = {}
        # drawn over the background at every frame; everything else only when it changes
        self._caption = self.figure.suptitle("", fontsize=8, y=0.99, animated=True)
        self._background = None
        self._frame_key = None  # (limits, size, ratio) the background was drawn for
        for metric, title in _METRICS:
            ax = self.axes[metric]
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
        self.setMinimumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._figure_lock = threading.Lock()
        self._drawer = ThreadPoolExecutor(1, thread_name_prefix="napari-convnet-curves")
        self._busy = False  # a frame is being drawn
        self._dirty = False  # and another was asked for meanwhile
        self._relay = _Relay()
        self._relay.drawn.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.destroyed.connect(lambda *_: self._drawer.shutdown(wait=False))
        self.redraw()

    def sizeHint(self):
        return QSize(450, 240)

    def start_live(self, label, history=None, caption="", epochs=None):
        """Start a new live history (optionally continuing ``history``, a Keras history dict).

        ``epochs``: the epochs the run will have in all (history included), for the x axis.
        """
        self.live_label = label
        self.live = {k: list(v) for k, v in (history or {}).items()}
        self.caption = caption
        self.epochs = epochs
        self.redraw()

    def add_epoch(self, logs, caption=None):
        """Append one epoch's logs (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).

        ``caption`` replaces the line above the axes: the epoch's text is drawn with the
        curves (one repaint per epoch, not one for the curves and one for a label).
        """
        for key, value in logs.items():
            if value is not None:
                self.live.setdefault(key, []).append(float(value))
        if caption is not None:
            self.caption = caption
        self.redraw()

    def set_overlays(self, runs):
        """Overlay these runs: list of ``(label, history dict)``."""
        self.overlays = list(runs)
        self.redraw()

    def redraw(self):
        """Draw the live history (solid) and overlays (dashed) in the drawing thread.

        Requests made while a frame is being drawn are coalesced into one more frame.
        """
        if self._busy:
            self._dirty = True
            return
        ratio = self.devicePixelRatioF()
        size = (max(self.width(), 100), max(self.height(), 100))
        self._drawer.submit(self._draw_in_thread, self._relay, self._wanted(), self.caption,
                            self.epochs, size, ratio)
        self._busy = True  # only once a frame is on its way: ``_show`` clears it

    def _wanted(self):
        """Every line to show: (metric, label, colour, style, key, alpha, suffix) → values."""
        wanted = {}
        runs = [(label, history, f"C{(i + 2) % 10}", "--")
                for i, (label, history) in enumerate(self.overlays)]
        runs.append((self.live_label, self.live, "C0", "-"))
        for metric, _ in _METRICS:
            for label, history, colour, style in runs:
                for key, alpha, suffix in ((metric, 1.0, "train"),
                                           (f"val_{metric}", 0.55, "val")):
                    values = (history or {}).get(key) or []
                    if values:
                        wanted[(metric, label, colour, style, alpha, suffix)] = list(values)
        return wanted

    def _set_lines(self, wanted, caption):
        """Update lines and caption (drawing thread); True when the legends changed."""
        self._caption.set_text(caption)
        if set(wanted) == set(self._lines):
            for key, values in wanted.items():
                self._lines[key].set_data(range(1, len(values) + 1), values)
            return False
        for line in self._lines.values():
            line.remove()
        self._lines = {}
        for (metric, label, colour, style, alpha, suffix), values in wanted.items():
            (self._lines[(metric, label, colour, style, alpha, suffix)],) = \
                self.axes[metric].plot(range(1, len(values) + 1), values, style,
                                       color=colour, alpha=alpha, marker=".", animated=True,
                                       label=f"{label} {suffix}".strip())
        for metric, _ in _METRICS:
            ax = self.axes[metric]
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
            if ax.lines:
                ax.legend(fontsize=6, loc="best")
        return True

    @staticmethod
    def _limits(wanted, epochs):
        """Axes limits: x over all planned epochs, accuracy 0-1, loss 0 to a rounded maximum."""
        longest = max((len(v) for v in wanted.values()), default=1)
        x = (0.5, max(longest, epochs or 0, 1) + 0.5)
        losses = [v for key, values in wanted.items() if key[0] == "loss" for v in values
                  if math.isfinite(v)]
        low, high = min(losses + [0.0]), max(losses + [1e-3])
        step = 10 ** math.floor(math.log10(high)) / 2  # a new maximum rarely changes it
        return {"loss": (x, (low, math.ceil(high * 1.05 / step) * step)),
                "accuracy": (x, (0.0, 1.02))}

    def _draw_in_thread(self, relay, wanted, caption, epochs, size, ratio):
        frame = None
        try:
            with self._figure_lock:
                canvas = self.figure.canvas
                rebuilt = self._set_lines(wanted, caption)
                limits = self._limits(wanted, epochs)
                key = (limits, size, ratio)
                if rebuilt or key != self._frame_key or self._background is None:
                    for metric, (xlim, ylim) in limits.items():
                        self.axes[metric].set_xlim(*xlim)
                        self.axes[metric].set_ylim(*ylim)
                    self.figure.set_dpi(_DPI * ratio)
                    self.figure.set_size_inches(size[0] / _DPI, size[1] / _DPI)
                    canvas.draw()  # axes, ticks, legends: all but the animated artists
                    self._background = canvas.copy_from_bbox(self.figure.bbox)
                    self._frame_key = key
                else:
                    canvas.restore_region(self._background)
                for line in self._lines.values():
                    line.axes.draw_artist(line)
                self.figure.draw_artist(self._caption)
                frame = np.array(canvas.buffer_rgba())
        except Exception:  # noqa: BLE001 - a failed frame must not stop later ones
            _log.exception("Drawing the training curves failed")
        relay.drawn.emit(frame)

    def _show(self, frame):
        self._busy = False
        if frame is not None:
            height, width = frame.shape[:2]
            image = QImage(frame.data, width, height, 4 * width,
                           QImage.Format.Format_RGBA8888).copy()
            image.setDevicePixelRatio(self.devicePixelRatioF())
            self.image = image
            self.draws += 1
            self.update()
        if self._dirty:
            self._dirty = False
            self.redraw()

    def paintEvent(self, event):
        if self.image is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.rect(), self.image)
        painter.end()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.redraw()

    def export_png(self, path):
        """Save the curves as a PNG file at ``path`` (waits for the drawing thread)."""
        wanted, caption, epochs = self._wanted(), self.caption, self.epochs

        def save():
            with self._figure_lock:
                self._set_lines(wanted, caption)
                for metric, (xlim, ylim) in self._limits(wanted, epochs).items():
                    self.axes[metric].set_xlim(*xlim)
                    self.axes[metric].set_ylim(*ylim)
                animated = [*self._lines.values(), self._caption]
                for artist in animated:
                    artist.set_animated(False)
                try:
                    with writing(path, "the PNG image") as tmp:
                        self.figure.savefig(tmp, dpi=150, format="png")
                finally:
                    for artist in animated:
                        artist.set_animated(True)
                    self._background = None  # savefig changed the renderer

        self._drawer.submit(save).result()


class StackPlot(FigureCanvasQTAgg):
    """Class probability along a stack (one line per class), with the current slice marked."""

    def __init__(self):
        self.figure = Figure(figsize=(4.5, 1.8), layout="constrained")
        super().__init__(self.figure)
        self.ax = self.figure.subplots()
        self._marker = None
        self.setMinimumHeight(160)

    def show_stack(self, probabilities, class_names):
        """Plot ``probabilities`` float (N, K) against the slice index."""
        self.ax.clear()
        for k, name in enumerate(class_names):
            self.ax.plot(probabilities[:, k], label=name, linewidth=1)
        self.ax.set_xlabel("slice", fontsize=8)
        self.ax.set_ylabel("probability", fontsize=8)
        self.ax.set_ylim(0, 1.02)
        self.ax.tick_params(labelsize=7)
        self.ax.legend(fontsize=6, loc="best")
        self._marker = self.ax.axvline(0, color="k", linewidth=0.8, alpha=0.6)
        self.draw_idle()

    def mark(self, index):
        """Move the current-slice marker to ``index``."""
        if self._marker is not None:
            self._marker.set_xdata([index, index])
            self.draw_idle()
