"""The docks' plots in a real viewer: napari's theme, a readable empty state, hover values."""

from matplotlib.colors import to_rgb
from napari.utils.theme import get_theme
from qtpy.QtCore import QPoint
from qtpy.QtWidgets import QScrollArea, QToolTip

HISTORY = {"loss": [0.9, 0.6, 0.4], "val_loss": [1.0, 0.7, 0.65],
           "accuracy": [0.5, 0.7, 0.85], "val_accuracy": [0.45, 0.62, 0.75]}


def _rgb255(colour):
    return tuple(round(255 * c) for c in to_rgb(colour))


def _pixel(image, x, y):
    colour = image.pixelColor(x, y)
    return colour.red(), colour.green(), colour.blue()


def _close(a, b, tolerance=3):
    return all(abs(p - q) <= tolerance for p, q in zip(a, b, strict=True))


def _background(theme):
    return get_theme(theme).background.as_rgb_tuple()[:3]


def _train_dock(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Train")
    return viewer, widget


def _settled(qtbot, curves, after):
    """Wait for a frame drawn after ``after`` frames, with no other on its way."""
    qtbot.waitUntil(lambda: curves.draws > after and not curves._busy, timeout=10_000)


def _shown_in_dock(qtbot, widget, qwidget):
    """Scroll the dock to ``qwidget`` and wait until all of it is on screen.

    Asked again until it holds: the scroll range grows as the dock is laid out.
    """
    scrolls = [s for s in widget.native.findChildren(QScrollArea) if s.isAncestorOf(qwidget)]

    def on_screen():
        for scroll in scrolls:
            scroll.ensureWidgetVisible(qwidget)
        return qwidget.visibleRegion().boundingRect().height() >= qwidget.height()

    qtbot.waitUntil(on_screen, timeout=5000)


def test_curves_follow_the_theme_and_are_readable_before_training(make_napari_viewer, qtbot):
    # a fresh engine holds no model: a Train dock opened beside a model would plot its history
    from napari_convnet.engine import get_engine

    get_engine().restart()
    get_engine().wait_ready(240)
    viewer, widget = _train_dock(make_napari_viewer)
    qtbot.waitUntil(lambda: widget.model_checked, timeout=60_000)
    assert widget.current is None
    curves = widget.curves
    qtbot.waitUntil(lambda: curves.image is not None and not curves._busy, timeout=10_000)
    assert _close(_pixel(curves.image, 2, 2), _background(viewer.theme))

    # before any epoch: epochs 1..10 in integer ticks, loss 0..1, every label in the frame
    figure = curves.figure
    renderer = figure.canvas.get_renderer()
    frame = figure.bbox
    for metric in ("loss", "accuracy"):
        ax = curves.axes[metric]
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert min(ticks) <= 2 and max(ticks) == 10, ticks
        bottom, top = ax.get_ylim()
        labels = [*(t for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high),
                  *(t for t in ax.get_yticklabels() if bottom <= t.get_position()[1] <= top),
                  ax.title, ax.xaxis.label]
        for text in labels:
            if text.get_visible() and text.get_text():
                box = text.get_window_extent(renderer)
                assert frame.x0 <= box.x0 and box.x1 <= frame.x1, (text.get_text(), box)
                assert frame.y0 <= box.y0 and box.y1 <= frame.y1, (text.get_text(), box)
    assert curves.axes["loss"].get_ylim() == (0.0, 1.0)
    loss_labels = [t.get_text() for t in curves.axes["loss"].get_yticklabels()]
    assert "1.0" in loss_labels and "0.0" in loss_labels, loss_labels
    # the loss axes' labels end before the accuracy axes' begin; the legend sits above both
    loss_box = curves.axes["loss"].get_tightbbox(renderer)
    accuracy_box = curves.axes["accuracy"].get_tightbbox(renderer)
    assert loss_box.x1 < accuracy_box.x0
    legend = figure.legends[0].get_window_extent(renderer)
    assert legend.y0 >= max(loss_box.y1, accuracy_box.y1) - 1
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["train", "validation"]

    for theme in ("light", "dark"):
        drawn = curves.draws
        viewer.theme = theme
        _settled(qtbot, curves, drawn)
        assert _close(_pixel(curves.image, 2, 2), _background(theme)), theme
        text = get_theme(theme).text.as_rgb_tuple()[:3]
        assert _rgb255(curves.axes["loss"].title.get_color()) == text
        handles = figure.legends[0].get_lines()
        assert [h.get_color() for h in handles] == [curves.colors.train, curves.colors.validation]
        assert curves.colors.theme == theme


def test_train_and_validation_differ_and_hover_shows_the_epoch(make_napari_viewer, qtbot):
    _, widget = _train_dock(make_napari_viewer)
    curves = widget.curves
    _shown_in_dock(qtbot, widget, curves)
    drawn = curves.draws
    curves.start_live("course-cnn", HISTORY, caption="epoch 3/5", epochs=5)
    curves.set_overlays([("older run", {"loss": [0.8, 0.5], "val_loss": [0.9, 0.8]})])
    _settled(qtbot, curves, drawn)

    lines = {line.get_gid(): line for line in curves.axes["loss"].lines}
    train, val = lines["live train"], lines["live validation"]
    assert to_rgb(train.get_color()) != to_rgb(val.get_color())
    assert train.get_linestyle() != val.get_linestyle()
    older = lines["overlay 0 train"]
    assert to_rgb(older.get_color()) not in {to_rgb(train.get_color()), to_rgb(val.get_color())}
    assert lines["overlay 0 validation"].get_linestyle() == val.get_linestyle()
    # the frame shows them: each epoch's marker in its line's colour
    for line, value in ((train, 0.6), (val, 0.7)):
        point = curves.widget_point("loss", 2, value).toPoint()
        around = [_pixel(curves.image, point.x() + dx, point.y() + dy)
                  for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        assert any(_close(p, _rgb255(line.get_color()), 12) for p in around), around
    # the legend lies outside both axes
    renderer = curves.figure.canvas.get_renderer()
    legend = curves.figure.legends[0].get_window_extent(renderer)
    for ax in curves.axes.values():
        assert legend.y0 >= ax.get_window_extent(renderer).y1

    point = curves.widget_point("loss", 2.1, 0.3).toPoint()
    qtbot.mouseMove(curves, QPoint(point.x() + 3, point.y()))
    qtbot.mouseMove(curves, point)
    qtbot.waitUntil(lambda: curves.hover_text.startswith("epoch 2\n"), timeout=5000)
    text = curves.hover_text
    assert "train loss 0.6000" in text and "validation loss 0.7000" in text, text
    assert "train accuracy 70.0 %" in text and "validation accuracy 62.0 %" in text, text
    assert "older run: train loss 0.5000 · validation loss 0.8000" in text, text
    qtbot.waitUntil(lambda: QToolTip.isVisible() and QToolTip.text() == text, timeout=5000)

    # past the epochs trained so far there is nothing to show
    point = curves.widget_point("accuracy", 5, 0.5).toPoint()
    qtbot.mouseMove(curves, point)
    qtbot.waitUntil(lambda: curves.hover_text == "", timeout=5000)


def test_confusion_matrix_follows_the_theme_and_names_the_hovered_cell(make_napari_viewer,
                                                                        qtbot):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-convnet", "Evaluate")
    matrix = widget.matrix
    _shown_in_dock(qtbot, widget, matrix)
    matrix.show_matrix([[5, 2, 0], [1, 7, 0], [0, 3, 9]], ["cat", "dog", "owl"])
    for theme in ("dark", "light"):
        viewer.theme = theme
        matrix.draw()
        image = matrix.grab().toImage()
        assert _close(_pixel(image, 2, 2), _background(theme)), theme

    matrix.draw()
    ratio = matrix.devicePixelRatioF()
    x, y = matrix.ax.transData.transform((1, 2))  # predicted dog, true owl
    point = QPoint(round(x / ratio), round((matrix.figure.bbox.height - y) / ratio))
    qtbot.mouseMove(matrix, point + QPoint(4, 0))
    qtbot.mouseMove(matrix, point)
    qtbot.waitUntil(lambda: matrix.hover_text.startswith("true: owl"), timeout=5000)
    text = matrix.hover_text
    assert "predicted: dog" in text and "3 images" in text and "25.0 %" in text, text
    qtbot.waitUntil(lambda: QToolTip.isVisible() and QToolTip.text() == text, timeout=5000)
