"""Keep the backends' native log lines off the terminal unless ``napari-convnet --verbose``.

TensorFlow 2.21 logs through absl from C++. ``TF_CPP_MIN_LOG_LEVEL=3`` silences what it logs
once imported (e.g. ``E0000 ... failed call to cuInit``), but not the lines its libraries
write while they load, before that setting is read (``WARNING: All log messages before
absl::InitializeLog() ...``, ``I0000 ... cudart_stub.cc``, the oneDNN notice): those go
straight to file descriptor 2. So the backend is imported here with descriptor 2 pointing at
a temporary file, while Python's own ``sys.stderr`` (our messages, Python warnings) keeps
writing to the terminal. What the libraries wrote is shown only if the import fails.
"""

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import tempfile

from napari_convnet.errors import ConvnetError

#: Modules imported under :func:`native_stderr_captured` for each Keras backend.
BACKEND_MODULES = {"tensorflow": ("tensorflow", "keras"), "jax": ("jax", "keras"),
                   "torch": ("torch", "keras")}
_STDERR_FD = 2


def configure(verbose):
    """Set the environment before any backend is imported: quiet, unless ``verbose``.

    Quiet forces ``TF_CPP_MIN_LOG_LEVEL=3`` (errors too: the command's own messages say what
    went wrong); ``verbose`` leaves the environment as the user set it.
    """
    if not verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


@contextlib.contextmanager
def native_stderr_captured(enabled=True):
    """Send what C libraries write to file descriptor 2 to a temporary file meanwhile.

    ``sys.stderr`` (when it writes to descriptor 2) is swapped for a stream on the real
    standard error, so Python-level messages and warnings still appear at once. If the body
    raises (other than with one of our own errors), the captured text is written to standard
    error before the exception propagates (it says why a library failed). Does nothing when
    not ``enabled``.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        swap = sys.stderr.fileno() == _STDERR_FD
    except (AttributeError, OSError, ValueError):  # not a file (e.g. a test's capture)
        swap = False
    python_stderr = sys.stderr
    saved = os.dup(_STDERR_FD)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), _STDERR_FD)
        if swap:
            sys.stderr = open(saved, "w", encoding=python_stderr.encoding,  # noqa: SIM115
                              errors=python_stderr.errors, buffering=1, closefd=False)
        try:
            yield
        except ConvnetError:  # our own message says what is wrong
            _restore(saved, python_stderr)
            raise
        except BaseException:
            _restore(saved, python_stderr)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            if text:
                python_stderr.write(text)
                python_stderr.flush()
            raise
        else:
            _restore(saved, python_stderr)


def _restore(saved, python_stderr):
    """Point descriptor 2 at the real standard error again and put ``sys.stderr`` back.

    Logging handlers created meanwhile (TensorFlow's logger takes ``sys.stderr`` when it is
    first used) are moved to the real stream, so a later warning is not lost to a closed one.
    """
    if sys.stderr is not python_stderr:
        swapped = sys.stderr
        swapped.flush()
        _move_handlers(swapped, python_stderr)
        swapped.close()
        sys.stderr = python_stderr
    os.dup2(saved, _STDERR_FD)
    os.close(saved)


def _move_handlers(old, new):
    """``StreamHandler``s writing to ``old`` write to ``new`` from now on."""
    loggers = [logging.getLogger()] + [logging.getLogger(name)
                                       for name in list(logging.Logger.manager.loggerDict)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)


def import_backend(name):
    """Import Keras and the library of backend ``name`` without their start-up log lines.

    TensorFlow too where it is installed: Keras' file handling imports it on every backend
    when it can (saving and loading bundles), which would print its lines later.
    """
    modules = list(BACKEND_MODULES.get(name, ("keras",)))
    if name != "tensorflow" and importlib.util.find_spec("tensorflow") is not None:
        modules.insert(0, "tensorflow")
    with native_stderr_captured():
        for module in modules:
            importlib.import_module(module)
