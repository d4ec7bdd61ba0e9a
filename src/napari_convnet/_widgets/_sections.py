"""Small layout helpers shared by the docks."""

import weakref

from magicgui.widgets import Container, PushButton
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
    """A dock whose content scrolls when napari's window is shorter than it.

    napari docks a magicgui widget's ``native``; a scrollable Container's ``native`` is the
    inner widget, without its scroll area, so a tall dock would force napari's window taller
    than the screen. Here the dock is a plain Container whose Qt layout holds the scroll area
    of :attr:`body`, a scrollable Container (kept as wide as its content): docks put their
    widgets in ``self.body``, and :meth:`reset_choices` reaches them.
    """

    def __init__(self, **kwargs):
        super().__init__(labels=False, **kwargs)
        self.body = Container(scrollable=True)
        scroll = self.body.root_native_widget
        self.native.layout().setContentsMargins(0, 0, 0, 0)
        self.native.layout().addWidget(scroll)
        self._fit_width = _FitWidth(scroll)
        # the scroll area stretches the content to its height: keep the widgets at the top
        # (magicgui inserts them before this stretch)
        self.body.native.layout().addStretch()

    def reset_choices(self, *_):
        """Refresh the choices of the body's widgets too (napari calls this on layer changes)."""
        super().reset_choices()
        self.body.reset_choices()


class _OnRemoved(QObject):
    """Call ``fire`` when ``widget`` leaves the dock it was put in (see :func:`when_removed`)."""

    def __init__(self, widget, fire):
        super().__init__(widget)
        self._fire = fire
        self._docked = widget.parent() is not None
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.ParentChange:
            if obj.parent() is not None:
                self._docked = True
            elif self._docked:  # napari's remove_dock_widget un-parents the dock's content
                self._fire()
        return False


def when_removed(widget, callback):
    """Run ``callback()`` when the dock holding ``widget`` (a QWidget) is closed and removed.

    ``callback`` is a bound method, held weakly.

    napari removes a dock by taking its content out of it (``setParent(None)``); the content
    may live on, so connections to the viewer must be cut then, not when Python collects it.
    """
    # weakly: the Qt connection below must not keep the dock alive
    pending = [weakref.WeakMethod(callback)]

    def fire(*_):
        method = pending.pop()() if pending else None
        if method is not None:
            method()

    # a plain function, not a method of the filter: Qt deletes the filter (a child) before
    # it emits ``destroyed``
    widget.destroyed.connect(fire)
    return _OnRemoved(widget, fire)


def explain(dock, table):
    """Give each widget attribute of ``dock`` named in ``table`` its tooltip (the docks'
    tooltips live in :mod:`napari_convnet.help_text`)."""
    for name, text in table.items():
        getattr(dock, name).tooltip = text


def qt_section(qwidget):
    """A label-less magicgui Container holding a plain Qt widget (a plot, a table)."""
    section = Container(labels=False)
    section.native.layout().addWidget(qwidget)
    return section


class Folded(Container):
    """Rarely changed options under a header button that shows or hides them (folded first).

    Parameters
    ----------
    title : str
        What the options are about ("Preparation options").
    widgets : list of magicgui widgets
        Still reachable as attributes of the dock that made them; only hidden.
    """

    def __init__(self, title, widgets, unfolded=False):
        self.title = title
        self.toggle = PushButton()
        self.content = Container(widgets=widgets)
        self.content.native.layout().setContentsMargins(0, 0, 0, 0)
        super().__init__(widgets=[self.toggle, self.content], labels=False)
        self.native.layout().setContentsMargins(0, 0, 0, 0)
        self.toggle.changed.connect(lambda *_: self.unfold(not self.unfolded))
        self.unfold(unfolded)

    @property
    def unfolded(self):
        """True while the options are shown."""
        return not self.content.native.isHidden()

    def unfold(self, show=True):
        """Show (``show``) or hide the options."""
        self.content.visible = show
        self.toggle.text = f"{'▾' if show else '▸'} {self.title}"


# viewer -> {dock kind: {widget name: value}}; weak, so a closed viewer takes its settings along
_SETTINGS = weakref.WeakKeyDictionary()


def remember(dock, viewer, names, kind=None):
    """Keep the values of ``dock``'s widgets ``names`` for the next dock of its kind opened in
    ``viewer``, and give ``dock`` the values the last one had (a closed and reopened dock keeps
    the user's settings). Does nothing without a viewer."""
    if viewer is None:
        return
    kept = _SETTINGS.setdefault(viewer, {}).setdefault(kind or type(dock).__name__, {})
    for name in names:
        widget = getattr(dock, name)
        if name in kept:
            try:
                widget.value = kept[name]
            except (TypeError, ValueError):  # a choice that no longer exists
                kept.pop(name)
        widget.changed.connect(lambda value, name=name: kept.__setitem__(name, value))
