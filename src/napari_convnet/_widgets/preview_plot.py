"""The import section's preview: an image before and after the stated preprocessing, side by
side with their value ranges, in napari's theme."""

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from napari_convnet._widgets.plot_style import theme_colors


def _shown(image):
    """(Y, X) or (Y, X, 3) float in 0..1 for imshow, and the (min, max) of ``image``."""
    image = np.asarray(image, np.float64)
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    if image.ndim == 3 and image.shape[-1] not in (3,):
        image = image.mean(axis=-1)
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = np.moveaxis(image, 0, -1)
    return (image - low) / (high - low if high > low else 1.0), (low, high)


class PreviewPlot(FigureCanvasQTAgg):
    """Two panels: the raw image (its value range) and the model input made from it."""

    def __init__(self, theme=None):
        self.figure = Figure(figsize=(4.5, 2.2), layout="constrained")
        super().__init__(self.figure)
        self.axes = self.figure.subplots(1, 2)
        self.colors = theme_colors(theme)
        self._pair = None
        self.setMinimumHeight(200)
        self.set_theme(self.colors)

    def set_theme(self, colors):
        """Draw in the :class:`PlotColors` ``colors`` (see follow_theme)."""
        self.colors = colors
        self.figure.set_facecolor(colors.background)
        if self._pair is not None:
            self.show_pair(*self._pair)
        else:
            self.draw_idle()

    def show_pair(self, raw, prepared, normalization):
        """Show ``raw`` (any 2D image) and ``prepared`` float32 (H, W, C) side by side."""
        self._pair = (raw, prepared, normalization)
        for ax, image, title in ((self.axes[0], raw, "image"),
                                 (self.axes[1], prepared, f"model input ({normalization})")):
            shown, (low, high) = _shown(image)
            ax.clear()
            ax.imshow(shown, cmap="gray", interpolation="nearest")
            ax.set_title(f"{title}\n{low:.3g} … {high:.3g}, {np.shape(image)[0]}x"
                         f"{np.shape(image)[1]}", fontsize=7, color=self.colors.text)
            ax.set_xticks([])
            ax.set_yticks([])
        self.draw_idle()
