"""Engine requests that share models: import a Keras classifier, export ONNX or bioimage.io.

Import makes the imported bundle the current model; the exports write the current model.
"""

import os

from napari_convnet.core.sharing import bioimageio, importing, onnx_export
from napari_convnet.engine.handlers import current, handler
from napari_convnet.engine.handlers.training import describe_current


@handler("describe_import")
def describe_import(ctx, path):
    """What importing ``path`` would find (format, input, classes, output; a package's names
    and preprocessing): see :func:`napari_convnet.core.sharing.importing.describe_source`."""
    return importing.describe_source(path)


@handler("preview_import")
def preview_import(ctx, image, input_shape, preprocessing=None):
    """float32 (H, W, C): ``image`` prepared as the imported model would see it."""
    return importing.preview(image, input_shape, preprocessing)


@handler("import_model")
def import_model(ctx, path, out, class_names=None, preprocessing=None):
    """Import ``path`` as the bundle ``out`` (never replacing a file) and make it current."""
    model, meta = importing.import_model(path, out, class_names=class_names,
                                         preprocessing=preprocessing)
    ctx.state.update(model=model, meta=meta, path=os.fspath(out))
    return describe_current(ctx)


@handler("export_onnx")
def export_onnx(ctx, path, data=None):
    """Write the current model as ONNX; check it on its data folder's images when there is one.

    Returns
    -------
    dict
        ``path``; ``checked`` (images compared, 0 when no data folder); ``max_difference``.
    """
    model, meta = current(ctx)
    onnx_export.export_onnx(model, path)
    x = onnx_export.sample_inputs(meta, data)
    diff = None if x is None else onnx_export.check(model, path, x)
    return {"path": os.fspath(path), "checked": 0 if x is None else len(x),
            "max_difference": diff}


@handler("export_bioimageio")
def export_bioimageio(ctx, path, info, data=None):
    """Write the current model as a bioimage.io package (validated and tested).

    ``info`` holds the :class:`~napari_convnet.core.sharing.bioimageio.PackageInfo` fields.
    Returns what :func:`~napari_convnet.core.sharing.bioimageio.export_package` returns,
    without the evaluation report.
    """
    model, meta = current(ctx)
    result = bioimageio.export_package(model, meta, path, bioimageio.PackageInfo(**info),
                                       data=data, on_event=ctx.emit)
    result.pop("report", None)
    return result
