"""Engine requests that apply the current model: images, stacks, tiled class maps, objects, files.

Every request uses the engine's current model (trained or loaded; see :func:`current`) and
emits ``{"type": "progress", "stage", "done", "total"}`` events. A stop returns a partial
result with ``"stopped": True`` (slices, tiles, objects or files done so far; see the core
functions); the engine marks the reply as stopped, so the GUI gets ``(value, stopped=True)``.
"""

from napari_convnet.core import objects, prediction, tiling
from napari_convnet.engine.handlers import current, handler


def _progress(ctx):
    return {"on_event": ctx.emit, "should_stop": ctx.should_stop}


@handler("classify_image")
def classify_image(ctx, image, channel_axis=None):
    """One 2D image → ``{"class_index", "class_name", "probability", "probabilities"}``."""
    model, meta = current(ctx)
    return prediction.classify_image(model, meta, image, channel_axis=channel_axis)


@handler("classify_stack")
def classify_stack(ctx, stack, channel_axis=None, batch_size=32):
    """Every slice of (N, Y, X[, C]): :func:`~napari_convnet.core.prediction.classify_stack`."""
    model, meta = current(ctx)
    return prediction.classify_stack(model, meta, stack, channel_axis=channel_axis,
                                     batch_size=batch_size, **_progress(ctx))


@handler("tile_class_map")
def tile_class_map(ctx, image, stride=None, min_confidence=0.0, channel_axis=None,
                   batch_size=64):
    """Class per pixel from overlapping tiles: see :func:`.tiling.tile_class_map`."""
    model, meta = current(ctx)
    return tiling.tile_class_map(model, meta, image, stride=stride,
                                 min_confidence=min_confidence, channel_axis=channel_axis,
                                 batch_size=batch_size, **_progress(ctx))


@handler("classify_objects")
def classify_objects(ctx, image, labels, mode="bbox", padding=0.1, channel_axis=None,
                     batch_size=64):
    """Class per label id: :func:`~napari_convnet.core.objects.classify_objects`."""
    model, meta = current(ctx)
    return objects.classify_objects(model, meta, image, labels, mode=mode, padding=padding,
                                    channel_axis=channel_axis, batch_size=batch_size,
                                    **_progress(ctx))


@handler("classify_folder")
def classify_folder(ctx, paths, batch_size=32):
    """Classify image files and every image in folders (recursively, sorted).

    Unreadable files are skipped with a ``{"type": "message", "level": "warning"}`` event.

    Returns
    -------
    list of dict
        One row per image (per slice for bundles trained with ``stack_rule="slices"``):
        ``path``, ``slice`` (int or None), ``class_name``, ``probability`` and
        ``probabilities`` (list of K floats, in the model's ``class_names`` order).
    """
    model, meta = current(ctx)
    result = prediction.predict_files(model, meta, paths, batch_size=batch_size,
                                      **_progress(ctx))
    for error in result["errors"]:
        ctx.emit({"type": "message", "level": "warning", "text": f"skipped {error['error']}"})
    return [{"path": r["path"], "slice": r["slice"], "class_name": r["predicted"],
             "probability": r["probability"], "probabilities": r["probabilities"]}
            for r in result["rows"]]
