"""A quiet, quick command line (issue 18): no native log lines of the backends, argument
mistakes and --help before any heavy import, a progress bar only on a terminal, a saved line
that names its file, engine logs in the user's cache folder."""

import io
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from _textures import texture_folder
from napari_convnet.cli import _progress, main
from napari_convnet.engine import process

#: A line of TensorFlow's C++ (absl) logging, or one of its start-up notices.
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN", re.MULTILINE)


def _cli(*args, env=None):
    env = {**os.environ, **(env or {})}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command line must be quiet by itself
    return subprocess.run([sys.executable, "-m", "napari_convnet.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def textures(tmp_path_factory):
    return texture_folder(tmp_path_factory.mktemp("quiet") / "data", size=28, per_class=10,
                          names=("brick", "grass"))


def test_presets_prints_no_native_log_lines():
    run = _cli("presets")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "course-cnn" in run.stdout
    assert not NATIVE_LOG.search(run.stderr), run.stderr


def test_train_is_quiet_and_draws_no_bar_off_a_terminal(textures, tmp_path):
    run = _cli("train", textures, "--preset", "dense-2x10", "--epochs", "1",
               "--out", tmp_path / "m.keras")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not NATIVE_LOG.search(run.stderr + run.stdout), run.stderr
    assert "info: image size auto" in run.stderr  # our own messages still print
    assert "Epoch 1/1  loss" in run.stdout and "\r" not in run.stdout
    run = _cli("train", textures, "--preset", "dense-2x10", "--epochs", "1",
               "--out", tmp_path / "q.keras", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Epoch" not in run.stdout and not NATIVE_LOG.search(run.stderr), run.stderr


def test_verbose_lets_the_native_lines_through():
    plain = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True,
                           text=True, timeout=600,
                           env={k: v for k, v in os.environ.items()
                                if k != "TF_CPP_MIN_LOG_LEVEL"})
    run = _cli("--verbose", "--backend", "tensorflow", "presets")
    assert run.returncode == 0, run.stderr[-2000:]
    if NATIVE_LOG.search(plain.stderr):  # this TensorFlow build logs at start-up
        assert NATIVE_LOG.search(run.stderr), run.stderr


@pytest.mark.parametrize("argv", [
    ["--help"],
    *([name, "--help"] for name in ("info", "data", "presets", "train", "evaluate", "predict",
                                    "inspect", "demo")),
    ["train", "DATA", "--epochs", "abc", "--out", "m.keras"],
    ["train", "DATA", "--preset", "resnet", "--out", "m.keras"],
    ["train", "DATA", "--preset", "course-cnn", "--epochs", "0", "--out", "m.keras"],
    ["train", "missing", "--preset", "course-cnn", "--out", "m.keras"],
    ["train", "DATA", "--preset", "course-cnn", "--out", "m.keras", "--image-size", "2", "2"],
    ["data", "missing"],
    ["presets", "--layers", "resnet"],
    ["evaluate", "missing.keras", "DATA"],
    ["predict", "missing.keras", "DATA"],
    ["inspect", "missing.keras", "--list-layers"],
    ["demo", "--epochs", "0"],
])
def test_help_and_argument_errors_import_no_backend(argv, textures, tmp_path):
    argv = [os.fspath(textures) if a == "DATA" else os.fspath(tmp_path / a)
            if a.startswith("missing") or a.endswith(".keras") else a for a in argv]
    script = textwrap.dedent(f"""
        import sys
        from napari_convnet.cli import main
        try:
            code = main({argv!r})
        except SystemExit as exc:
            code = exc.code
        heavy = [m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules]
        print("RESULT", code, heavy)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    last = run.stdout.strip().splitlines()[-1]
    assert last in ("RESULT 0 []", "RESULT 2 []"), (last, run.stderr)
    if last.endswith("2 []"):
        assert "error:" in run.stderr and "Traceback" not in run.stderr, run.stderr


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_bar_redraws_one_line_with_time_left():
    clock, stream = _Clock(), _FakeTTY()
    printer = _progress.ProgressPrinter(stream=stream, columns=100, clock=clock)
    logs = {"loss": 0.5, "accuracy": 0.75}
    for now, done in ((1.0, 2), (3.0, 4)):
        clock.now = now
        printer({"type": "batch", "epoch": 3, "epochs": 10, "batch": done, "batches": 8,
                 "logs": logs})
    text = stream.getvalue()
    first, second = text.split("\r")[1:3]
    assert first.startswith("Epoch 3/10  [######------------------]  2/8 batches  ETA -:--")
    # 2 batches in 2 s: the 4 left take 4 s
    assert second.startswith("Epoch 3/10  [############------------]  4/8 batches  ETA 0:04"
                             "  loss 0.5000  acc 0.7500")
    assert len(second) == 99 and "\n" not in text  # padded to the width, redrawn in place
    clock.now = 6.0
    printer({"type": "epoch", "epoch": 3, "epochs": 10, "logs": {**logs, "val_accuracy": 0.5}})
    assert stream.getvalue().endswith(
        "\rEpoch 3/10  loss 0.5000  acc 0.7500  val_acc 0.5000  (6.0 s)\n")


def test_progress_off_a_terminal_and_quiet():
    stream = io.StringIO()
    printer = _progress.ProgressPrinter(stream=stream)
    printer({"type": "batch", "epoch": 1, "epochs": 1, "batch": 1, "batches": 2, "logs": {}})
    printer({"type": "epoch", "epoch": 1, "epochs": 1, "logs": {"loss": 1.0}})
    assert stream.getvalue().startswith("Epoch 1/1  loss 1.0000  (")
    assert "\r" not in stream.getvalue()
    quiet = _FakeTTY()
    printer = _progress.ProgressPrinter(stream=quiet, quiet=True)
    printer({"type": "batch", "epoch": 1, "epochs": 1, "batch": 1, "batches": 2, "logs": {}})
    printer({"type": "epoch", "epoch": 1, "epochs": 1, "logs": {"loss": 1.0}})
    assert quiet.getvalue() == ""


def test_stage_progress_and_eta_text():
    clock, stream = _Clock(), _FakeTTY()
    stage = _progress.StageProgress(stream=stream, columns=60, clock=clock)
    for now, done in ((0.0, 10), (5.0, 20)):
        clock.now = now
        stage({"type": "progress", "stage": "predicting", "done": done, "total": 100})
    assert "\rpredicting  [####--------------------]  20/100  ETA 0:40" in stream.getvalue()
    stage.close()
    assert stream.getvalue().endswith("\r" + " " * 59 + "\r")
    assert [_progress.format_eta(s) for s in (None, 7, 125, 3723)] == [
        "-:--", "0:07", "2:05", "1:02:03"]
    off = io.StringIO()
    _progress.StageProgress(stream=off)({"type": "progress", "stage": "x", "done": 1,
                                          "total": 2})
    assert off.getvalue() == ""


def test_demo_says_where_its_model_is(textures, tmp_path, capsys):
    assert main(["demo", "--epochs", "1", "--data", str(textures), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "its weights are" not in out and "keeps no model" in out and "--out" in out
    kept = tmp_path / "demo.keras"
    assert main(["demo", "--epochs", "1", "--data", str(textures), "--quiet",
                 "--out", str(kept)]) == 0
    out = capsys.readouterr().out
    assert f"saved {kept}" in out and f"its weights are in {kept}" in out
    assert "keeps no model" not in out and kept.is_file()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG_CACHE_HOME is Linux's")
def test_engine_logs_go_to_the_cache_folder_and_rotate(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "napari-convnet" / "engine-logs"
    assert process.log_folder() == str(folder)
    names, now = [], time.time()
    for i in range(process.KEEP_LOGS + 5):
        log = process.new_log()
        log.close()
        os.utime(log.name, (now - 100 + i,) * 2)  # distinct ages, the newest last
        names.append(os.path.basename(log.name))
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[-process.KEEP_LOGS:])
    week_ago = now - process.KEEP_LOGS_S - 60
    os.utime(folder / names[-2], (week_ago, week_ago))
    assert process.prune_logs(folder=folder) == 1  # and none older than a week
    assert names[-2] not in {p.name for p in folder.iterdir()}


def test_engine_logs_fall_back_to_the_temp_folder(tmp_path, monkeypatch):
    import tempfile

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setenv("LOCALAPPDATA", str(blocker))
    monkeypatch.setenv("HOME", str(blocker))
    assert process.log_folder() == tempfile.gettempdir()


def test_tensorflow_warnings_after_the_quiet_import_still_print():
    """TensorFlow's logger, made while standard error was swapped, writes to the real one."""
    script = textwrap.dedent("""
        import logging
        from napari_convnet.cli import _quiet
        _quiet.import_backend("tensorflow")
        import tensorflow as tf
        tf.get_logger().warning("a warning after the import")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "a warning after the import" in run.stderr
    assert "Logging error" not in run.stderr and "closed file" not in run.stderr
