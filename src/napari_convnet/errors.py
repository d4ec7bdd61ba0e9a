"""User-facing errors shared by core, engine, CLI and widgets (no heavy imports).

Every message says what was wrong (with the received value) and what to do.
"""

#: Characters of a received value (or of a quoted message) shown in an error message: a
#: hostile file's 10^6 class names must not become an 11 MB message that freezes napari.
SHOWN = 300


def shorten(text, limit=SHOWN):
    """``text`` (any object: its ``str``) cut to ``limit`` characters, saying how many more."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


class ConvnetError(Exception):
    """A problem the user can fix: bad input, missing file, unusable dataset."""


class DatasetError(ConvnetError, ValueError):
    """A data folder or image cannot be used as given."""


class ModelError(ConvnetError, ValueError):
    """A preset, model or model bundle cannot be built, loaded or used as asked."""


class OutputError(ConvnetError, ValueError):
    """An output path cannot be used: it is (or links to) an input, or cannot be written."""


class EngineError(ConvnetError, RuntimeError):
    """The compute engine (child process) failed, crashed or did not answer."""


class EngineCrashed(EngineError):
    """The engine process died; the next request starts a fresh one."""


class JobError(EngineError):
    """A request raised an exception inside the engine.

    Attributes
    ----------
    kind : str
        Class name of the exception raised in the engine (e.g. ``"DatasetError"``).
    user_error : bool
        True when the engine raised a :class:`ConvnetError` (the message is meant for the user).
    remote_traceback : str
        Traceback text from the engine process.
    """

    def __init__(self, message, kind="Exception", user_error=False, remote_traceback=""):
        super().__init__(message)
        self.kind = kind
        self.user_error = user_error
        self.remote_traceback = remote_traceback


class JobStopped(EngineError):
    """A request was stopped by the user before it finished."""
