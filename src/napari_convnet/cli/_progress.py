"""Progress on the command line, from the ``on_event`` events of core.

On a terminal one line is redrawn in place (carriage return) with a bar and the time left,
e.g. ``Epoch 3/10  [#####-----]  120/240 batches  ETA 0:12  loss 0.4210  acc 0.8125``.
Elsewhere (a log file, a pipe) nothing is redrawn: training prints one line per epoch, and
the stages of evaluate/predict print nothing.
"""

import shutil
import sys
import time

#: Characters of the bar between the brackets.
BAR_WIDTH = 24
_METRICS = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}


def format_eta(seconds):
    """``"0:12"``, ``"12:05"`` or ``"1:02:03"``; ``"-:--"`` when unknown (None)."""
    if seconds is None:
        return "-:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(done, total, width=BAR_WIDTH):
    """``"[######------]"``: ``done`` of ``total`` filled."""
    filled = min(width, int(width * done / total)) if total else 0
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def metrics_text(logs):
    """``"loss 0.4210  acc 0.8125  val_loss ..."`` from Keras logs."""
    return "  ".join(f"{short} {logs[k]:.4f}" for k, short in _METRICS.items() if k in logs)


def _is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


class _Line:
    """One terminal line redrawn in place, with the rate of the work it shows."""

    def __init__(self, stream, columns, clock):
        self.stream = stream
        self.columns = columns or shutil.get_terminal_size((100, 24)).columns
        self.clock = clock
        self.drawn = False
        self._key = None
        self._start = None

    def eta(self, key, done, total):
        """Seconds left for ``total`` at the rate since the first event of ``key``."""
        now = self.clock()
        if key != self._key:
            self._key, self._start = key, (now, done)
            return None
        started, done0 = self._start
        if done <= done0 or now <= started:
            return None
        return (now - started) / (done - done0) * max(0, total - done)

    def draw(self, text):
        width = max(1, self.columns - 1)  # the last column would wrap on some terminals
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()
        self.drawn = True

    def clear(self):
        """Wipe the line (before other output, or when the work is done)."""
        if self.drawn:
            self.stream.write("\r" + " " * max(1, self.columns - 1) + "\r")
            self.stream.flush()
            self.drawn = False
        self._key = None


class ProgressPrinter:
    """Training events -> a redrawn bar on a terminal, one line per finished epoch.

    Parameters
    ----------
    stream : file, optional
        Where progress goes (default ``sys.stdout``); the bar is drawn only if it is a tty.
    quiet : bool
        Print no progress at all (messages of ``type`` ``"message"`` still go to stderr).
    columns : int, optional
        Terminal width (default: asked from the terminal).
    clock : callable
        Seconds, for the epoch times and the time left (tests pass a fake one).
    """

    def __init__(self, stream=None, quiet=False, columns=None, clock=time.monotonic):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = _is_tty(self.stream)
        self.clock = clock
        self._line = _Line(self.stream, columns, clock)
        self._epoch_started = clock()

    def __call__(self, event):
        """Handle one ``on_event`` event of :func:`napari_convnet.core.training`."""
        kind = event.get("type")
        if kind == "message":
            self._line.clear()
            print(f"{event['level']}: {event['text']}", file=sys.stderr)
        elif kind == "progress":  # indexing/loading: the first epoch starts after it
            self._epoch_started = self.clock()
            if self.tty and not self.quiet:
                _draw_stage(self._line, event)
        elif kind == "batch" and self.tty and not self.quiet:
            key = ("epoch", event["epoch"])
            left = self._line.eta(key, event["batch"], event["batches"])
            done, total = event["batch"], event["batches"]
            self._line.draw(f"Epoch {event['epoch']}/{event['epochs']}  {bar(done, total)}  "
                            f"{done}/{total} batches  ETA {format_eta(left)}  "
                            f"{metrics_text(event['logs'])}")
        elif kind == "epoch":
            seconds = self.clock() - self._epoch_started
            self._epoch_started = self.clock()
            if self.quiet:
                return
            self._line.clear()
            self.stream.write(f"Epoch {event['epoch']}/{event['epochs']}  "
                              f"{metrics_text(event['logs'])}  ({seconds:.1f} s)\n")
            self.stream.flush()

    def close(self):
        """Wipe a bar left half-drawn (training stopped or interrupted mid-epoch)."""
        self._line.clear()


def _draw_stage(line, event):
    """``predicting  [####------]  120/480  ETA 0:07`` for a ``progress`` event."""
    done, total = event.get("done", 0), event.get("total") or 0
    if total and done >= total:
        line.clear()
        return
    left = line.eta(("stage", event.get("stage")), done, total) if total else None
    count = f"{done}/{total}" if total else f"{done}"
    line.draw(f"{event.get('stage', 'working')}  {bar(done, total)}  {count}  "
              f"ETA {format_eta(left)}")


class StageProgress:
    """``progress`` events of evaluate/predict -> a redrawn line on a terminal, else nothing.

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr``, so that the results on standard output stay clean.
    quiet : bool
        Draw nothing.
    columns, clock
        As for :class:`ProgressPrinter`.
    """

    def __init__(self, stream=None, quiet=False, columns=None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.enabled = _is_tty(self.stream) and not quiet
        self._line = _Line(self.stream, columns, clock)

    def __call__(self, event):
        """Handle one ``on_event`` event."""
        if self.enabled and event.get("type") == "progress":
            _draw_stage(self._line, event)

    def close(self):
        """Wipe the line before the results are printed."""
        self._line.clear()
