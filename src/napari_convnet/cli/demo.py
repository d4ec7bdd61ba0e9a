"""``napari-convnet demo``: train course-cnn on the bundled digits and report its accuracy."""

import os
import tempfile
from pathlib import Path

from napari_convnet.errors import DatasetError

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "digits"


def add_parser(subparsers):
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help="train course-cnn on the bundled digits sample and report accuracy",
        description="Train the course's CNN on the bundled handwritten digits (28x28, 10 "
                    "classes) with a held-out test split; no display or download needed.",
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    parser.add_argument("--out", metavar="MODEL.keras",
                        help="keep the bundle here (default: a temporary folder); an existing "
                             "file is refused (see --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out bundle")
    parser.add_argument("--data", metavar="DATA", default=None,
                        help="train on this folder instead of the bundled digits")
    parser.add_argument("--quiet", action="store_true",
                        help="print no progress (the bar on a terminal, the epoch lines "
                             "elsewhere)")
    parser.set_defaults(func=run, check=check)


def check(args):
    """The arguments, before Keras is imported (``main`` runs this)."""
    from napari_convnet.cli import _checks
    from napari_convnet.cli.train import check_out

    if args.out is not None:
        check_out(args.out, args.overwrite)
    _checks.train_numbers(args)
    data = Path(args.data) if args.data else SAMPLE
    if not data.is_dir():
        raise DatasetError(
            f"The demo dataset is missing: {str(data)!r} does not exist. Reinstall "
            "napari-convnet, or pass a folder of class folders with --data DATA."
        )


def run(args):
    """Train, print progress, validation and test accuracy, and where the model is kept."""
    from napari_convnet.cli._progress import ProgressPrinter
    from napari_convnet.cli.train import print_summary
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.training import TrainConfig, train_from_folder

    data = Path(args.data) if args.data else SAMPLE
    config = DataConfig(image_size=(28, 28), validation_split=0.2, test_split=0.2)
    train = TrainConfig(epochs=args.epochs, batch_size=32, learning_rate=3e-3)
    print(f"demo: course-cnn on {data} for {args.epochs} epoch(s)")
    progress = ProgressPrinter(quiet=args.quiet)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or os.path.join(tmp, "demo.keras")
        try:
            _, meta, result = train_from_folder(
                data, "course-cnn", config, train, out=out, overwrite=args.overwrite,
                on_event=progress)
        finally:
            progress.close()
        print_summary(meta, result, args.out)
    if args.out is None:
        print("the demo keeps no model (it trained in a temporary folder, now deleted); to "
              "keep one, add --out demo.keras, or train your own: napari-convnet train DATA "
              "--preset course-cnn --out model.keras")
    return 0
