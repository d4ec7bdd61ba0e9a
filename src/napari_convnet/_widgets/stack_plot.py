"""The Classify dock's plot: each class's probability along a stack, the current slice marked,
in napari's theme."""

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from napari_convnet._widgets.plot_style import style_axes, theme_colors


class StackPlot(FigureCanvasQTAgg):
    """Class probability along a stack (one line per class), with the current slice marked."""

    def __init__(self, theme=None):
        self.figure = Figure(figsize=(4.5, 1.8), layout="constrained")
        super().__init__(self.figure)
        self.ax = self.figure.subplots()
        self._marker = None
        self._shown = None  # (probabilities, class_names) drawn, redrawn on a theme change
        self.colors = theme_colors(theme)
        self.setMinimumHeight(160)
        self.set_theme(self.colors)

    def set_theme(self, colors):
        """Draw in the :class:`PlotColors` ``colors`` (napari's theme, see follow_theme)."""
        self.colors = colors
        self.figure.set_facecolor(colors.background)
        style_axes(self.ax, colors)
        if self._shown is not None:
            self.show_stack(*self._shown)
        else:
            self.draw_idle()

    def show_stack(self, probabilities, class_names):
        """Plot ``probabilities`` float (N, K) against the slice index."""
        self._shown = (probabilities, class_names)
        colors = self.colors
        self.ax.clear()
        series = (colors.train, colors.validation, *colors.overlays)
        for k, name in enumerate(class_names):
            self.ax.plot(probabilities[:, k], label=name, linewidth=1,
                         color=series[k % len(series)])
        self.ax.set_xlabel("slice", fontsize=8)
        self.ax.set_ylabel("probability", fontsize=8)
        self.ax.set_ylim(0, 1.02)
        style_axes(self.ax, colors)
        self.ax.legend(fontsize=6, loc="best", facecolor=colors.axes, edgecolor=colors.ticks,
                       labelcolor=colors.text)
        self._marker = self.ax.axvline(0, color=colors.text, linewidth=0.8, alpha=0.6)
        self.draw_idle()

    def mark(self, index):
        """Move the current-slice marker to ``index``."""
        if self._marker is not None:
            self._marker.set_xdata([index, index])
            self.draw_idle()
