"""The handlers of the engine child: request name → ``handler(ctx, **kwargs)`` → picklable value.

Runs only inside the engine child (imports Keras/TensorFlow). Each module of this package
holds the handlers of one area (``data``, ``training``, ``prediction``, ``inspection``,
``evaluation``, ``info``); each handler is a thin adapter from a request to
``napari_convnet.core``, no ML logic lives here. The engine's *current model* (set by
training or loading, used by the others) is read with :func:`current`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from napari_convnet.errors import EngineError, ModelError  # noqa: E402

_HANDLERS = {}


def handler(name):
    """Register ``fn(ctx, **kwargs)`` as the handler of request ``name``."""

    def register(fn):
        _HANDLERS[name] = fn
        return fn

    return register


def load_all():
    """Import every module of this package so that its handlers are registered."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def run(op, ctx, kwargs):
    """Run request ``op`` with ``kwargs``; raise EngineError for an unknown request."""
    try:
        fn = _HANDLERS[op]
    except KeyError:
        raise EngineError(
            f"The engine has no request named {op!r}. Known requests: {sorted(_HANDLERS)}. "
            "Is the plugin installed twice in different versions?"
        ) from None
    return fn(ctx, **kwargs)


def current(ctx):
    """Return ``(model, meta)`` of the current model, or raise a ModelError saying what to do."""
    if ctx.state.get("model") is None:
        raise ModelError("There is no current model yet: train one or load a model bundle "
                         "(.keras) in the Train dock first.")
    return ctx.state["model"], ctx.state["meta"]
