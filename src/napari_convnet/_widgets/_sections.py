"""Small layout helpers shared by the docks."""

from magicgui.widgets import Container
from qtpy.QtCore import QEvent, QObject


class _FitWidth(QObject):
    """Keep a scroll area at least as wide as its content: scroll vertically, never clip."""

    def __init__(self, scroll):
        super().__init__(scroll)
        self._scroll = scroll
        scroll.widget().installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Show):
            bar = self._scroll.verticalScrollBar().sizeHint().width()
            frame = 2 * self._scroll.frameWidth()
            self._scroll.setMinimumWidth(obj.minimumSizeHint().width() + bar + frame)
        return False


class ScrollingDock(Container):
    """A vertical Container that scrolls when napari's window is shorter than its content.

    napari docks a magicgui widget's ``native`` (the inner widget of a scrollable Container,
    without its scroll area), so a tall dock would force napari's window taller than the
    screen. Here ``native`` is the scroll area itself, kept as wide as the content.
    """

    def __init__(self, **kwargs):
        super().__init__(scrollable=True, **kwargs)
        self._fit_width = _FitWidth(self.root_native_widget)
        # the scroll area stretches the content to its height: keep the widgets at the top
        # (magicgui inserts them before this stretch)
        self.root_native_widget.widget().layout().addStretch()

    @property
    def native(self):
        return self.root_native_widget


def qt_section(qwidget):
    """A label-less magicgui Container holding a plain Qt widget (a plot, a table)."""
    section = Container(labels=False)
    section.native.layout().addWidget(qwidget)
    return section
