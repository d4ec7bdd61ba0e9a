"""The training monitor: progress events, stop requests, best weights, checkpoints (training.py)."""

import os
import threading
import time

import keras
import numpy as np

from napari_convnet.atomic import replacing
from napari_convnet.errors import ModelError

#: Batch events are sent at most this often (seconds): converting the logs to floats
#: synchronises with the device, and the GUI cannot show more anyway.
BATCH_EVENT_INTERVAL = 0.1


def _floats(logs):
    return {k: float(v) for k, v in (logs or {}).items()}


class TrainingMonitor(keras.callbacks.Callback):
    """Progress events, stop flag, early stopping and best-weights tracking in one callback.

    Parameters
    ----------
    epochs : int
        Last epoch number (1-based, counting epochs of earlier runs).
    monitor : str
        Metric that picks the best epoch (``"val_accuracy"``, ``"val_loss"``, ...).
    patience : int or None
        Stop after this many epochs without improvement (early stopping); None = off.
    on_event, should_stop : callable, optional
        See docs/development.md.
    checkpoint : str, optional
        ``*.weights.h5`` file rewritten atomically with the best weights at each improvement.
    restore_best : bool
        Put the best epoch's weights back into the model at the end of training (also after
        a stop or early stopping).

    Notes
    -----
    The batch hook is declared ``async_safe``: Keras then runs it in a worker thread instead
    of synchronising the training loop with the device after every batch (a callback with a
    synchronous batch hook cost ~20 % throughput on small models). Keras flushes those
    calls before ``on_epoch_end``, so batch events always precede their epoch event; a stop
    request takes effect within a batch or two.
    """

    async_safe = True

    def __init__(self, epochs, monitor="val_accuracy", patience=None, on_event=None,
                 should_stop=None, checkpoint=None, restore_best=True):
        super().__init__()
        self.epochs = epochs
        self.monitor = monitor
        self.maximise = not monitor.endswith("loss")
        self.patience = patience
        self.on_event = on_event
        self.should_stop = should_stop
        self.checkpoint = checkpoint
        self.restore_best = restore_best
        self.best_value = None
        self.best_epoch = None
        self.best_weights = None
        self.stopped_early = False
        self.stopped_by_user = False
        self._wait = 0
        self._epoch = 0
        self._last_batch_event = 0.0
        self._last_batch = 0
        self._lock = threading.Lock()

    def _emit(self, event):
        if self.on_event is not None:
            self.on_event(event)

    def _check_stop(self):
        if self.should_stop is not None and not self.stopped_by_user and self.should_stop():
            self.stopped_by_user = True
            self._emit({"type": "message", "level": "info",
                        "text": "stop requested: finishing this step and keeping the best weights"})
        if self.stopped_by_user:
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._check_stop()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._last_batch = epoch + 1, 0

    def on_train_batch_end(self, batch, logs=None):
        with self._lock:  # runs in Keras' worker threads (async_safe)
            self._check_stop()
            if self.on_event is None or batch + 1 <= self._last_batch:
                return
            steps = self.params.get("steps") or 0
            now = time.monotonic()
            if now - self._last_batch_event < BATCH_EVENT_INTERVAL and batch + 1 != steps:
                return
            self._last_batch_event, self._last_batch = now, batch + 1
            self._emit({"type": "batch", "epoch": self._epoch, "epochs": self.epochs,
                        "batch": batch + 1, "batches": int(steps), "logs": _floats(logs)})

    def on_epoch_end(self, epoch, logs=None):
        logs = _floats(logs)
        self._emit({"type": "epoch", "epoch": epoch + 1, "epochs": self.epochs, "logs": logs})
        value = logs.get(self.monitor)
        if value is not None and np.isfinite(value) and self._improved(value):
            self.best_value, self.best_epoch, self._wait = value, epoch + 1, 0
            self.best_weights = self.model.get_weights()
            if self.checkpoint:
                save_weights_atomic(self.model, self.checkpoint)
        else:
            self._wait += 1
            if self.patience is not None and self._wait >= self.patience:
                self.stopped_early = True
                self.model.stop_training = True
                self._emit({"type": "message", "level": "info", "text": (
                    f"early stopping: {self.monitor} did not improve for {self.patience} epoch(s)"
                )})
        self._check_stop()

    def _improved(self, value):
        if self.best_value is None:
            return True
        return value > self.best_value if self.maximise else value < self.best_value

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def save_weights_atomic(model, path):
    """Write ``model``'s weights to ``path`` (``*.weights.h5``), atomically."""
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ModelError(
            f"A checkpoint file name must end in '.weights.h5'. Received: checkpoint={path!r}"
        )
    with replacing(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp, overwrite=True)
