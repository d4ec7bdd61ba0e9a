"""What a training run needs besides ``fit``: continuing a bundle, the metadata of the bundle
it saves, and checking its output paths (used by
:func:`napari_convnet.core.training.train_from_folder`). Its run record is written by
:mod:`napari_convnet.run_records`.
"""

import os

from napari_convnet import options
from napari_convnet.core import bundle
from napari_convnet.core.outputs import check_outputs, check_writable
from napari_convnet.errors import ModelError
from napari_convnet.run_records import latest_record_path, utc_now

# DataConfig fields that change what the model sees; a continued model must keep them.
_PREPROCESSING = ("image_size", "channels", "channel_axis", "normalization", "percentiles",
                  "levels", "stack_rule", "resize")
# What a continued bundle keeps of the one it continues: where an imported model came from.
_KEPT_WHEN_CONTINUED = ("imported",)


def continue_from(model, preset, data_config, preset_options, strategy_scope):
    """Resolve the model to continue training, if any.

    Parameters
    ----------
    model : None, str, os.PathLike or (keras.Model, dict)
        A bundle path (loaded inside ``strategy_scope``) or a model with its metadata.
    preset, preset_options
        What the caller asked for; checked against the bundle.
    data_config : DataConfig, dict or None
        Checked against the bundle's preprocessing; a dict gives only some options.

    Returns
    -------
    tuple
        ``(model or None, meta or None, preset, data_config, preset_options)``.
    """
    from napari_convnet.core.data_config import DataConfig

    if model is None:
        return None, None, preset, data_config, preset_options
    if isinstance(model, (str, os.PathLike)):
        with strategy_scope:
            model, meta = bundle.load_bundle(model)
    elif isinstance(model, tuple) and len(model) == 2:
        model, meta = model
    else:
        raise ModelError(
            "`model` must be None, a bundle path or a (keras.Model, meta) tuple. "
            f"Received: {type(model).__name__}"
        )
    old_preset = meta.get("preset")
    if preset is not None and old_preset is not None and preset != old_preset:
        raise ModelError(
            f"Cannot continue a {old_preset!r} model as preset {preset!r}; leave the preset "
            "out to continue it, or train a new model."
        )
    saved = dict(meta["data_config"])
    if data_config is None:
        merged = saved
    else:
        # a dict holds only the options the user gave; a DataConfig all of them
        wanted = data_config if isinstance(data_config, dict) else data_config.to_dict()
        wanted = {k: list(v) if isinstance(v, tuple) else v for k, v in wanted.items()}
        # None or "auto" (a size, levels not yet measured) takes the model's own value
        differ = [k for k in _PREPROCESSING if k in saved
                  and wanted.get(k) not in (None, options.AUTO) and wanted[k] != saved[k]]
        if differ:
            detail = ", ".join(f"{k}={wanted[k]!r} (model: {saved[k]!r})" for k in differ)
            raise ModelError(
                f"The model to continue was trained with other preprocessing: {detail}. "
                "Leave these options out to use the model's own."
            )
        merged = {**saved, **{k: v for k, v in wanted.items() if k not in _PREPROCESSING}}
    return (model, meta, old_preset or preset, DataConfig.from_dict(merged),
            meta.get("preset_options") or preset_options or {})


def merge_history(old, new):
    """Concatenate two Keras history dicts metric by metric."""
    keys = list(dict.fromkeys([*old, *new]))
    return {k: list(old.get(k, [])) + list(new.get(k, [])) for k in keys}


def bundle_meta(index, preset, preset_options, train_config, result, old_meta, metrics):
    """Metadata stored in the bundle after a run (keys listed in docs/models.md)."""
    old_meta = old_meta or {}
    history = merge_history(old_meta.get("history", {}), result.history)
    config = index.config
    kept = {k: old_meta[k] for k in _KEPT_WHEN_CONTINUED if k in old_meta}
    return {**kept,
        "format": bundle.FORMAT,
        "format_version": bundle.FORMAT_VERSION,
        "class_names": list(index.class_names),
        "input_shape": [*config.image_size, config.channels],
        "data_config": config.to_dict(),
        "preset": preset,
        "preset_options": dict(preset_options or {}),
        "train_config": train_config.to_dict(),
        "seed": train_config.seed,
        "history": history,
        "epochs": len(history.get("loss", [])),
        "best_epoch": result.best_epoch,
        "metrics": metrics,
        "dataset": index.summary(),
        "device": result.device,
        "versions": bundle.library_versions(),
        "created": old_meta.get("created", utc_now()),
        "updated": utc_now(),
    }


def check_paths(data_root, out, checkpoint, model=None, preset_options=None):
    """Refuse a run's outputs that are its inputs, and a checkpoint that cannot be written.

    Called before any work (see :mod:`napari_convnet.core.outputs`). The bundle ``out`` may
    be the bundle being continued: replacing it is asked for explicitly (``overwrite``),
    after it has been read whole. The checkpoint is checked like ``out``, so a read-only
    folder is said before the first epoch, not after it.
    """
    weights = (preset_options or {}).get("weights")
    weights = weights if isinstance(weights, str) and os.path.isfile(weights) else None
    continued = model if isinstance(model, str | os.PathLike) else None
    outputs = [("The model bundle", out),
               ("The run record", None if out is None else latest_record_path(out)),
               ("The checkpoint", checkpoint)]
    check_outputs(outputs, [("weights file", weights)], [("data folder", data_root)])
    check_outputs(outputs[1:], [("model to continue", continued)])
    if checkpoint is not None:
        check_writable(checkpoint, "checkpoint", "--checkpoint file")
