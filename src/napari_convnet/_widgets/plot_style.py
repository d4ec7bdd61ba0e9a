"""Plot colours from napari's theme, and the mapping of mouse positions to data on a plot.

The plots of the docks (training curves, confusion matrix) follow the viewer's theme: the
figure takes the dock's background, text and axes take the theme's text colours, so a plot
reads as part of napari in the dark and the light theme. :func:`follow_theme` sets a
canvas's colours now and again whenever ``viewer.theme`` changes.
"""

from dataclasses import dataclass

from matplotlib.colors import LinearSegmentedColormap, to_rgb

_FALLBACK_THEME = "dark"
# series colours readable on each theme type's background: train and validation are a
# blue/orange pair (told apart by colour-blind readers too), overlays take the rest
_SERIES = {
    "dark": ("#5aa9ff", "#ffa64d",
             ("#6fd08c", "#d38cff", "#ff7b8a", "#e6d36a", "#57d6d6", "#c9a27e")),
    "light": ("#1f5fbf", "#d9650b",
              ("#2a9d4b", "#8e44c4", "#c8324a", "#8c7c00", "#138a8a", "#8a5a2b")),
}


@dataclass(frozen=True)
class PlotColors:
    """The colours of one theme, as matplotlib colour strings (``"#rrggbb"``).

    Attributes
    ----------
    theme : str
        The napari theme id they come from (``"dark"``, ``"light"``, ...).
    background : str
        The figure's background: the theme's ``background`` (the dock's own colour).
    axes : str
        Inside the axes: the theme's ``foreground`` (dark) or ``canvas`` (light).
    text : str
        Titles, labels, tick labels, captions, legends: the theme's ``text``.
    ticks : str
        Spines and tick marks: the theme's ``icon`` colour.
    grid : str
        Grid lines: the theme's ``secondary``.
    train, validation : str
        The live run's training and validation curves.
    overlays : tuple of str
        One colour per overlaid run, in turn.
    """

    theme: str
    background: str
    axes: str
    text: str
    ticks: str
    grid: str
    train: str
    validation: str
    overlays: tuple

    def cmap(self):
        """A colormap from the axes colour (0) to the train colour (the maximum)."""
        return LinearSegmentedColormap.from_list(f"convnet-{self.theme}",
                                                 [self.axes, self.train])

    def text_on(self, rgb):
        """Dark or light text, whichever reads on the colour ``rgb`` (floats 0-1)."""
        red, green, blue = to_rgb(rgb)
        return "#1e1e21" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.55 else "#f0f1f2"


def current_theme(viewer=None):
    """The theme id of ``viewer``, or of napari's settings when there is no viewer."""
    if viewer is not None:
        return viewer.theme
    from napari.settings import get_settings

    return get_settings().appearance.theme


def theme_colors(theme=None):
    """The :class:`PlotColors` of napari theme ``theme`` (an id; None: napari's setting).

    ``"system"`` resolves to the system's dark or light theme; an unknown id falls back to
    the dark theme.
    """
    from napari.utils.theme import get_theme

    try:
        napari_theme = get_theme(theme or current_theme())
    except ValueError:
        napari_theme = get_theme(_FALLBACK_THEME)
    kind = "light" if napari_theme.type == "light" else "dark"
    train, validation, overlays = _SERIES[kind]
    inside = napari_theme.canvas if kind == "light" else napari_theme.foreground
    return PlotColors(theme=napari_theme.id, background=napari_theme.background.as_hex(),
                      axes=inside.as_hex(), text=napari_theme.text.as_hex(),
                      ticks=napari_theme.icon.as_hex(), grid=napari_theme.secondary.as_hex(),
                      train=train, validation=validation, overlays=overlays)


def follow_theme(canvas, viewer=None):
    """Give ``canvas`` the viewer's theme now and whenever it changes; return ``canvas``.

    ``canvas`` has a ``set_theme(colors)`` method taking :class:`PlotColors`. The
    connection to ``viewer.events.theme`` ends when the canvas is destroyed.
    """
    canvas.set_theme(theme_colors(current_theme(viewer)))
    if viewer is None:
        return canvas

    def changed(event):
        canvas.set_theme(theme_colors(event.value))

    emitter = viewer.events.theme
    emitter.connect(changed)
    canvas.destroyed.connect(lambda *_: emitter.disconnect(changed))
    return canvas


def style_axes(ax, colors, fontsize=7):
    """Colour ``ax``'s face, spines, ticks, labels and title with ``colors``."""
    ax.set_facecolor(colors.axes)
    for spine in ax.spines.values():
        spine.set_color(colors.ticks)
    ax.tick_params(colors=colors.ticks, labelcolor=colors.text, labelsize=fontsize)
    ax.xaxis.label.set_color(colors.text)
    ax.yaxis.label.set_color(colors.text)
    ax.title.set_color(colors.text)


@dataclass(frozen=True)
class AxesFrame:
    """Where an axes lay in a drawn frame, to map mouse positions to data.

    Attributes
    ----------
    box : tuple of float
        ``(x0, y0, width, height)`` in figure fractions (origin bottom left).
    xlim, ylim : tuple of float
        The axes' data limits when the frame was drawn.
    """

    box: tuple
    xlim: tuple
    ylim: tuple

    @classmethod
    def of(cls, ax):
        """The frame of matplotlib axes ``ax`` as it is now (call it where ``ax`` is drawn)."""
        return cls(tuple(ax.get_position().bounds), tuple(ax.get_xlim()), tuple(ax.get_ylim()))

    def to_data(self, u, v):
        """Data coordinates ``(x, y)`` at figure fractions ``(u, v)``, or None outside."""
        x0, y0, width, height = self.box
        fx, fy = (u - x0) / width, (v - y0) / height
        if not (0 <= fx <= 1 and 0 <= fy <= 1):
            return None
        return (self.xlim[0] + fx * (self.xlim[1] - self.xlim[0]),
                self.ylim[0] + fy * (self.ylim[1] - self.ylim[0]))

    def to_fraction(self, x, y):
        """Figure fractions ``(u, v)`` of data coordinates ``(x, y)``."""
        x0, y0, width, height = self.box
        return (x0 + width * (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]),
                y0 + height * (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0]))


def _value(history, key, epoch, percent):
    values = (history or {}).get(key) or []
    if epoch > len(values) or values[epoch - 1] is None:
        return None
    value = float(values[epoch - 1])
    return f"{100 * value:.1f} %" if percent else f"{value:.4f}"


def epoch_tooltip(runs, epoch):
    """The tooltip text at ``epoch`` (1-based) for ``runs``: list of ``(label, history)``.

    One line per run and metric with its training and validation values; "" when no run
    has that epoch.
    """
    lines = []
    for label, history in runs:
        for metric, percent in (("loss", False), ("accuracy", True)):
            parts = [f"{split} {metric} {text}"
                     for split, key in (("train", metric), ("validation", f"val_{metric}"))
                     if (text := _value(history, key, epoch, percent)) is not None]
            if parts:
                lines.append((f"{label}: " if label else "") + " · ".join(parts))
    return f"epoch {epoch}\n" + "\n".join(lines) if lines else ""
