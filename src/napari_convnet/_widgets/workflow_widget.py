"""The "ConvNet workflow" dock: folder to results in one place, as five steps.

Data → Train → Inspect → Classify → Evaluate are tabs of one dock, under a header with the
engine's state, its Keras backend and device (the ConvNet dock's widget). The steps are the
single docks' widgets, sharing what a user would otherwise type again:

- one data folder: the Data step is the Train dock's own data section (so training uses it),
  and the Evaluate step's folder follows it;
- one current model: the engine's, trained or loaded in the Train step. The steps that need
  it say so while there is none, with a button to the step that makes it.

Each step scrolls on its own, so the dock fits a 1366×768 screen beside the canvas.
"""

from magicgui.widgets import Container, Label, PushButton
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QTabWidget

from napari_convnet._widgets.classify_widget import ClassifyWidget
from napari_convnet._widgets.engine_widget import EngineWidget
from napari_convnet._widgets.evaluate_widget import EvaluateWidget
from napari_convnet._widgets.inspect_widget import InspectWidget
from napari_convnet._widgets.train_widget import TrainWidget

#: The steps, in order: (tab title, what the step does, shown as its tooltip).
STEPS = (
    ("1 Data", "Choose and scan the labelled folder (one sub-folder per class)"),
    ("2 Train", "Train a preset on the data, or load a model bundle"),
    ("3 Inspect", "Kernels, feature maps and Grad-CAM of the current model"),
    ("4 Classify", "Classify the images, stacks, tiles and objects open in napari"),
    ("5 Evaluate", "Accuracy and confusion matrix on a split; review the mistakes"),
)
_TRAIN_STEP = 1


class _NeedsModel(Container):
    """A step that needs the current model: a line saying so, a button to the Train step,
    then the step's own widget."""

    def __init__(self, step, go_to_train):
        self.note = Label(value="No current model yet: train one or load a bundle in step 2.")
        self.go = PushButton(text="Go to 2 Train")
        self.go.changed.connect(go_to_train)
        super().__init__(widgets=[self.note, self.go, step], labels=False)
        self.native.layout().setContentsMargins(0, 0, 0, 0)
        self.missing = True

    def show_note(self, missing):
        """Show the note and the button while ``missing`` (no current model)."""
        self.missing = missing
        self.note.visible = self.go.visible = missing


class WorkflowWidget(Container):
    """One dock with the whole workflow on the images of ``napari_viewer``.

    Attributes
    ----------
    header : EngineWidget
    train, inspect, classify, evaluate : the steps' dock widgets
    model_notes : list
        The "no current model" notes of the Inspect, Classify and Evaluate steps.
    data : DatasetWidget
        The Train step's data section, shown as the Data step.
    tabs : QTabWidget
    """

    def __init__(self, napari_viewer=None):
        self.header = EngineWidget(napari_viewer)
        super().__init__(widgets=[self.header], labels=False)
        self.viewer = napari_viewer
        self.train = TrainWidget(napari_viewer)
        self.data = self.train.data
        self.train.body.remove(self.data)
        self.inspect = InspectWidget(napari_viewer)
        self.classify = ClassifyWidget(napari_viewer)
        self.evaluate = EvaluateWidget(napari_viewer)
        self.model_notes = [_NeedsModel(step, self.go_to_train)
                             for step in (self.inspect, self.classify, self.evaluate)]
        self.tabs = QTabWidget()
        data_step = Container(widgets=[self.data], labels=False, scrollable=True)
        pages = (data_step.root_native_widget, self.train.native,
                 *(step.native for step in self.model_notes))
        for page, (title, tip) in zip(pages, STEPS, strict=True):
            index = self.tabs.addTab(page, title)
            self.tabs.setTabToolTip(index, tip)
        self.native.layout().addWidget(self.tabs)
        self.native.layout().setContentsMargins(0, 0, 0, 0)
        self.data.folder.changed.connect(self._data_folder_changed)
        self._data_folder_changed(self.data.folder.value)
        # the current model changes in the engine (training, loading): poll, as the header does
        self._model = None  # the current model the steps last saw
        self._timer = QTimer(self.native)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def go_to_train(self, *_):
        """Show the Train step."""
        self.tabs.setCurrentIndex(_TRAIN_STEP)

    def _data_folder_changed(self, folder):
        if str(folder) not in ("", "."):
            self.evaluate.folder.value = folder

    def refresh(self):
        """Show or hide the "no current model" notes of the steps that need one; a new current
        model is read by the Inspect step at once (its layers, its classes)."""
        current = self.train.current
        for step in self.model_notes:
            step.show_note(current is None)
        if current is not None and current is not self._model:
            self.inspect.refresh()
        self._model = current

    def reset_choices(self, *_):
        """napari calls this on layer changes: every step refreshes its layer pickers."""
        super().reset_choices()
        for step in (self.data, self.train, self.inspect, self.classify, self.evaluate):
            step.reset_choices()
