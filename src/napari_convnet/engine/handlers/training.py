"""Engine requests about models: presets, training, the current model, bundles, run records.

The engine keeps one *current model* (``ctx.state["model"]`` and its bundle metadata
``ctx.state["meta"]``): training or loading sets it; inspection, classification and
evaluation use it.
"""

import os

from napari_convnet.core import presets, training
from napari_convnet.core.bundle import load_bundle, save_bundle
from napari_convnet.engine.handlers import current, handler
from napari_convnet.errors import ModelError
from napari_convnet.filenames import free_bundle_path
from napari_convnet.run_records import read_run_records


def describe_current(ctx):
    """JSON-able description of the current model, or None."""
    meta = ctx.state.get("meta")
    if meta is None:
        return None
    return {"meta": meta, "path": ctx.state.get("path")}


@handler("list_presets")
def list_presets(ctx):
    """Preset names with their description, options and minimum input size."""
    return [
        {"name": name, "description": presets.preset_description(name),
         "options": list(presets.preset_options(name)), "min_size": presets.min_input_size(name)}
        for name in presets.list_presets()
    ]


@handler("preset_info")
def preset_info(ctx, name, input_shape, num_classes, options=None):
    """Parameter counts and layer table of a preset, like ``model.summary()``."""
    return presets.preset_info(name, tuple(input_shape), int(num_classes), **(options or {}))


@handler("train")
def train(ctx, root, preset=None, data_config=None, train_config=None, preset_options=None,
          out=None, continue_current=False, overwrite=False):
    """Train on the folder ``root`` (or continue the current model); save the bundle to ``out``.

    An existing ``out`` is refused unless ``overwrite`` (the dock picks a free name first).

    Returns
    -------
    dict
        ``meta`` (bundle metadata), ``result`` (TrainResult as a dict), ``path`` (bundle
        written, or None).
    """
    model = current(ctx) if continue_current else None
    config = training.TrainConfig.from_dict(train_config or {})
    model, meta, result = training.train_from_folder(
        root, preset=preset, data_config=data_config, train_config=config,
        preset_options=preset_options, out=out, on_event=ctx.emit,
        should_stop=ctx.should_stop, model=model, overwrite=overwrite,
    )
    ctx.state.update(model=model, meta=meta, path=out)
    return {"meta": meta, "result": result.to_dict(), "path": out}


@handler("load_model")
def load_model(ctx, path, allow_foreign=False):
    """Load a bundle (``safe_mode=True``) as the current model; return its description."""
    model, meta = load_bundle(path, allow_foreign=allow_foreign)
    ctx.state.update(model=model, meta=meta, path=os.fspath(path))
    return describe_current(ctx)


@handler("save_model")
def save_model(ctx, path, overwrite=False):
    """Save the current model as a bundle at ``path`` (atomically).

    An existing file is refused unless ``overwrite``: saving never replaces a bundle silently.
    """
    model, meta = current(ctx)
    path = os.fspath(path)
    if path.endswith(".keras") and os.path.exists(path) and not overwrite:
        raise ModelError(
            f"{path!r} exists already; saving does not replace it. Choose another "
            f"file (the next free name is {free_bundle_path(path)!r})."
        )
    meta = save_bundle(model, path, meta)
    ctx.state.update(meta=meta, path=os.fspath(path))
    return describe_current(ctx)


@handler("current_model")
def current_model(ctx):
    """Description of the current model (``{"meta", "path"}``), or None."""
    return describe_current(ctx)


@handler("list_runs")
def list_runs(ctx, folders):
    """Read the run records (``*.run.json``) found in ``folders`` and their ``runs/``.

    Unreadable records are skipped. Returns a list of record dicts (with ``record_path``),
    oldest first.
    """
    return read_run_records(folders)
