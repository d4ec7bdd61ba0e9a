"""Engine requests for evaluation and review: metrics, confusion-matrix cells, relabelling."""

import os

import numpy as np

from napari_convnet.core import review
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.evaluation import evaluate_folder
from napari_convnet.core.images import read_image
from napari_convnet.engine.handlers import current, handler


@handler("evaluate")
def evaluate(ctx, root, split=None):
    """Evaluate the current model on ``root``; keep the per-image items for review.

    Returns
    -------
    dict
        :func:`napari_convnet.core.evaluation.evaluate_folder` report with ``items``, and
        ``model``: the bundle file of the evaluated model (None when it was never saved), so
        the report can be exported next to the model it describes.
    """
    model, meta = current(ctx)
    report = evaluate_folder(model, meta, root, split=split, items=True, on_event=ctx.emit,
                             should_stop=ctx.should_stop)
    path = ctx.state.get("path")
    report["model"] = os.path.abspath(path) if path else None
    ctx.state["evaluation"] = report
    return report


@handler("cell_images")
def cell_images(ctx, true_class, predicted_class, limit=500):
    """Images of one confusion-matrix cell of the last evaluation, most confident first.

    Returns
    -------
    dict
        ``images`` float32 (N, H, W, C) as the model sees them, and ``items`` (their dicts).
    """
    report = ctx.state.get("evaluation")
    if report is None:
        from napari_convnet.errors import ModelError

        raise ModelError("Evaluate the model on a folder first.")
    _, meta = current(ctx)
    config = DataConfig.from_dict(meta["data_config"])
    items = review.cell_items(report["items"], true_class, predicted_class)[:limit]
    images = []
    for i, item in enumerate(items):
        images.append(read_image(item["path"], config, item["slice_index"])[0])
        ctx.emit({"type": "progress", "stage": "reading images", "done": i + 1,
                  "total": len(items)})
    shape = (0, *meta["input_shape"])
    return {"images": np.stack(images) if images else np.zeros(shape, np.float32),
            "items": items}


@handler("relabel")
def relabel(ctx, path, root, new_class, copy=False):
    """Move or copy ``path`` to the ``new_class`` folder of ``root`` (logged, undoable)."""
    _, meta = current(ctx)
    return review.relabel(path, root, new_class, meta["class_names"], copy=copy)


@handler("undo_relabel")
def undo_relabel(ctx, root):
    """Undo the last logged move or copy in ``root``; None when there is nothing to undo."""
    return review.undo_last(root)
