"""Engine requests that look inside the current model: layers, kernels, feature maps, Grad-CAM.

Images arrive as numpy arrays copied from napari layers (the current slice); results are
numpy arrays with the scale/translate that overlay them on that image.
"""

from napari_convnet.core import inspection
from napari_convnet.engine.handlers import current, handler


@handler("list_layers")
def list_layers(ctx):
    """Layers of the current model through nested models (see ``inspection.list_layers``)."""
    model, _ = current(ctx)
    return inspection.list_layers(model)


@handler("kernels")
def kernels(ctx, layer):
    """float32 (filters, in_channels, kh, kw) kernels of convolution layer ``layer``."""
    model, _ = current(ctx)
    return inspection.kernels(model, layer)


@handler("feature_maps")
def feature_maps(ctx, image, layer=None, channel_axis=None, all=False):
    """Feature maps of ``layer`` for ``image``; ``all=True``: of every conv/pool layer.

    Returns
    -------
    dict or list of dict
        ``{"maps", "scale", "translate", "layer", "input_shape"}`` (see
        ``inspection.feature_maps``); a list of them with ``all=True``.
    """
    if all:
        return all_feature_maps(ctx, image, channel_axis=channel_axis)
    model, meta = current(ctx)
    return inspection.feature_maps(model, meta, image, layer, channel_axis=channel_axis,
                                   on_event=ctx.emit)


@handler("all_feature_maps")
def all_feature_maps(ctx, image, channel_axis=None):
    """Feature maps of every convolution and pooling layer, with progress events."""
    model, meta = current(ctx)
    return inspection.all_feature_maps(model, meta, image, channel_axis=channel_axis,
                                       on_event=ctx.emit, should_stop=ctx.should_stop)


@handler("grad_cam")
def grad_cam(ctx, image, class_index=None, channel_axis=None, layer=None):
    """Grad-CAM heatmap of ``image`` on its own pixels (see ``inspection.grad_cam``)."""
    model, meta = current(ctx)
    return inspection.grad_cam(model, meta, image, class_index=class_index,
                               channel_axis=channel_axis, layer_name=layer)
