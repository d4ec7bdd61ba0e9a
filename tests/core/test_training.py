"""Training: seeded reproducibility, events, stop keeps the best weights, early stopping,
checkpoints, continuing, whole runs from a folder, MirroredStrategy on two CPU devices."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from _helpers_models import stripes, write_stripes

from napari_convnet.core.presets import build_model
from napari_convnet.core.training import TrainConfig, train, train_from_folder
from napari_convnet.errors import ModelError


def _run(seed, x, y):
    keras.utils.set_random_seed(seed)
    model = build_model("vgg1", (12, 12, 1), 2, dropout=True, augment=True)
    config = TrainConfig(epochs=2, batch_size=8, seed=seed)
    return model, train(model, (x, y), (x[:8], y[:8]), config)


def test_same_seed_same_history():
    x, y = stripes(12, 12)
    _, first = _run(7, x, y)
    _, second = _run(7, x, y)
    assert first.history == second.history
    assert first.epochs_run == 2 and first.device == "CPU" and first.samples_per_second > 0


def test_events_follow_the_contract():
    x, y = stripes(8, 12)
    events = []
    model = build_model("dense-2x10", (12, 12, 1), 2)
    train(model, (x, y), (x, y), TrainConfig(epochs=2, batch_size=4), on_event=events.append)
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and {e["epochs"] for e in epochs} == {2}
    assert set(epochs[0]["logs"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    batches = [e for e in events if e["type"] == "batch"]
    assert batches, "the last batch of each epoch always sends an event"
    last = batches[-1]
    assert last["batch"] == last["batches"] == 4 and last["epoch"] == 2
    json.dumps(events)  # JSON-able


@pytest.mark.xfail(os.environ.get("KERAS_BACKEND") == "jax", strict=False,
                   reason="open bug: on JAX, stopping mid-epoch sometimes hits 'Buffer has been "
                          "deleted or donated' (1 run in 4 here); TensorFlow is unaffected")
def test_stop_keeps_best_weights(tmp_path):
    # validation labels are the opposite of training labels: the better the model learns,
    # the worse its validation loss, so the best epoch is an early one (which one depends on
    # the backend's random initialisation)
    x, y = stripes(16, 12)
    model = build_model("dense-2x10", (12, 12, 1), 2)
    weights, stop = {}, {"now": False}

    def on_event(event):
        if event["type"] == "epoch":
            weights[event["epoch"]] = model.get_weights()
        elif event["type"] == "batch" and event["epoch"] == 3:
            stop["now"] = True

    ckpt = tmp_path / "best.weights.h5"
    config = TrainConfig(epochs=5, batch_size=8, learning_rate=0.01, monitor="val_loss",
                         checkpoint=str(ckpt))
    result = train(model, (x, y), (x, 1 - y), config, on_event=on_event,
                   should_stop=lambda: stop["now"])
    assert result.stopped_by_user and not result.stopped_early
    assert result.epochs_run == 3  # stopped during epoch 3
    best = result.best_epoch
    assert best == 1 + int(np.argmin(result.history["val_loss"])) < 3
    for got, want in zip(model.get_weights(), weights[best], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(model.get_weights()[0], weights[3][0])
    restored = build_model("dense-2x10", (12, 12, 1), 2)
    restored.load_weights(ckpt)
    np.testing.assert_array_equal(restored.get_weights()[0], weights[best][0])
    assert [p.name for p in tmp_path.iterdir()] == ["best.weights.h5"]  # no temp file left


def test_early_stopping_and_continue_numbering():
    x, y = stripes(8, 12)
    model = build_model("dense-2x10", (12, 12, 1), 2)
    result = train(model, (x, y), (x, 1 - y),
                   TrainConfig(epochs=6, batch_size=8, early_stopping=1, learning_rate=0.01,
                               monitor="val_loss"))
    assert result.stopped_early and result.epochs_run < 6
    events = []
    more = train(model, (x, y), None, TrainConfig(epochs=2, batch_size=8),
                 on_event=events.append, initial_epoch=4)
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [5, 6]
    assert more.initial_epoch == 4 and more.monitor == "accuracy"
    assert more.best_epoch in (5, 6)


@pytest.mark.parametrize("kwargs", [
    {"optimizer": "rmsprop"}, {"learning_rate": 0}, {"epochs": 0}, {"batch_size": 2.5},
    {"early_stopping": 0}, {"checkpoint": "best.keras"}, {"strategy": "tpu"},
    {"monitor": "accuracy"},
])
def test_train_config_validation(kwargs):
    with pytest.raises(ModelError):
        TrainConfig(**kwargs)


def test_train_config_round_trip():
    config = TrainConfig(optimizer="sgd", learning_rate=0.05, early_stopping=3, seed=None)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_train_from_folder_writes_bundle_and_run_records(tmp_path):
    from napari_convnet.core.bundle import read_meta
    from napari_convnet.core.data_config import DataConfig

    data = write_stripes(tmp_path / "data", n=10, size=12)
    out = tmp_path / "models" / "stripes.keras"
    config = TrainConfig(epochs=2, batch_size=8, learning_rate=0.01)
    data_config = DataConfig(image_size=(12, 12), test_split=0.2)
    model, meta, result = train_from_folder(data, "dense-2x10", data_config, config, out=out)
    assert meta["class_names"] == ["horizontal", "vertical"]
    assert meta["input_shape"] == [12, 12, 1] and meta["epochs"] == 2
    assert "test_accuracy" in meta["metrics"]
    assert read_meta(out)["history"] == meta["history"]
    record = json.loads((tmp_path / "models" / "stripes.run.json").read_text())
    assert record["kind"] == "napari-convnet-run" and record["result"]["epochs_run"] == 2
    assert len(os.listdir(tmp_path / "models" / "runs")) == 1

    _, again, _ = train_from_folder(data, "dense-2x10", data_config, config)
    assert again["history"] == meta["history"]  # seeded: same data, same run

    # continue the bundle into its own file (asked for): epochs continue, history grows,
    # preprocessing is the bundle's
    _, meta2, result2 = train_from_folder(data, None, {"seed": 1337}, config, out=out,
                                          model=out, overwrite=True)
    assert result2.initial_epoch == 2 and meta2["epochs"] == 4
    assert meta2["history"]["loss"][:2] == meta["history"]["loss"]
    with pytest.raises(ModelError, match="other preprocessing"):
        train_from_folder(data, None, {"image_size": (16, 16)}, config, model=out)
    with pytest.raises(ModelError, match="Unknown preset"):
        train_from_folder(data, "nope", data_config, config)


_MIRRORED = textwrap.dedent("""
    import runpy
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    stripes = runpy.run_path(sys.argv[1])["stripes"]
    from napari_convnet.core import devices
    from napari_convnet.core.presets import build_model
    from napari_convnet.core.training import TrainConfig, train
    x, y = stripes(8, 12)
    config = TrainConfig(epochs=1, batch_size=8, strategy="mirrored")
    with devices.strategy_scope("mirrored"):
        model = build_model("course-cnn", (18, 18, 1), 2)
    x = tf.image.resize(x, (18, 18)).numpy()
    result = train(model, (x, y), (x, y), config)
    print("REPLICAS", result.replicas, result.history["loss"][0])
""")


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="tf.distribute (JAX's mirrored: tests/core/test_cli_backend.py)")
def test_mirrored_strategy_on_two_cpu_devices():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-c", _MIRRORED, os.path.join(os.path.dirname(__file__),
                                                       "_helpers_models.py")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPLICAS")][0]
    assert line.split()[1] == "2" and np.isfinite(float(line.split()[2]))
