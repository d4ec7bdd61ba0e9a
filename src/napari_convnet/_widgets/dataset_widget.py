"""Dataset section: pick a labelled folder, see its summary, open samples per class as a layer.

Scanning and reading run in the engine; this widget only gathers options and shows results.
The train widget embeds it as its data section.
"""

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    PushButton,
    SpinBox,
    TextEdit,
)
from napari.utils.notifications import show_error

from napari_convnet import help_text
from napari_convnet._layers import add_or_update, samples_layer
from napari_convnet._sample_data import digits_folder
from napari_convnet._widgets._sections import Folded, explain, remember
from napari_convnet._widgets.tasks import EngineTask, error_message
from napari_convnet.options import (
    AUTO,
    AUTO_MAX_SIDE,
    DATA_DEFAULTS,
    IMAGE_SIDE,
    NORMALIZATIONS,
    RESIZE_MODES,
    SAMPLES_PER_CLASS,
    SEED,
    SPLIT,
    STACK_RULES,
)

_NORMALIZATION_TIP = (
    "dataset: fixed levels measured on the training images (1–99.8 %) → 0–1, the same for "
    "every image, tile and object (keeps brightness differences between classes); "
    "percentile: each image stretched on its own; range: ÷255 or ÷65535; none")


def format_summary(summary):
    """Human-readable text of a dataset summary (the engine's ``scan_dataset`` result)."""
    lines = [f"{len(summary['class_names'])} classes ({summary['layout']} layout): "
             + ", ".join(summary["class_names"])]
    for split, per_class in summary["counts"].items():
        counts = ", ".join(f"{k} {v}" for k, v in per_class.items())
        lines.append(f"{split}: {summary['totals'][split]} ({counts})")
    shapes = ", ".join(f"{k} ×{v}" for k, v in summary["shapes"].items())
    dtypes = ", ".join(f"{k} ×{v}" for k, v in summary["dtypes"].items())
    lines.append(f"shapes seen: {shapes}")
    lines.append(f"dtypes seen: {dtypes}; model input "
                 f"{summary['image_size'][0]}×{summary['image_size'][1]}×{summary['channels']}")
    if summary.get("image_size_rule"):
        lines.append(f"image size {summary['image_size_rule']}")
    if summary.get("levels"):
        levels = ", ".join(f"{lo:.4g}–{hi:.4g}" for lo, hi in summary["levels"])
        lines.append(f"dataset levels (per channel) {levels} → 0–1")
    imbalance = summary["imbalance"]
    if imbalance["imbalanced"]:
        lines.append(f"imbalanced: {imbalance['largest']} has {imbalance['ratio']}× the images "
                     f"of {imbalance['smallest']} (use class weights)")
    if summary["upscaled"]:
        lines.append(f"{summary['upscaled']} images smaller than the input size are upscaled")
    lines += summary.get("notes", [])
    bad = summary["bad_files"]
    if bad:
        lines.append(f"{len(bad)} file(s) skipped:")
        lines += [f"  {b['path']}: {b['reason']}" for b in bad[:50]]
        if len(bad) > 50:
            lines.append(f"  … and {len(bad) - 50} more")
    return "\n".join(lines)


class DatasetWidget(Container):
    """Choose a data folder and preprocessing; scan it; open a few samples per class."""

    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        self.folder = FileEdit(mode="d", label="Data folder", tooltip=(
            "One subfolder per class, or train/ val/ test/ folders each holding class folders."))
        self.use_digits = PushButton(text="Use the bundled digits sample")
        self.auto_size = CheckBox(value=DATA_DEFAULTS["image_size"] == AUTO,
                                  text="Image size from the data", tooltip=(
            "The images' own size when they share one, else the median size; longest side at "
            f"most {AUTO_MAX_SIDE}. The size chosen is shown after a scan."))
        self.image_height = SpinBox(value=64, min=IMAGE_SIDE[0], max=IMAGE_SIDE[1],
                                    label="Image height")
        self.image_width = SpinBox(value=64, min=IMAGE_SIDE[0], max=IMAGE_SIDE[1],
                                   label="Image width")
        self.normalization = ComboBox(value=DATA_DEFAULTS["normalization"],
                                      choices=list(NORMALIZATIONS), label="Normalisation",
                                      tooltip=_NORMALIZATION_TIP)
        self.resize = ComboBox(value=DATA_DEFAULTS["resize"], choices=list(RESIZE_MODES),
                               label="Resize",
                               tooltip="Keep the aspect ratio by padding or cropping, or stretch")
        self.stack_rule = ComboBox(value=DATA_DEFAULTS["stack_rule"], choices=list(STACK_RULES),
                                   label="Z/T stacks", tooltip=(
            "max projection, middle slice, or every slice as its own sample"))
        self.validation_split = FloatSpinBox(value=DATA_DEFAULTS["validation_split"], min=0.05,
                                             max=SPLIT[1], step=0.05, label="Validation split")
        self.seed = SpinBox(value=DATA_DEFAULTS["seed"], min=SEED[0], max=SEED[1], label="Seed")
        self.scan = PushButton(text="Scan folder")
        self.open_samples = PushButton(text="Open samples as layer")
        self.per_class = SpinBox(value=4, min=SAMPLES_PER_CLASS[0], max=SAMPLES_PER_CLASS[1],
                                label="Samples per class")
        self.summary = TextEdit(value="", label="Summary")
        self.summary.read_only = True
        self.preparation = Folded("Preparation options (normalisation, resize, stacks, split)",
                                  [self.normalization, self.resize, self.stack_rule,
                                   self.validation_split, self.seed])
        self.extend([
            self.folder, self.use_digits, self.auto_size, self.image_height, self.image_width,
            self.preparation, self.scan, self.per_class, self.open_samples, self.summary,
        ])
        explain(self, help_text.DATA)
        remember(self, napari_viewer, ["folder", *help_text.DATA, "auto_size", "normalization",
                                       "resize", "stack_rule"])
        self.last_summary = None
        self.task = None
        self.use_digits.changed.connect(self._use_digits)
        self.auto_size.changed.connect(self._size_mode)
        self._size_mode()
        self.scan.changed.connect(self.start_scan)
        self.open_samples.changed.connect(self.start_samples)

    @property
    def root(self):
        """The chosen folder as a string."""
        return str(self.folder.value)

    def config(self):
        """The chosen preprocessing as a ``DataConfig`` dict."""
        return {
            "image_size": AUTO if self.auto_size.value else
            [int(self.image_height.value), int(self.image_width.value)],
            "normalization": self.normalization.value,
            "resize": self.resize.value,
            "stack_rule": self.stack_rule.value,
            "validation_split": float(self.validation_split.value),
            "seed": int(self.seed.value),
        }

    def _use_digits(self):
        self.folder.value = digits_folder()
        self.auto_size.value = True

    def _size_mode(self):
        self.image_height.enabled = self.image_width.enabled = not self.auto_size.value

    def _busy(self, busy):
        self.scan.enabled = self.open_samples.enabled = not busy

    def start_scan(self):
        """Scan the folder in the engine; show the summary when done."""
        self._busy(True)
        self.summary.value = "scanning…"
        self.task = EngineTask(
            "scan_dataset", {"root": self.root, "config": self.config()}, "Scanning dataset",
            on_result=self._show_summary, on_error=self._failed,
            on_finished=lambda: self._busy(False), owner=self)

    def _show_summary(self, summary, stopped):
        self.last_summary = summary
        self.summary.value = format_summary(summary)
        if self.auto_size.value and summary.get("image_size"):
            # the (greyed) size boxes show the size taken from the data: unticking the box
            # starts from it
            self.image_height.value, self.image_width.value = summary["image_size"][:2]

    def _failed(self, exc):
        message = error_message(exc)
        self.summary.value = message
        show_error(message)

    def start_samples(self):
        """Read a few preprocessed samples per class in the engine; add them as a layer."""
        self._busy(True)
        self.task = EngineTask(
            "dataset_samples",
            {"root": self.root, "config": self.config(), "per_class": int(self.per_class.value)},
            "Reading samples", on_result=self._add_samples, on_error=self._failed,
            on_finished=lambda: self._busy(False), owner=self)

    def _add_samples(self, result, stopped):
        if self.viewer is not None:
            add_or_update(self.viewer, samples_layer(result))
