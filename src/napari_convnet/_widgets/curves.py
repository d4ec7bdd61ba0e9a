"""Live training curves (loss and accuracy, training vs validation) drawn with matplotlib.

The course's way of seeing overfitting: the curves of one run update every epoch; runs
selected in the runs table are overlaid dashed for comparison.
"""

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QTimer

_METRICS = (("loss", "Loss"), ("accuracy", "Accuracy"))


class CurvesCanvas(FigureCanvasQTAgg):
    """Two axes (loss, accuracy) over epochs; one live history plus overlaid runs."""

    def __init__(self):
        # a fixed layout: "constrained" re-solves the layout on every draw, which costs
        # napari's event loop far more than drawing a few lines
        self.figure = Figure(figsize=(4.5, 2.4))
        self.figure.subplots_adjust(left=0.09, right=0.98, bottom=0.2, top=0.88, wspace=0.25)
        super().__init__(self.figure)
        self.axes = dict(zip((m for m, _ in _METRICS), self.figure.subplots(1, 2), strict=True))
        self.live = {}
        self.live_label = ""
        self.overlays = []
        self._lines = {}
        for metric, title in _METRICS:
            ax = self.axes[metric]
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
        self.setMinimumHeight(220)
        # Redraws are coalesced on a timer: epoch events can arrive while Qt is inside a
        # matplotlib draw (re-entrant ``Axes.clear`` recurses without end).
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._draw_now)
        self._draw_now()

    def start_live(self, label, history=None):
        """Start a new live history (optionally continuing ``history``, a Keras history dict)."""
        self.live_label = label
        self.live = {k: list(v) for k, v in (history or {}).items()}
        self.redraw()

    def add_epoch(self, logs):
        """Append one epoch's logs (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``)."""
        for key, value in logs.items():
            if value is not None:
                self.live.setdefault(key, []).append(float(value))
        self.redraw()

    def set_overlays(self, runs):
        """Overlay these runs: list of ``(label, history dict)``."""
        self.overlays = list(runs)
        self.redraw()

    def redraw(self):
        """Schedule a redraw of the live history (solid) and overlays (dashed)."""
        self._timer.start()

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
                    values = history.get(key) or []
                    if values:
                        wanted[(metric, label, colour, style, alpha, suffix)] = values
        return wanted

    def _draw_now(self):
        # Lines are updated in place; axes are only rebuilt when the set of lines changes.
        # Clearing and re-plotting every epoch cost napari's event loop 150-250 ms a draw.
        wanted = self._wanted()
        if set(wanted) != set(self._lines):
            for line in self._lines.values():
                line.remove()
            self._lines = {}
            for (metric, label, colour, style, alpha, suffix), values in wanted.items():
                (self._lines[(metric, label, colour, style, alpha, suffix)],) = \
                    self.axes[metric].plot(range(1, len(values) + 1), values, style,
                                           color=colour, alpha=alpha, marker=".",
                                           label=f"{label} {suffix}".strip())
            for metric, _ in _METRICS:
                ax = self.axes[metric]
                legend = ax.get_legend()
                if legend is not None:
                    legend.remove()
                if ax.lines:
                    ax.legend(fontsize=6, loc="best")
        else:
            for key, values in wanted.items():
                self._lines[key].set_data(range(1, len(values) + 1), values)
        for ax in self.axes.values():
            ax.relim()
            ax.autoscale_view()
        self.draw_idle()

    def export_png(self, path):
        """Save the curves as a PNG file at ``path``."""
        self._timer.stop()
        self._draw_now()
        self.figure.savefig(path, dpi=150)


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
