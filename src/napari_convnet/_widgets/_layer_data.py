"""Copy what the user looks at in napari into plain numpy arrays for the engine."""

import numpy as np


def current_plane(viewer, layer):
    """The 2D plane (or RGB plane) of ``layer`` at the viewer's current slice.

    Returns
    -------
    image : ndarray
        (Y, X), or (Y, X, 3|4) for an RGB layer; a numpy copy, safe to send to the engine.
    channel_axis : int or None
        -1 for RGB layers, else None (the engine detects the layout).
    """
    data = layer.data
    rgb = getattr(layer, "rgb", False)  # Labels layers have no rgb
    plane_dims = 3 if rgb else 2
    if data.ndim > plane_dims:
        # napari aligns a layer's axes with the viewer's trailing ones
        step = viewer.dims.current_step[-data.ndim:]
        data = data[tuple(step[: data.ndim - plane_dims])]
    return np.array(data), (-1 if rgb else None)
