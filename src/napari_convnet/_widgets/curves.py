"""Live training curves (loss and accuracy, training vs validation) drawn with matplotlib.

The course's way of seeing overfitting: the curves of one run update every epoch; runs
selected in the runs table are overlaid for comparison. Training is solid, validation
dashed; the live run's two curves also differ in colour, each overlay has a colour of its
own. Colours follow napari's theme (:mod:`~napari_convnet._widgets.plot_style`); hovering
shows the values at the nearest epoch.

The curves are drawn off napari's main thread: a matplotlib draw takes 0.1-0.3 s (more while
training shares the CPU), which would freeze napari's event loop at every epoch. A worker
thread draws the figure with Agg into an image; the widget only paints that image. Axes
limits are fixed for a run (epochs known in advance, accuracy 0-1, loss from 0 to a rounded
maximum), so most epochs only redraw the lines over a saved background (blitting). With
each frame the drawing thread sends where the axes lay and their limits, which map the mouse
to data for the tooltip.
"""

import logging
import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from qtpy.QtCore import QObject, QPointF, QSize, Qt, Signal
from qtpy.QtGui import QImage, QPainter
from qtpy.QtWidgets import QSizePolicy, QToolTip, QWidget

from napari_convnet._widgets.plot_style import (
    AxesFrame,
    PlotColors,
    epoch_tooltip,
    style_axes,
    theme_colors,
)
from napari_convnet.atomic import writing

_METRICS = (("loss", "Loss"), ("accuracy", "Accuracy"))
_DPI = 100
_EMPTY_EPOCHS = 10  # the epoch axis before a run says how many it will have
_CAPTION_PX, _LEGEND_ROW_PX = 15, 15  # the caption's and each legend row's height
_LEGEND_COLUMN_PX = 120
_log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries frames from the drawing thread. Parentless, so it outlives the widget: Qt
    drops the queued connection when the widget is destroyed, and a late frame goes nowhere."""

    # (RGBA uint8 (H, W, 4) array, {metric: AxesFrame}), or None when drawing failed
    drawn = Signal(object)


class CurvesCanvas(QWidget):
    """Two axes (loss, accuracy) over epochs; one live history plus overlaid runs.

    ``live`` and ``overlays`` belong to the main thread; the figure belongs to the drawing
    thread (every use holds ``_figure_lock``). ``image`` is the last drawn frame (QImage),
    ``frames`` where its axes lay (``{metric: AxesFrame}``).

    Parameters
    ----------
    theme : str or PlotColors, optional
        A napari theme id or its colours; None: napari's theme setting. See
        :func:`~napari_convnet._widgets.plot_style.follow_theme` to follow a viewer.
    """

    def __init__(self, theme=None):
        super().__init__()
        # a layout fitted once per size and limits: "constrained" re-solves it on every draw
        self.figure = Figure(figsize=(4.5, 2.4), dpi=_DPI)
        FigureCanvasAgg(self.figure)
        self.axes = dict(zip((m for m, _ in _METRICS), self.figure.subplots(1, 2), strict=True))
        self.colors = theme if isinstance(theme, PlotColors) else theme_colors(theme)
        self.live = {}
        self.live_label = ""
        self.caption = ""  # one line above the axes ("epoch 3/10 · accuracy 91.0 %")
        self.epochs = None  # the live run's planned epochs: the x axis does not rescale
        self.overlays = []
        self.image = None
        self.frames = {}
        self.hover_text = ""  # the tooltip shown last ("" when none)
        self.draws = 0  # frames drawn, for tests
        self._lines = {}
        # drawn over the background at every frame; everything else only when it changes
        self._caption = self.figure.text(0.5, 0.99, "", ha="center", va="top", fontsize=8,
                                         animated=True)
        self._legend = None
        self._legend_key = None  # (entries, size) the legend was made for
        self._background = None
        self._frame_key = None  # (limits, size, ratio, colours, legend) of the background
        for metric, title in _METRICS:
            ax = self.axes[metric]
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        self.setMinimumHeight(220)
        self.setMouseTracking(True)
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

    def set_theme(self, colors):
        """Draw with ``colors`` (:class:`PlotColors`, or a napari theme id) from now on."""
        self.colors = colors if isinstance(colors, PlotColors) else theme_colors(colors)
        self.redraw()

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
        """Draw the live history and the overlays in the drawing thread.

        Requests made while a frame is being drawn are coalesced into one more frame.
        """
        if self._busy:
            self._dirty = True
            return
        ratio = self.devicePixelRatioF()
        size = (max(self.width(), 100), max(self.height(), 100))
        self._drawer.submit(self._draw_in_thread, self._relay, self._wanted(), self._entries(),
                            self.caption, self.epochs, self.colors, size, ratio)
        self._busy = True  # only once a frame is on its way: ``_show`` clears it

    def _wanted(self):
        """Every line to show: (metric, colour, style, marker, width, alpha, gid) → values."""
        c = self.colors
        runs = [(history, c.overlays[i % len(c.overlays)], c.overlays[i % len(c.overlays)],
                 None, 1.0, 0.8, f"overlay {i}") for i, (_, history) in enumerate(self.overlays)]
        runs.append((self.live, c.train, c.validation, "o", 1.6, 1.0, "live"))
        wanted = {}
        for metric, _ in _METRICS:
            for history, train, val, marker, width, alpha, gid in runs:
                for key, colour, style, split in ((metric, train, "-", "train"),
                                                  (f"val_{metric}", val, "--", "validation")):
                    values = (history or {}).get(key) or []
                    if values:
                        wanted[(metric, colour, style, marker, width, alpha,
                                f"{gid} {split}")] = list(values)
        return wanted

    def _entries(self):
        """The legend: ``(label, colour, style)``: train, validation, then each overlay."""
        c = self.colors
        entries = [("train", c.train, "-"), ("validation", c.validation, "--")]
        for i, (label, _) in enumerate(self.overlays):
            short = label if len(label) <= 24 else label[:23] + "…"
            entries.append((short, c.overlays[i % len(c.overlays)], "-"))
        return tuple(entries)

    def _set_lines(self, wanted, entries, caption, size):
        """Update lines, legend and caption (drawing thread); True when any was rebuilt."""
        self._caption.set_text(caption)
        if set(wanted) == set(self._lines) and self._legend_key == (entries, size):
            for key, values in wanted.items():
                self._lines[key].set_data(range(1, len(values) + 1), values)
            return False
        for line in self._lines.values():
            line.remove()
        self._lines = {}
        for key, values in wanted.items():
            metric, colour, style, marker, width, alpha, gid = key
            (self._lines[key],) = self.axes[metric].plot(
                range(1, len(values) + 1), values, style, color=colour, marker=marker,
                markersize=3, linewidth=width, alpha=alpha, animated=True, gid=gid)
        if self._legend is not None:
            self._legend.remove()
        handles = [Line2D([], [], color=colour, linestyle=style, linewidth=1.4)
                   for _, colour, style in entries]
        columns = max(1, min(len(entries), size[0] // _LEGEND_COLUMN_PX))
        self._legend = self.figure.legend(
            handles, [label for label, _, _ in entries], loc="upper center", ncols=columns,
            bbox_to_anchor=(0.5, 1 - _CAPTION_PX / size[1]), frameon=False, fontsize=7,
            handlelength=2.2, columnspacing=1.2, borderaxespad=0, borderpad=0.1)
        self._legend_key = (entries, size)
        return True

    def _style(self, colors):
        """Colour the figure, axes, caption and legend (drawing thread)."""
        self.figure.set_facecolor(colors.background)
        self._caption.set_color(colors.text)
        for ax in self.axes.values():
            style_axes(ax, colors)
            ax.grid(True, color=colors.grid, linewidth=0.5, alpha=0.5)
        for text in self._legend.get_texts():
            text.set_color(colors.text)

    def _fit(self, size, rows):
        """Fit the axes with their tick labels and titles below the caption and legend."""
        top = 1 - (_CAPTION_PX + rows * _LEGEND_ROW_PX + 2) / size[1]
        with warnings.catch_warnings():  # a figure too small to fit keeps its last layout
            warnings.simplefilter("ignore", UserWarning)
            self.figure.tight_layout(pad=0.4, w_pad=1.2, rect=(0, 0, 1, top))

    @staticmethod
    def _limits(wanted, epochs):
        """Axes limits: x over all planned epochs, accuracy 0-1, loss 0 to a rounded maximum."""
        longest = max((len(v) for v in wanted.values()), default=0)
        x = (0.5, (max(longest, epochs or 0) or _EMPTY_EPOCHS) + 0.5)
        losses = [v for key, values in wanted.items() if key[0] == "loss" for v in values
                  if math.isfinite(v)]
        loss = (0.0, 1.0)
        if losses:
            low, high = min(losses + [0.0]), max(losses + [1e-3])
            step = 10 ** math.floor(math.log10(high)) / 2  # a new maximum rarely changes it
            loss = (low, math.ceil(high * 1.05 / step) * step)
        return {"loss": (x, loss), "accuracy": (x, (0.0, 1.02))}

    def _prepare(self, wanted, entries, caption, epochs, colors, size, ratio):
        """Lines, limits, style and layout for a frame (drawing thread, under the lock).

        True when the background must be drawn again.
        """
        rebuilt = self._set_lines(wanted, entries, caption, size)
        limits = self._limits(wanted, epochs)
        key = (limits, size, ratio, colors, entries)
        if not (rebuilt or key != self._frame_key or self._background is None):
            return False
        for metric, (xlim, ylim) in limits.items():
            self.axes[metric].set_xlim(*xlim)
            self.axes[metric].set_ylim(*ylim)
        self._style(colors)
        self.figure.set_dpi(_DPI * ratio)
        self.figure.set_size_inches(size[0] / _DPI, size[1] / _DPI)
        columns = max(1, min(len(entries), size[0] // _LEGEND_COLUMN_PX))
        self._fit(size, math.ceil(len(entries) / columns))
        self._frame_key = key
        return True

    def _draw_in_thread(self, relay, wanted, entries, caption, epochs, colors, size, ratio):
        payload = None
        try:
            with self._figure_lock:
                canvas = self.figure.canvas
                if self._prepare(wanted, entries, caption, epochs, colors, size, ratio):
                    canvas.draw()  # axes, ticks, legend: all but the animated artists
                    self._background = canvas.copy_from_bbox(self.figure.bbox)
                else:
                    canvas.restore_region(self._background)
                for line in self._lines.values():
                    line.axes.draw_artist(line)
                self.figure.draw_artist(self._caption)
                frames = {metric: AxesFrame.of(ax) for metric, ax in self.axes.items()}
                payload = (np.array(canvas.buffer_rgba()), frames)
        except Exception:  # noqa: BLE001 - a failed frame must not stop later ones
            _log.exception("Drawing the training curves failed")
        relay.drawn.emit(payload)

    def _show(self, payload):
        self._busy = False
        if payload is not None:
            frame, self.frames = payload
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

    def widget_point(self, metric, epoch, value):
        """Where data point ``(epoch, value)`` of axes ``metric`` is on the widget (QPointF)."""
        u, v = self.frames[metric].to_fraction(epoch, value)
        return QPointF(u * self.width(), (1 - v) * self.height())

    def text_at(self, x, y):
        """The tooltip at widget position ``(x, y)``: the nearest epoch's values, or ""."""
        u, v = x / max(self.width(), 1), 1 - y / max(self.height(), 1)
        for frame in self.frames.values():
            point = frame.to_data(u, v)
            if point is not None:
                runs = [(self.live_label, self.live), *self.overlays]
                return epoch_tooltip(runs, max(1, round(point[0])))
        return ""

    def mouseMoveEvent(self, event):
        point = event.position() if hasattr(event, "position") else event.localPos()
        self.hover_text = self.text_at(point.x(), point.y())
        if self.hover_text:
            QToolTip.showText(self.mapToGlobal(point.toPoint()), self.hover_text, self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event):
        self.hover_text = ""
        QToolTip.hideText()
        super().leaveEvent(event)

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
        args = (self._wanted(), self._entries(), self.caption, self.epochs, self.colors,
                (max(self.width(), 100), max(self.height(), 100)), 1.0)

        def save():
            with self._figure_lock:
                self._prepare(*args)
                animated = [*self._lines.values(), self._caption]
                for artist in animated:
                    artist.set_animated(False)
                try:
                    with writing(path, "the PNG image") as tmp:
                        self.figure.savefig(tmp, dpi=150, format="png",
                                            facecolor=self.figure.get_facecolor())
                finally:
                    for artist in animated:
                        artist.set_animated(True)
                    self._background = None  # savefig changed the renderer

        self._drawer.submit(save).result()
