"""The ``napari-convnet`` command: info, data, presets, train, evaluate, predict, inspect,
import, export, demo.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which sets ``func`` on its parser, and ``check`` for the
argument checks that need no backend). Subcommand modules import ``napari_convnet.core``
(and so Keras) only inside ``func``, so ``--help`` and argument mistakes are answered at
once: ``check`` runs before the backend is chosen (``auto`` may import JAX or PyTorch) and
imported. The CLI calls core in-process; the GUI calls the same core through the engine.
Subcommands that run no Keras in this process set ``keras=False``.
"""

import argparse
import importlib
import sys

from napari_convnet import __version__, backends
from napari_convnet.cli import _quiet
from napari_convnet.errors import ConvnetError

# order = order in --help
# (the modules: ``import`` is a Python keyword, so its module is import_model)
_SUBCOMMANDS = ("info", "data", "presets", "train", "evaluate", "predict", "inspect",
                "import_model", "export", "demo")


def build_parser():
    """Return the argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="napari-convnet",
        description="Train, inspect and apply convolutional image classifiers (Keras).",
    )
    parser.add_argument("--version", action="version", version=f"napari-convnet {__version__}")
    parser.add_argument(
        "--backend", choices=backends.CHOICES, default=None,
        help="Keras backend to run on (default: KERAS_BACKEND, else auto); auto = the "
             f"first of {', '.join(backends.AUTO_ORDER)} that sees a GPU, else tensorflow")
    parser.add_argument(
        "--verbose", action="store_true",
        help="let TensorFlow/JAX/PyTorch print their own log lines (hidden by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"napari_convnet.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"napari_convnet.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def _bytes_safe_streams():
    """Print file and class names byte for byte, as the CSV files hold them (docs/cli.md).

    Linux names are bytes; Python holds the undecodable ones as surrogate escapes, which a
    strict stdout (a UTF-8 locale other than C.UTF-8) refuses with a traceback. Messages on
    stderr escape them (``\\xff``), as Python's own stderr does.
    """
    for stream, bytes_ok in ((sys.stdout, True), (sys.stderr, False)):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            utf8 = (stream.encoding or "").lower().replace("-", "") == "utf8"
            stream.reconfigure(errors="surrogateescape" if utf8 and bytes_ok
                               else "backslashreplace")


def main(argv=None):
    """Run the command line; return the process exit status (0 ok, 1 failed, 2 bad input)."""
    _bytes_safe_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet.configure(args.verbose)
    try:
        if getattr(args, "check", None):
            args.check(args)
        with _quiet.native_stderr_captured(enabled=not args.verbose):
            name = backends.select(args.backend)
        if getattr(args, "keras", True) and not args.verbose:
            _quiet.import_backend(name)
        return int(args.func(args) or 0)
    except ConvnetError as exc:
        print(f"napari-convnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the user named; the core's own messages are nicer
        print(f"napari-convnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-convnet {args.command}: interrupted", file=sys.stderr)
        return 130
