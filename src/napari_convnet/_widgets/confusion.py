"""A clickable confusion matrix drawn with matplotlib (counts or row-normalised)."""

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import Signal

from napari_convnet.atomic import writing


class ConfusionCanvas(FigureCanvasQTAgg):
    """Confusion matrix (true classes in rows); emits ``cell_clicked(true, predicted)``."""

    cell_clicked = Signal(int, int)

    def __init__(self):
        self.figure = Figure(figsize=(4, 3.4), layout="constrained")
        super().__init__(self.figure)
        self.ax = self.figure.subplots()
        self.matrix = None
        self.class_names = []
        self.normalised = False
        self.setMinimumHeight(260)
        self.mpl_connect("button_press_event", self._clicked)

    def show_matrix(self, matrix, class_names, normalised=False):
        """Draw ``matrix`` (int array (K, K)) with ``class_names`` on both axes."""
        self.matrix = np.asarray(matrix)
        self.class_names = list(class_names)
        self.normalised = normalised
        self.redraw()

    def redraw(self):
        """Draw the matrix as counts, or as fractions of each true class."""
        self.ax.clear()
        if self.matrix is None:
            self.draw_idle()
            return
        counts = self.matrix
        rows = counts.sum(axis=1, keepdims=True)
        shown = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0) \
            if self.normalised else counts
        self.ax.imshow(shown, cmap="Blues", vmin=0)
        k = len(self.class_names)
        self.ax.set_xticks(range(k), self.class_names, rotation=45, ha="right", fontsize=7)
        self.ax.set_yticks(range(k), self.class_names, fontsize=7)
        self.ax.set_xlabel("predicted", fontsize=8)
        self.ax.set_ylabel("true", fontsize=8)
        top = shown.max() if shown.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if self.normalised else str(int(shown[i, j]))
                colour = "white" if top and shown[i, j] > top / 2 else "black"
                self.ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
        self.ax.set_title("click a cell to open its images", fontsize=8)
        self.draw_idle()

    def cell_at(self, x, y):
        """The ``(true, predicted)`` cell at data coordinates (x, y), or None."""
        if self.matrix is None or x is None or y is None:
            return None
        i, j = int(round(y)), int(round(x))
        k = len(self.class_names)
        return (i, j) if 0 <= i < k and 0 <= j < k else None

    def _clicked(self, event):
        if event.inaxes is not self.ax:
            return
        cell = self.cell_at(event.xdata, event.ydata)
        if cell is not None:
            self.cell_clicked.emit(*cell)

    def export_png(self, path):
        """Save the matrix as a PNG file, atomically (raises ``ConvnetError`` when it cannot)."""
        with writing(path, "the PNG image") as tmp:
            self.figure.savefig(tmp, dpi=150, format="png")
