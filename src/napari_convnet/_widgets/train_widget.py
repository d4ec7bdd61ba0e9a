"""The Train dock: data, preset and options, live curves, stop/continue, save/load, runs table.

Everything runs in the engine; this widget gathers options, follows events and shows results.
The trained or loaded model becomes the engine's *current model*, which the other docks use.
"""

import os
import time
from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
    TextEdit,
)
from napari.utils.notifications import show_error, show_info

from napari_convnet import backends, help_text, options, preset_table
from napari_convnet._sample_data import digits_folder
from napari_convnet._widgets import tasks
from napari_convnet._widgets._closing import CloseGuard
from napari_convnet._widgets._sections import (
    Folded,
    ScrollingDock,
    explain,
    qt_section,
    remember,
)
from napari_convnet._widgets.curves import CurvesCanvas
from napari_convnet._widgets.dataset_widget import DatasetWidget
from napari_convnet._widgets.plot_style import follow_theme
from napari_convnet._widgets.runs_table import RunsTable, options_text
from napari_convnet._widgets.sharing_section import ExportSection, ImportSection
from napari_convnet._widgets.tasks import EngineTask, error_message
from napari_convnet.engine import get_engine
from napari_convnet.errors import ConvnetError
from napari_convnet.filenames import free_bundle_path
from napari_convnet.options import AUTO


def model_title(meta):
    """The preset of a bundle's model, or what an imported model was."""
    if meta.get("preset"):
        return meta["preset"]
    return f"imported {(meta.get('imported') or {}).get('format', 'model')}"


def models_folder(root):
    """Default folder for models trained on ``root``: a sibling ``<name>-models`` folder.

    Beside the data, not inside it (a folder inside would be read as a class). Falls back to
    ``~/napari-convnet/models/<name>`` when the data's parent folder is not writable, and for
    the sample data shipped inside the package (never write into an installed package).
    """
    root = Path(root).resolve()
    beside = root.parent / f"{root.name}-models"
    bundled = Path(digits_folder()).resolve().parent
    if root.parent != bundled and os.access(beside if beside.exists() else root.parent,
                                            os.W_OK):
        return beside
    return Path.home() / "napari-convnet" / "models" / root.name


class TrainWidget(ScrollingDock):
    """Train a preset on a labelled folder from napari (the course's exercise 5, no code)."""

    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.data = DatasetWidget(napari_viewer)
        self.data.label = ""
        self.preset = ComboBox(value=preset_table.DEFAULT_PRESET, choices=preset_table.names(),
                               label="Preset")
        self.dropout = CheckBox(value=False, text="dropout (0.2/0.3/0.4/0.4)")
        self.batchnorm = CheckBox(value=False, text="batch normalisation")
        self.augment = CheckBox(value=False, text="augmentation (shifts, flips, 90°)")
        self.l2 = FloatSpinBox(value=0.0, min=options.L2[0], max=options.L2[1], step=1e-4,
                               label="L2 (0 = off)")
        self.fine_tune = CheckBox(value=False, text="fine-tune the backbone")
        self.weights = FileEdit(mode="r", filter="*.h5", label="ImageNet weights")
        self.summary_button = PushButton(text="Show parameters and layers")
        self.param_count = Label(value="")
        self.layers = TextEdit(value="", label="Layers")
        self.layers.read_only = True
        self.layers.visible = False
        train = options.TRAIN_DEFAULTS
        self.epochs = SpinBox(value=train["epochs"], min=options.EPOCHS[0],
                              max=options.EPOCHS[1], label="Epochs")
        self.batch_size = SpinBox(value=train["batch_size"], min=options.BATCH_SIZE[0],
                                  max=options.BATCH_SIZE[1], label="Batch size")
        self.optimizer = ComboBox(value=train["optimizer"], choices=list(options.OPTIMIZERS),
                                  label="Optimizer")
        self.learning_rate = FloatSpinBox(
            value=options.LEARNING_RATES[train["optimizer"]], min=options.LEARNING_RATE[0],
            max=options.LEARNING_RATE[1], step=1e-4, label="Learning rate")
        self.early_stopping = SpinBox(value=train["early_stopping"] or 0, min=0,
                                      max=options.PATIENCE[1], label="Early stopping (0 = off)")
        self.class_weights = CheckBox(value=False, text="class weights (imbalanced data)")
        self.out = FileEdit(mode="w", filter="*.keras", label="Save model to",
                            tooltip="Empty: a new file in <data>-models beside the data folder. "
                                    "An existing file is never replaced: the run is saved to "
                                    "the next free name (model-2.keras, ...)")
        self.replace_own = CheckBox(
            value=False, text="Continue training replaces the model's own file",
            tooltip="Off: the continued model is saved to 'Save model to' (or the next free "
                    "name), and the model it started from is kept")
        self.train_button = PushButton(text="Train")
        self.continue_button = PushButton(text="Continue training")
        self.stop_button = PushButton(text="Stop (keep best weights)", enabled=False)
        self.load_path = FileEdit(mode="r", filter="*.keras", label="Model bundle")
        self.load_button = PushButton(text="Load model")
        self.save_button = PushButton(text="Save current model to 'Save model to'")
        self.status = Label(value="No current model.")
        self.device = Label(value="")
        self.curves = follow_theme(CurvesCanvas(), napari_viewer)
        self.runs = RunsTable()
        self.refresh_runs_button = PushButton(text="Refresh runs")
        self.export_csv_button = PushButton(text="Export runs as CSV…")
        self.export_png_button = PushButton(text="Export curves as PNG…")
        self.body.extend([
            self.data, self.preset, self.dropout, self.batchnorm, self.augment, self.l2,
            self.fine_tune, self.weights, self.summary_button, self.param_count, self.layers,
            self.epochs, self.batch_size,
            Folded("More training options (optimiser, early stopping, where to save)",
                   [self.optimizer, self.learning_rate, self.early_stopping,
                    self.class_weights, self.out, self.replace_own]),
            Container(widgets=[self.train_button, self.continue_button, self.stop_button],
                      layout="horizontal", labels=False),
            self.load_path,
            Container(widgets=[self.load_button, self.save_button], layout="horizontal",
                      labels=False),
            ImportSection(self), ExportSection(self),
            self.device, self.status, qt_section(self.curves), qt_section(self.runs),
            Container(widgets=[self.refresh_runs_button, self.export_csv_button,
                               self.export_png_button], layout="horizontal", labels=False),
        ])
        for label in (self.status, self.device, self.param_count):
            label.native.setWordWrap(True)
        self.task = self.runs_task = None
        self._guard = None  # CloseGuard of napari's window while a training runs
        self._save_note = ""  # what the last run's save did differently from 'Save model to'
        self.current = None  # {"meta", "path"} of the engine's current model
        self.session_models = []
        self.preset.changed.connect(self._preset_changed)
        self.optimizer.changed.connect(self._optimizer_changed)
        self.summary_button.changed.connect(self.show_model_summary)
        self.train_button.changed.connect(lambda: self.start_training(False))
        self.continue_button.changed.connect(lambda: self.start_training(True))
        self.stop_button.changed.connect(self.stop)
        self.load_button.changed.connect(self.load_model)
        self.save_button.changed.connect(self.save_model)
        self.refresh_runs_button.changed.connect(self.refresh_runs)
        self.export_csv_button.changed.connect(lambda: self._export("csv"))
        self.export_png_button.changed.connect(lambda: self._export("png"))
        self.runs.selection.connect(self._overlay_runs)
        explain(self, help_text.TRAIN)
        remember(self, napari_viewer, [*help_text.TRAIN, "out", "replace_own", "load_path"])
        self._preset_changed()
        self.engine = get_engine()
        self.engine.start()
        # a dock opened (again) while the engine holds a model shows that model
        self.model_checked = False  # True once the engine has said which model it holds
        self.task = EngineTask("current_model", {}, "Reading the current model",
                               on_result=self._found_current, owner=self,
                               on_finished=lambda: setattr(self, "model_checked", True))

    def _found_current(self, described, stopped):
        if described is not None and self.current is None:
            self._loaded(described, stopped)

    # -- options ------------------------------------------------------------------------
    def _preset_changed(self):
        takes = preset_table.get(self.preset.value).options
        for option, widget in self._option_widgets().items():
            widget.enabled = option in takes
        self.param_count.value = ""

    def _option_widgets(self):
        """The widget of each preset option (:mod:`napari_convnet.preset_table` names them)."""
        return {"augment": self.augment, "dropout": self.dropout, "batchnorm": self.batchnorm,
                "l2": self.l2, "fine_tune": self.fine_tune, "weights": self.weights}

    def _optimizer_changed(self, name):
        """Fill in the chosen optimiser's usual learning rate, unless the user typed another."""
        if self.learning_rate.value in options.LEARNING_RATES.values():
            self.learning_rate.value = options.LEARNING_RATES[name]

    def preset_options(self):
        """Options of the chosen preset as keyword arguments of ``build_model``."""
        values = {name: bool(widget.value) for name, widget in self._option_widgets().items()
                  if name not in ("l2", "weights")}
        if self.l2.value > 0:
            values["l2"] = float(self.l2.value)
        weights = str(self.weights.value)
        if weights not in ("", "."):
            values["weights"] = weights
        takes = preset_table.get(self.preset.value).options
        return {name: value for name, value in values.items() if name in takes}

    def train_config(self):
        """Training settings as a ``TrainConfig`` dict."""
        return {
            "epochs": int(self.epochs.value),
            "batch_size": int(self.batch_size.value),
            "optimizer": self.optimizer.value,
            "learning_rate": float(self.learning_rate.value),
            "early_stopping": int(self.early_stopping.value) or None,
            "use_class_weights": bool(self.class_weights.value),
            "seed": int(self.data.seed.value),
        }

    def output_path(self):
        """Where the next training is asked to save its bundle (chosen, or a new default file).

        :meth:`bundle_destination` turns it into the file actually written.
        """
        chosen = str(self.out.value)
        if chosen not in ("", "."):
            return chosen if chosen.endswith(".keras") else chosen + ".keras"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return str(models_folder(self.data.root) / f"{self.preset.value}-{stamp}.keras")

    def bundle_destination(self, continue_current=False, wanted=None):
        """The file a run (or Save) writes, whether it replaces that file, and a note for the user.

        A run never replaces an existing bundle silently: when the wanted file exists, the
        next free name (``model-2.keras``, ...) is used and put in 'Save model to'. The one
        exception is continuing the current model with "Continue training replaces the
        model's own file" ticked: then the model's own bundle is replaced.

        Returns
        -------
        tuple
            ``(path, overwrite, note)``; ``note`` is "" when the wanted file is written.
        """
        own = (self.current or {}).get("path")
        if continue_current and self.replace_own.value and own:
            return own, True, f"replacing the model's own file {os.path.basename(own)} (asked for)"
        wanted = wanted or self.output_path()
        path = free_bundle_path(wanted)
        if path == wanted:
            return path, False, ""
        if str(self.out.value) not in ("", "."):
            self.out.value = path
        return path, False, (f"{os.path.basename(wanted)} exists and is kept: saving to "
                             f"{os.path.basename(path)}")

    # -- model summary ------------------------------------------------------------------
    def show_model_summary(self):
        """Scan the data if needed, then show the chosen model's parameter count and layers."""
        summary = self.data.last_summary
        if summary is None or summary["root"] != str(Path(self.data.root).resolve()):
            self.param_count.value = "scanning the data folder first…"
            self.data.start_scan()
            self.data.task.worker.finished.connect(self._summary_after_scan)
            return
        size = self.data.config()["image_size"]
        shape = [*(summary["image_size"] if size == AUTO else size), summary["channels"]]
        self.task = EngineTask(
            "preset_info", {"name": self.preset.value, "input_shape": shape,
                            "num_classes": len(summary["class_names"]),
                            "options": self.preset_options()},
            "Building model", on_result=self._show_model_summary, on_error=self._failed, owner=self)

    def _summary_after_scan(self):
        if self.data.last_summary is not None:
            self.show_model_summary()

    def _show_model_summary(self, info, stopped):
        self.param_count.value = (
            f"{self.preset.value}: {info['trainable_params']:,} trainable parameters "
            f"({info['total_params']:,} total) on {'×'.join(map(str, info['input_shape']))}, "
            f"{info['num_classes']} classes")
        rows = [f"{r['name']:<24} {r['type']:<20} {str(r['output_shape']):<22} {r['params']:,}"
                for r in info["layers"]]
        self.layers.value = "\n".join(rows)
        self.layers.visible = True

    # -- training -----------------------------------------------------------------------
    def _busy(self, busy):
        for widget in (self.train_button, self.continue_button, self.load_button,
                       self.save_button, self.summary_button):
            widget.enabled = not busy
        self.stop_button.enabled = busy

    def start_training(self, continue_current=False):
        """Train the chosen preset (or continue the current model) in the engine."""
        if continue_current and self.current is None:
            show_error("There is no current model to continue: train or load one first.")
            return
        out, overwrite, self._save_note = self.bundle_destination(continue_current)
        kwargs = {"root": self.data.root, "train_config": self.train_config(), "out": out,
                  "continue_current": continue_current, "overwrite": overwrite}
        if continue_current:
            history = self.current["meta"].get("history", {})
            label = f"{model_title(self.current['meta'])} (continued)"
            # a continued model keeps its preprocessing; only split fractions and seed apply
            config = self.data.config()
            kwargs["data_config"] = {k: config[k] for k in ("validation_split", "seed")}
        else:
            history = None
            label = f"{self.preset.value} ({options_text(self.preset_options())})"
            kwargs.update(preset=self.preset.value, data_config=self.data.config(),
                          preset_options=self.preset_options())
        planned = len((history or {}).get("loss", [])) + int(self.epochs.value)
        self.curves.start_live(label, history, caption="starting…", epochs=planned)
        self.status.value = f"Training → {out}" + (f" ({self._save_note})" if self._save_note
                                                   else "")
        if self._save_note:
            show_info(f"Training: {self._save_note}.")
        self._busy(True)
        self.task = EngineTask("train", kwargs, "Training", on_event=self._train_event,
                               on_result=self._trained, on_error=self._failed,
                               on_finished=self._run_ended, owner=self, bar_now=True,
                               stop_with_owner=True)
        window = self.native.window()
        if window is not self.native:  # docked in napari: closing it asks first
            self._guard = CloseGuard(window, "The training run", self.stop)

    def _run_ended(self):
        self._busy(False)
        if self._guard is not None:
            self._guard.ended()
            self._guard = None

    def _train_event(self, event):
        if event.get("type") == "epoch":
            # the epoch's line is drawn with the curves: one repaint of napari per epoch
            logs = event["logs"]
            acc = logs.get("val_accuracy", logs.get("accuracy"))
            text = f"epoch {event['epoch']}/{event['epochs']}"
            if acc is not None:
                text += f" · {'validation ' if 'val_accuracy' in logs else ''}accuracy " \
                        f"{100 * acc:.1f} %"
            self.curves.add_epoch(logs, caption=text)

    def stop(self):
        """Stop training after the current batch; the best weights so far are kept."""
        if self.task is not None:
            self.task.stop(tasks.STOP_TIMEOUT_S)
            self.status.value = (
                "Stopping… (keeping the best weights; the engine is terminated if it does not "
                f"answer for {tasks.STOP_TIMEOUT_S:g} s)")

    def _trained(self, value, stopped):
        self._set_current({"meta": value["meta"], "path": value["path"]})
        best = value["result"].get("best_val_accuracy")
        how = "stopped; best weights kept" if stopped else "done"
        acc = "" if best is None else f", best validation accuracy {100 * best:.1f} %"
        note = f" ({self._save_note})" if self._save_note else ""
        self.status.value = f"Training {how}{acc}. Saved {value['path']}{note}"
        self.session_models.append(value["path"])
        show_info(self.status.value)
        self.refresh_runs()

    def _set_current(self, described):
        self.current = described
        meta = described["meta"]
        self.status.value = (f"Current model: {model_title(meta)} · classes "
                             f"{', '.join(meta['class_names'])} · {described.get('path')}")
        self.device.value = backends.describe(self.engine.info)

    def _failed(self, exc):
        message = error_message(exc)
        self.status.value = message.splitlines()[0]
        show_error(message)

    # -- bundles ------------------------------------------------------------------------
    def load_model(self):
        """Load the chosen bundle as the current model."""
        self._busy(True)
        self.task = EngineTask("load_model", {"path": str(self.load_path.value)},
                               "Loading model", on_result=self._loaded, on_error=self._failed,
                               on_finished=lambda: self._busy(False), owner=self)

    def _loaded(self, described, stopped):
        self._set_current(described)
        self.curves.start_live(f"{model_title(described['meta'])} (loaded)",
                               described["meta"].get("history"))
        self.refresh_runs()

    def save_model(self):
        """Save the current model to the 'Save model to' path, or its next free name."""
        chosen = str(self.out.value)
        if chosen in ("", "."):
            show_error("Choose a file in 'Save model to' first.")
            return
        path, _, note = self.bundle_destination()
        if note:
            show_info(f"Save: {note}.")

        def saved(described, stopped):
            self._set_current(described)
            self.status.value += f" (saved{'; ' + note if note else ''})"
            show_info(f"Saved the current model to {described.get('path') or path}.")

        self.task = EngineTask("save_model", {"path": path}, "Saving model",
                               on_result=saved, on_error=self._failed, owner=self)

    # -- runs ---------------------------------------------------------------------------
    def run_folders(self):
        """Folders searched for run records: beside the data, and beside models of this session."""
        folders = [str(models_folder(self.data.root))] if self.data.root not in ("", ".") else []
        paths = [*self.session_models, (self.current or {}).get("path")]
        folders += [os.path.dirname(os.path.abspath(p)) for p in paths if p]
        return list(dict.fromkeys(folders))

    def refresh_runs(self):
        """Re-read the run records and fill the runs table."""
        self.runs_task = EngineTask("list_runs", {"folders": self.run_folders()},
                                    "Reading runs", on_result=lambda r, s: self.runs.set_records(r),
                                    on_error=self._failed, owner=self)

    def _overlay_runs(self, records):
        """Draw the selected runs beside the live curves (the live run itself only once)."""
        histories = [(r, (r.get("result") or {}).get("history", {})) for r in records]
        self.curves.set_overlays([
            (f"{r.get('preset')} ({options_text(r.get('preset_options'))})", history)
            for r, history in histories if history != self.curves.live
        ])

    def _export(self, kind):
        from qtpy.QtWidgets import QFileDialog

        filters = {"csv": "CSV (*.csv)", "png": "PNG image (*.png)"}
        path, _ = QFileDialog.getSaveFileName(self.native, f"Export {kind.upper()}",
                                              f"runs.{kind}", filters[kind])
        if not path:
            return
        try:
            (self.runs.export_csv if kind == "csv" else self.curves.export_png)(path)
        except ConvnetError as exc:
            show_error(str(exc))
            return
        show_info(f"Wrote {path}")
