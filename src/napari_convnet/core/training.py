"""Training: configuration, ``fit`` with progress/stop/best-weights callbacks, whole runs.

:func:`train` fits an existing model on prepared data; :func:`train_from_folder` is a whole
run (index a folder, build or continue a model, train, write the bundle and the run record)
and is what the command line and the engine call.
"""

import dataclasses
import os
import time
from dataclasses import dataclass

import keras

from napari_convnet import options
from napari_convnet.core import callbacks, devices
from napari_convnet.errors import ModelError, shorten

_DEFAULTS = options.TRAIN_DEFAULTS


@dataclass
class TrainConfig:
    """How a model is trained; stored in the bundle and the run record.

    Defaults are :data:`napari_convnet.options.TRAIN_DEFAULTS`; every number must lie within
    its bound in :mod:`napari_convnet.options` (``LEARNING_RATE``, ``BATCH_SIZE``...).

    Parameters
    ----------
    optimizer : {"adam", "sgd"}
    learning_rate : float or None
        None = the optimizer's default (:data:`napari_convnet.options.LEARNING_RATES`: 1e-3
        for Adam, 1e-2 for SGD); the resolved value is stored.
    momentum : float
        SGD momentum (ignored by Adam).
    batch_size : int
        Global batch size (split across replicas with a distribution strategy).
    epochs : int
        Epochs to run now (continuing a model adds them to its earlier epochs).
    early_stopping : int or None
        Patience in epochs on ``monitor``; None = off.
    monitor : {"val_accuracy", "val_loss"}
        Metric that picks the best epoch (and drives early stopping). Without validation
        data the training metric (``accuracy``/``loss``) is used.
    restore_best : bool
        End with the best epoch's weights (also after a stop or early stopping).
    use_class_weights : bool
        Weight the loss by balanced class weights (imbalanced datasets).
    seed : int or None
        ``keras.utils.set_random_seed`` before building and before fitting.
    mixed_precision : bool
        ``mixed_float16`` on a GPU; ignored with a message on the CPU.
    checkpoint : str or None
        ``*.weights.h5`` file rewritten (atomically) with the best weights at each improvement.
    strategy : {None, "mirrored", "multiworker"}
        ``tf.distribute`` strategy (see docs/models.md).
    """

    optimizer: str = _DEFAULTS["optimizer"]
    learning_rate: float | None = _DEFAULTS["learning_rate"]
    momentum: float = _DEFAULTS["momentum"]
    batch_size: int = _DEFAULTS["batch_size"]
    epochs: int = _DEFAULTS["epochs"]
    early_stopping: int | None = _DEFAULTS["early_stopping"]
    monitor: str = _DEFAULTS["monitor"]
    restore_best: bool = True
    use_class_weights: bool = False
    seed: int | None = _DEFAULTS["seed"]
    mixed_precision: bool = False
    checkpoint: str | None = None
    strategy: str | None = None

    def __post_init__(self):
        def bad(name, what):
            value = shorten(repr(getattr(self, name)))
            return ModelError(f"`{name}` must be {what}. Received: {name}={value}")

        if self.optimizer not in options.OPTIMIZERS:
            raise bad("optimizer", " or ".join(map(repr, options.OPTIMIZERS)))
        if self.learning_rate is None:
            self.learning_rate = options.LEARNING_RATES[self.optimizer]
        for name, bounds, integer, optional in (
                ("learning_rate", options.LEARNING_RATE, False, False),
                ("momentum", options.MOMENTUM, False, False),
                ("batch_size", options.BATCH_SIZE, True, False),
                ("epochs", options.EPOCHS, True, False),
                ("early_stopping", options.PATIENCE, True, True),
                ("seed", options.SEED, True, True)):
            options.check(name, getattr(self, name), bounds, ModelError, integer, optional)
        if self.monitor not in options.MONITORS:
            raise bad("monitor", " or ".join(map(repr, options.MONITORS)))
        if self.checkpoint is not None and not str(self.checkpoint).endswith(".weights.h5"):
            raise bad("checkpoint", "None or a file name ending in '.weights.h5'")
        if self.strategy not in devices.STRATEGIES:
            raise bad("strategy", "None, 'mirrored' or 'multiworker'")

    def to_dict(self):
        """JSON-able dict of the configuration."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(d).items() if k in names})


@dataclass
class TrainResult:
    """What a call to :func:`train` did.

    ``history`` maps each metric (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``) to
    one float per epoch run in this call; epoch numbers are 1-based and continue earlier runs
    (``initial_epoch + 1`` is the first one of this call). ``gpus`` lists the GPUs the backend
    saw (``{"name", "memory_bytes"}``); ``peak_gpu_memory_bytes`` is the most GPU memory the
    process held by the end of training (None on the CPU, or where the backend does not say).
    """

    history: dict
    initial_epoch: int
    epochs_run: int
    monitor: str
    best_epoch: int | None
    best_value: float | None
    best_val_accuracy: float | None
    final: dict
    stopped_early: bool
    stopped_by_user: bool
    seconds: float
    samples_per_second: float | None
    device: str
    replicas: int
    gpus: list = dataclasses.field(default_factory=list)
    peak_gpu_memory_bytes: int | None = None

    def to_dict(self):
        return dataclasses.asdict(self)


def make_optimizer(config):
    """Return a fresh Keras optimizer for ``config`` (Adam, or SGD with momentum)."""
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=config.momentum)
    return keras.optimizers.Adam(learning_rate=config.learning_rate)


def compile_model(model, config):
    """Compile ``model`` for sparse integer labels with the optimizer of ``config``."""
    with devices.strategy_scope(config.strategy):
        model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])


def train(model, train_data, val_data=None, config=None, on_event=None, should_stop=None,
          class_weight=None, initial_epoch=0, n_train=None):
    """Compile and fit ``model``; end with the best epoch's weights.

    Parameters
    ----------
    model : keras.Model
        Built (under ``config.strategy``'s scope when one is set). A loaded model can be
        trained further: pass its earlier epoch count as ``initial_epoch``. The optimizer
        state starts fresh.
    train_data, val_data : tf.data.Dataset or tuple of ndarray
        Batched datasets of ``(x float32 (B, H, W, C), y int32 (B,))``, or ``(x, y)``
        arrays (batched here with ``config.batch_size``). ``val_data`` may be None.
    config : TrainConfig, optional
    on_event, should_stop : callable, optional
        Progress events and stop flag (docs/development.md). A stop ends training after the
        current batch; the epoch is evaluated and the best weights are kept.
    class_weight : dict of int to float, optional
        Loss weight per class index.
    initial_epoch : int
        Epochs already run on this model (numbering continues after it).
    n_train : int, optional
        Training samples per epoch, for ``samples_per_second`` when ``train_data`` is a
        dataset (arrays are counted directly).

    Returns
    -------
    TrainResult
    """
    config = TrainConfig() if config is None else config
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    compile_model(model, config)
    monitor = config.monitor if val_data is not None else config.monitor[len("val_"):]
    total = initial_epoch + config.epochs
    callback = callbacks.TrainingMonitor(
        total, monitor, config.early_stopping, on_event, should_stop, config.checkpoint,
        config.restore_best,
    )
    kwargs = {}
    if isinstance(train_data, tuple):
        (x, y), kwargs["batch_size"] = train_data, config.batch_size
    else:
        # a tf.data pipeline or PyDataset is shuffled by itself (seeded); Keras warns if asked
        (x, y), kwargs["shuffle"] = (train_data, None), False
    started = time.perf_counter()
    fit = model.fit(
        x, y, validation_data=val_data, epochs=total, initial_epoch=initial_epoch,
        callbacks=[callback], class_weight=class_weight, verbose=0, **kwargs,
    )
    seconds = time.perf_counter() - started
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    epochs_run = len(history.get("loss", []))
    final = {k: v[-1] for k, v in history.items() if v}
    best_val = None
    if callback.best_epoch is not None and "val_accuracy" in history:
        best_val = history["val_accuracy"][callback.best_epoch - initial_epoch - 1]
    n = len(x) if y is not None else n_train
    return TrainResult(
        history=history, initial_epoch=initial_epoch, epochs_run=epochs_run, monitor=monitor,
        best_epoch=callback.best_epoch, best_value=callback.best_value,
        best_val_accuracy=best_val, final=final, stopped_early=callback.stopped_early,
        stopped_by_user=callback.stopped_by_user, seconds=round(seconds, 3),
        samples_per_second=round(n * epochs_run / seconds, 1) if n and seconds else None,
        device=devices.device_name(), replicas=devices.replicas(config.strategy),
        gpus=devices.gpus(), peak_gpu_memory_bytes=devices.peak_gpu_memory(),
    )


def _evaluate_split(model, index, split, batch_size):
    from napari_convnet.core.pipeline import training_batches

    if not index.splits.get(split):
        return {}
    ds = training_batches(index, split, batch_size=batch_size, shuffle=False, cache=False)
    loss, accuracy = model.evaluate(ds, verbose=0)
    return {f"{split}_loss": float(loss), f"{split}_accuracy": float(accuracy)}


def train_from_folder(data_root, preset=None, data_config=None, train_config=None,
                      preset_options=None, out=None, on_event=None, should_stop=None, model=None,
                      overwrite=False):
    """Run a whole training: index the folder, build or continue a model, train, save.

    Parameters
    ----------
    data_root : str or os.PathLike
        Folder of class folders (see :func:`napari_convnet.core.data.index_folder`).
    preset : str, optional
        Preset to build (:func:`napari_convnet.core.presets.list_presets`); may be left out
        when continuing ``model``.
    data_config : DataConfig or dict, optional
        Reading and preprocessing rules (a dict: ``DataConfig`` keyword arguments). A
        continued model keeps its own preprocessing; only options that agree with it, and
        the split fractions and seed, may be given.
    train_config : TrainConfig, optional
    preset_options : dict, optional
        Keyword options of the preset (``augment``, ``dropout``, ``l2``, ``batchnorm``...).
    out : str or os.PathLike, optional
        Bundle to write (``*.keras``), with run records next to it (docs/models.md).
    on_event, should_stop : callable, optional
        Progress events and stop flag (docs/development.md).
    model : None, path or (keras.Model, dict)
        A bundle (path, or model with its metadata) to train further; epochs continue its
        numbering and the class names must match the folder's.
    overwrite : bool
        Replace an existing bundle at ``out``. Without it an existing ``out`` is refused
        before any work (:func:`napari_convnet.filenames.free_bundle_path` gives a free name).

    Returns
    -------
    model : keras.Model
        With the best epoch's weights.
    meta : dict
        Bundle metadata (written to ``out`` when given).
    result : TrainResult
    """
    from napari_convnet.core import presets, runs
    from napari_convnet.core.bundle import check_destination, save_bundle
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.pipeline import training_batches
    from napari_convnet.run_records import run_record, utc_now, write_run_record

    started = utc_now()
    config = TrainConfig() if train_config is None else train_config
    runs.check_paths(data_root, out, config.checkpoint, model, preset_options)
    scope = devices.strategy_scope(config.strategy)
    model, old_meta, preset, data_config, preset_options = runs.continue_from(
        model, preset, data_config, preset_options, scope)
    if model is None:
        presets.min_input_size(preset)  # unknown preset: fail before reading any image
    if out is not None:
        check_destination(out)  # an unusable --out fails now, not after the training
        _refuse_existing(out, overwrite)
    if isinstance(data_config, dict):
        data_config = DataConfig(**data_config)
    index = index_folder(data_root, data_config or DataConfig(), on_event=on_event,
                         should_stop=should_stop,
                         min_side=presets.min_input_size(preset) if model is None else None)
    if old_meta is not None and list(index.class_names) != list(old_meta["class_names"]):
        raise ModelError(
            f"The model to continue knows classes {shorten(old_meta['class_names'])} but "
            f"{str(data_root)!r} has {shorten(index.class_names)}. Use a folder with the same "
            "classes."
        )
    shape = (*index.config.image_size, index.config.channels)
    batch = config.batch_size
    if config.seed is not None:
        # before the datasets too: tf.data derives its shuffle seeds from the global seed
        keras.utils.set_random_seed(config.seed)
    train_ds = training_batches(index, "train", batch_size=batch, shuffle=True)
    val_ds = (training_batches(index, "validation", batch_size=batch, shuffle=False)
              if index.splits.get("validation") else None)
    index.forget_decoded()  # both splits are in memory now: free what indexing kept (<= 256 MiB)
    class_weight = index.class_weights() if config.use_class_weights else None
    initial_epoch = len((old_meta or {}).get("history", {}).get("loss", []))
    with devices.precision_policy(config.mixed_precision and model is None, on_event):
        if model is None:
            with devices.strategy_scope(config.strategy):
                model = presets.build_model(preset, shape, len(index.class_names),
                                            **(preset_options or {}))
        result = train(model, train_ds, val_ds, config, on_event, should_stop, class_weight,
                       initial_epoch, n_train=len(index.splits["train"]))
    metrics = {"best_epoch": result.best_epoch, "best_val_accuracy": result.best_val_accuracy,
               **_evaluate_split(model, index, "test", batch)}
    meta = runs.bundle_meta(index, preset, preset_options, config, result, old_meta, metrics)
    if out is not None:
        meta = save_bundle(model, out, meta)
        write_run_record(out, run_record(meta, result, started, out))
    return model, meta, result


def _refuse_existing(out, overwrite):
    """Raise a ModelError when ``out`` exists and may not be replaced (before any work)."""
    from napari_convnet.filenames import free_bundle_path

    out = os.fspath(out)
    if overwrite or not os.path.exists(out):
        return
    free = f" (the next free name is {free_bundle_path(out)!r})" if out.endswith(".keras") else ""
    raise ModelError(
        f"The model bundle {out!r} exists already; a new run does not replace it. Save this "
        f"run to another file{free}, or ask to overwrite it explicitly (overwrite=True; on "
        "the command line --overwrite)."
    )
