"""Small layout helpers shared by the docks."""

from magicgui.widgets import Container


class ScrollingDock(Container):
    """A vertical Container that scrolls when napari's window is shorter than its content.

    napari docks a magicgui widget's ``native`` (the inner widget of a scrollable Container,
    without its scroll area), so a tall dock would force napari's window taller than the
    screen. Here ``native`` is the scroll area itself.
    """

    def __init__(self, **kwargs):
        super().__init__(scrollable=True, **kwargs)

    @property
    def native(self):
        return self.root_native_widget


def qt_section(qwidget):
    """A label-less magicgui Container holding a plain Qt widget (a plot, a table)."""
    section = Container(labels=False)
    section.native.layout().addWidget(qwidget)
    return section
