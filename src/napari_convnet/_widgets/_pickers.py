"""Layer pickers that follow the user: the layer a dock acts on is the one they look at.

A picker (a magicgui ``ComboBox`` of layers) offers the viewer's input images only, never
this plugin's own result layers (kernels, feature maps, Grad-CAM, class probabilities). It
starts on the selected layer when that is an input image, else on the newest one; when the
user selects another input image in the layer list, or opens one, the picker moves to it.
Selecting any other layer (napari selects each layer it adds, the dock's results too) leaves
the picker where it is.
"""

from napari.layers import Image

from napari_convnet._layers import OUTPUT_KEY

#: Name prefixes of this plugin's result layers (for layers made before ``OUTPUT_KEY``
#: existed, and the Classify dock's results, which carry no such key).
OUTPUT_PREFIXES = ("kernels:", "maps:", "Grad-CAM", "probabilities:", "classes:",
                   "object classes:")


def is_output(layer):
    """True for a layer this plugin made to show a result (not an input to act on)."""
    return OUTPUT_KEY in layer.metadata or layer.name.startswith(OUTPUT_PREFIXES)


def input_layers(viewer, layer_type=Image):
    """The viewer's layers of ``layer_type`` that can be inputs, in layer-list order (newest
    last): this plugin's results left out."""
    if viewer is None:
        return []
    return [layer for layer in viewer.layers
            if isinstance(layer, layer_type) and not is_output(layer)]


def input_images(viewer):
    """The viewer's Image layers that can be inputs (see :func:`input_layers`)."""
    return input_layers(viewer, Image)


def preferred(viewer, candidates, current=None):
    """The layer a picker should show: the selected candidate, else ``current``, else newest.

    Parameters
    ----------
    viewer : napari.Viewer
    candidates : list of napari.layers.Layer
        Compared with ``==``: a plugin's viewer may hand out proxies of its layers.
    current : napari.layers.Layer, optional
        The picker's value before the change; kept while it is still a candidate and the
        selection is not.
    """
    active = viewer.layers.selection.active
    if active is not None and any(active == c for c in candidates):
        return active
    if current is not None and any(current == c for c in candidates):
        return current
    return candidates[-1] if candidates else None


def follow_selection(viewer, combo, candidates=input_images):
    """Keep ``combo``'s choices and value on the user's layer (see the module docstring).

    Parameters
    ----------
    viewer : napari.Viewer
    combo : magicgui.widgets.ComboBox
        Its ``choices`` callable should return ``candidates(viewer)``.
    candidates : callable
        ``candidates(viewer)`` -> list of layers the picker may offer.

    Returns
    -------
    callable
        Disconnects the picker from the viewer's events (call it when the dock closes).
    """

    def refresh(event=None, keep=True):
        current = combo.value if keep else None  # a new picker sits on its first choice
        combo.reset_choices()
        choice = preferred(viewer, candidates(viewer), current)
        if choice is not None and combo.value != choice:
            combo.value = choice

    events = (viewer.layers.events.inserted, viewer.layers.events.removed,
              viewer.layers.selection.events.active)
    for event in events:
        event.connect(refresh)
    refresh(keep=False)

    def disconnect():
        for event in events:
            event.disconnect(refresh)

    return disconnect
