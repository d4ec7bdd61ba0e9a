"""A clickable confusion matrix drawn with matplotlib (counts or row-normalised).

Its colours follow napari's theme (:func:`~napari_convnet._widgets.plot_style.follow_theme`
calls :meth:`ConfusionCanvas.set_theme`); hovering a cell shows its classes and count.
"""

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QToolTip

from napari_convnet._widgets.plot_style import PlotColors, style_axes, theme_colors
from napari_convnet.atomic import writing


class ConfusionCanvas(FigureCanvasQTAgg):
    """Confusion matrix (true classes in rows); emits ``cell_clicked(true, predicted)``.

    Parameters
    ----------
    theme : str or PlotColors, optional
        A napari theme id or its colours; None: napari's theme setting.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, theme=None):
        self.figure = Figure(figsize=(4, 3.4), layout="constrained")
        super().__init__(self.figure)
        self.ax = self.figure.subplots()
        self.colors = theme if isinstance(theme, PlotColors) else theme_colors(theme)
        self.matrix = None
        self.class_names = []
        self.normalised = False
        self.hover_text = ""  # the tooltip shown last ("" when none)
        self.setMinimumHeight(260)
        self.mpl_connect("button_press_event", self._clicked)
        self.mpl_connect("motion_notify_event", self._hovered)
        self.mpl_connect("figure_leave_event", self._left)
        self.redraw()

    def set_theme(self, colors):
        """Draw with ``colors`` (:class:`PlotColors`, or a napari theme id) from now on."""
        self.colors = colors if isinstance(colors, PlotColors) else theme_colors(colors)
        self.redraw()

    def show_matrix(self, matrix, class_names, normalised=False):
        """Draw ``matrix`` (int array (K, K)) with ``class_names`` on both axes."""
        self.matrix = np.asarray(matrix)
        self.class_names = list(class_names)
        self.normalised = normalised
        self.redraw()

    def redraw(self):
        """Draw the matrix as counts, or as fractions of each true class."""
        colors = self.colors
        self.ax.clear()
        self.figure.set_facecolor(colors.background)
        style_axes(self.ax, colors)
        if self.matrix is None:
            self.ax.set_axis_off()
            self.ax.text(0.5, 0.5, "Evaluate a model to see its confusion matrix",
                         ha="center", va="center", fontsize=8, color=colors.text,
                         transform=self.ax.transAxes)
            self.draw_idle()
            return
        self.ax.set_axis_on()
        shown = self._shown()
        cmap = colors.cmap()
        top = shown.max() if shown.size else 0
        self.ax.imshow(shown, cmap=cmap, vmin=0, vmax=top or 1)
        k = len(self.class_names)
        self.ax.set_xticks(range(k), self.class_names, rotation=45, ha="right", fontsize=7)
        self.ax.set_yticks(range(k), self.class_names, fontsize=7)
        self.ax.set_xlabel("predicted", fontsize=8)
        self.ax.set_ylabel("true", fontsize=8)
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if self.normalised else str(int(shown[i, j]))
                cell = cmap(shown[i, j] / top if top else 0.0)
                self.ax.text(j, i, text, ha="center", va="center", fontsize=7,
                             color=colors.text_on(cell[:3]))
        self.ax.set_title("click a cell to open its images", fontsize=8)
        self.draw_idle()

    def _shown(self):
        counts = self.matrix
        rows = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0) \
            if self.normalised else counts

    def cell_at(self, x, y):
        """The ``(true, predicted)`` cell at data coordinates (x, y), or None."""
        if self.matrix is None or x is None or y is None:
            return None
        i, j = int(round(y)), int(round(x))
        k = len(self.class_names)
        return (i, j) if 0 <= i < k and 0 <= j < k else None

    def cell_text(self, true, predicted):
        """The tooltip of cell ``(true, predicted)``: both classes, the count and its share."""
        count = int(self.matrix[true, predicted])
        row = int(self.matrix[true].sum())
        share = f" ({100 * count / row:.1f} % of true {self.class_names[true]})" if row else ""
        images = "image" if count == 1 else "images"
        return (f"true: {self.class_names[true]}\npredicted: {self.class_names[predicted]}\n"
                f"{count} {images}{share}")

    def _clicked(self, event):
        if event.inaxes is not self.ax:
            return
        cell = self.cell_at(event.xdata, event.ydata)
        if cell is not None:
            self.cell_clicked.emit(*cell)

    def _hovered(self, event):
        cell = self.cell_at(event.xdata, event.ydata) if event.inaxes is self.ax else None
        self.hover_text = "" if cell is None else self.cell_text(*cell)
        gui = event.guiEvent
        if not self.hover_text or gui is None:
            QToolTip.hideText()
            return
        point = gui.position() if hasattr(gui, "position") else gui.localPos()
        QToolTip.showText(self.mapToGlobal(point.toPoint()), self.hover_text, self)

    def _left(self, event):
        self.hover_text = ""
        QToolTip.hideText()

    def export_png(self, path):
        """Save the matrix as a PNG file, atomically (raises ``ConvnetError`` when it cannot)."""
        with writing(path, "the PNG image") as tmp:
            self.figure.savefig(tmp, dpi=150, format="png")
