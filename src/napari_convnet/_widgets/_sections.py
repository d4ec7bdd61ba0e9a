"""Small layout helpers shared by the docks."""

from magicgui.widgets import Container


def qt_section(qwidget):
    """A label-less magicgui Container holding a plain Qt widget (a plot, a table)."""
    section = Container(labels=False)
    section.native.layout().addWidget(qwidget)
    return section
