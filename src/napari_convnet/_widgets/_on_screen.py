"""Which plane of a stack layer the viewer shows now: the image a review action acts on.

napari aligns a layer's axes with the viewer's *last* axes. Beside a 4-D layer (the Inspect
dock's kernels: filters × in_channels × kh × kw) a stack of images (N, H, W) has its image
axis on the viewer's axis 1, and ``viewer.dims.current_step[0]`` is another layer's slider.
Only public napari API is used: the viewer's world position, mapped into the layer's data
coordinates (its scale and translate included) and rounded, as napari does to pick the plane
it draws.
"""

import numpy as np


def image_axis(viewer, layer):
    """The viewer axis that scrolls the planes (axis 0) of ``layer``."""
    return viewer.dims.ndim - layer.ndim


def shown_plane(viewer, layer):
    """Index along axis 0 of ``layer`` that ``viewer`` shows now, or why there is none.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Layer or None
        A stack whose axis 0 is one image per plane (e.g. (N, H, W), (N, H, W, 3) RGB or
        (N, C, H, W)).

    Returns
    -------
    tuple
        ``(index, None)``, or ``(None, reason)`` with a sentence that says why no single
        plane of ``layer`` is on screen and what to do.
    """
    if layer is None or layer not in viewer.layers:
        return None, "No review stack is open: click a cell of the confusion matrix."
    if not layer.visible:
        return None, (f"The layer '{layer.name}' is hidden: show it (its eye in the layer "
                      "list) to choose an image.")
    axis = image_axis(viewer, layer)
    if axis in viewer.dims.displayed:
        return None, (f"The viewer shows the images of '{layer.name}' along a displayed axis "
                      "(3D view or transposed axes): go back to the 2D view with the images "
                      "on a slider.")
    if not viewer.grid.enabled:
        above = [other for other in list(viewer.layers)[viewer.layers.index(layer) + 1:]
                 if other.visible and other.opacity > 0]
        if above:
            return None, (f"'{above[-1].name}' is drawn over '{layer.name}': hide it, or drag "
                          f"'{layer.name}' to the top of the layer list.")
    index = int(np.round(layer.world_to_data(viewer.dims.point)[0]))
    count = layer.data.shape[0]
    if not 0 <= index < count:
        return None, (f"The slider is past the {count} image(s) of '{layer.name}': move it "
                      "back onto the stack.")
    return index, None


def show_plane(viewer, layer, index):
    """Move the viewer's slider of ``layer``'s axis 0 to plane ``index``."""
    position = np.zeros(layer.ndim)
    position[0] = index
    viewer.dims.set_point(image_axis(viewer, layer), float(layer.data_to_world(position)[0]))


def slider_index(viewer, layer, axes=1):
    """Indices along the first ``axes`` axes of ``layer`` where the viewer's sliders are.

    Unlike :func:`shown_plane`, the layer need not be visible nor on top: a dock where the
    user chose the layer by name acts on the plane its sliders point at.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Layer
    axes : int
        How many leading axes of ``layer`` to read (those not drawn on the canvas).

    Returns
    -------
    tuple
        ``(index, None)`` with a tuple of ``axes`` ints, or ``(None, reason)`` with a sentence
        that says why the sliders point at no plane of ``layer`` and what to do.
    """
    if layer not in viewer.layers:
        return None, f"The layer '{layer.name}' is no longer open."
    first = image_axis(viewer, layer)
    if any(first + axis in viewer.dims.displayed for axis in range(axes)):
        return None, (f"The viewer shows the planes of '{layer.name}' along a displayed axis "
                      "(3D view or transposed axes): go back to the 2D view with the planes "
                      "on a slider.")
    index = tuple(int(i) for i in np.round(layer.world_to_data(viewer.dims.point)[:axes]))
    for axis, (i, count) in enumerate(zip(index, layer.data.shape, strict=False)):
        if not 0 <= i < count:
            return None, (f"The slider of axis {first + axis} is past the {count} plane(s) "
                          f"of '{layer.name}': move it back onto the layer.")
    return index, None


def plane_at_sliders(viewer, layer):
    """A numpy copy of the 2D (or RGB) plane of ``layer`` where the viewer's sliders are.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image or napari.layers.Labels
        (..., Y, X), or (..., Y, X, 3|4) for an RGB image; every leading axis is indexed.

    Returns
    -------
    image : ndarray
        (Y, X), or (Y, X, 3|4) for an RGB layer; a copy, safe to send to the engine.
    channel_axis : int or None
        -1 for RGB layers, else None (the engine detects the layout).

    Raises
    ------
    ValueError
        When the sliders point at no plane of ``layer`` (the reason of :func:`slider_index`).
    """
    rgb = getattr(layer, "rgb", False)  # Labels layers have no rgb
    leading = layer.data.ndim - (3 if rgb else 2)
    index = ()
    if leading > 0:
        index, reason = slider_index(viewer, layer, leading)
        if index is None:
            raise ValueError(reason)
    return np.array(layer.data[index]), (-1 if rgb else None)
