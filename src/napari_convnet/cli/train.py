"""``napari-convnet train DATA --preset NAME --epochs N --out MODEL.keras``."""

import os

from napari_convnet import backends, options, preset_table
from napari_convnet.cli import _checks
from napari_convnet.cli._progress import ProgressPrinter
from napari_convnet.cli.data import add_config_arguments, config_kwargs
from napari_convnet.errors import ModelError
from napari_convnet.filenames import free_bundle_path

_TRAIN = options.TRAIN_DEFAULTS


def add_parser(subparsers):
    """Register the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train", help="train a preset on a folder of labelled images and save a model bundle",
        description="Train a model preset on DATA/<class>/<images> (or train/val/test "
                    "folders); write MODEL.keras and its run record MODEL.run.json.",
    )
    parser.add_argument("data", metavar="DATA", help="folder of class folders")
    parser.add_argument("--preset", help="model preset (see `napari-convnet presets`); "
                                         "optional with --continue")
    parser.add_argument("--epochs", type=int, default=_TRAIN["epochs"],
                        help=f"epochs to run (default {_TRAIN['epochs']})")
    parser.add_argument("--out", required=True, metavar="MODEL.keras",
                        help="bundle to write; an existing file is refused (see --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out bundle (e.g. to continue a model into "
                             "its own file)")
    add_model_arguments(parser)
    add_training_arguments(parser)
    add_config_arguments(parser)
    parser.set_defaults(func=run, check=check)


def add_model_arguments(parser):
    """Preset options (dropout, L2, batch normalisation, augmentation, transfer weights)."""
    group = parser.add_argument_group("model options")
    group.add_argument("--augment", nargs="?", const="course", choices=("course", "microscopy"),
                       help="data augmentation inside the model: 'course' (shift + horizontal "
                            "flip, the default when given alone) or 'microscopy' (flips, 90° "
                            "rotations, shift, contrast)")
    group.add_argument("--dropout", action="store_true", help="VGG/transfer: course dropout")
    group.add_argument("--batchnorm", action="store_true", help="VGG: batch normalisation")
    group.add_argument("--l2", type=float, metavar="VALUE", help="VGG: L2 kernel regularisation")
    group.add_argument("--weights", metavar="PATH",
                       help="vgg16/mobilenetv2: ImageNet weights file, 'imagenet' (Keras "
                            "cache, the default) or 'random' (untrained)")
    group.add_argument("--fine-tune", nargs="?", type=int, const=-1, metavar="N",
                       help="vgg16/mobilenetv2: unfreeze the top N backbone layers (all "
                            "when N is left out)")


def add_training_arguments(parser):
    """Optimiser, batch size, early stopping, continuing, checkpointing, devices."""
    group = parser.add_argument_group("training")
    rates = ", ".join(f"{rate:g} for {name}" for name, rate in options.LEARNING_RATES.items())
    group.add_argument("--batch-size", type=int, default=_TRAIN["batch_size"],
                       help=f"batch size (default {_TRAIN['batch_size']})")
    group.add_argument("--optimizer", choices=options.OPTIMIZERS, default=_TRAIN["optimizer"])
    group.add_argument("--lr", type=float, default=None, help=f"learning rate (default {rates})")
    group.add_argument("--momentum", type=float, default=_TRAIN["momentum"],
                       help=f"SGD momentum (default {_TRAIN['momentum']})")
    group.add_argument("--early-stopping", type=int, metavar="N",
                       help="stop after N epochs without improvement")
    group.add_argument("--monitor", choices=options.MONITORS, default=_TRAIN["monitor"],
                       help="metric that picks the best epoch (its weights are saved)")
    group.add_argument("--class-weights", action="store_true",
                       help="weight the loss by balanced class weights (imbalanced data)")
    group.add_argument("--continue", dest="continue_from", metavar="MODEL.keras",
                       help="train this bundle further (its preprocessing and classes are kept)")
    group.add_argument("--checkpoint", metavar="FILE.weights.h5",
                       help="also write the best weights here at each improvement")
    group.add_argument("--mixed-precision", action="store_true", help="float16 on a GPU")
    group.add_argument("--strategy", choices=("mirrored", "multiworker"),
                       help="tf.distribute strategy (several GPUs / machines)")
    group.add_argument("--quiet", action="store_true",
                       help="print no progress (the bar on a terminal, the epoch lines "
                            "elsewhere)")


def preset_options(args):
    """The preset keyword options given on the command line."""
    options = {}
    if args.augment:
        options["augment"] = args.augment
    if args.dropout:
        options["dropout"] = True
    if args.batchnorm:
        options["batchnorm"] = True
    if args.l2 is not None:
        options["l2"] = args.l2
    if args.weights is not None:
        options["weights"] = args.weights
    if args.fine_tune is not None:
        options["fine_tune"] = True if args.fine_tune == -1 else args.fine_tune
    return options


def train_config(args):
    """A TrainConfig from the command line."""
    from napari_convnet.core.training import TrainConfig

    return TrainConfig(
        optimizer=args.optimizer, learning_rate=args.lr,  # None: options.LEARNING_RATES
        momentum=args.momentum, batch_size=args.batch_size, epochs=args.epochs,
        early_stopping=args.early_stopping,
        monitor=args.monitor, use_class_weights=args.class_weights,
        seed=args.seed if args.seed is not None else _TRAIN["seed"],
        mixed_precision=args.mixed_precision, checkpoint=args.checkpoint, strategy=args.strategy,
    )


def print_summary(meta, result, out):
    """Print the final accuracy lines of a run."""
    metrics = meta["metrics"]
    how = ("stopped" if result.stopped_by_user else
           "early stopping" if result.stopped_early else "finished")
    peak = result.peak_gpu_memory_bytes
    print(f"{how} after {result.initial_epoch + result.epochs_run} epoch(s) in "
          f"{result.seconds:.1f} s on {result.device} (Keras backend "
          f"{backends.TITLES[meta['versions']['backend']]}"
          + (f"; peak GPU memory {peak / 2**30:.2f} GiB)" if peak else ")"))
    if metrics.get("best_val_accuracy") is not None:
        kept = f"; its weights are in {out}" if out else ""
        print(f"validation accuracy {metrics['best_val_accuracy']:.4f} "
              f"(best epoch {result.best_epoch}{kept})")
    else:
        print(f"training accuracy {result.final.get('accuracy', float('nan')):.4f} "
              "(no validation images)")
    if "test_accuracy" in metrics:
        print(f"test accuracy {metrics['test_accuracy']:.4f}")
    if out:
        print(f"saved {out} (run record {str(out)[:-len('.keras')]}.run.json)")


def check_out(out, overwrite):
    """Refuse an ``--out`` bundle that exists, unless ``--overwrite``; before any heavy import.

    Raises
    ------
    ModelError
        Naming the next free file name and ``--overwrite``.
    """
    out = os.fspath(out)
    if not out.endswith(".keras"):
        raise ModelError(f"--out must end in '.keras'. Received: {out!r}")
    if os.path.exists(out) and not overwrite:
        raise ModelError(
            f"--out {out!r} exists already; a new run does not replace it. Give another file "
            f"(the next free name is {free_bundle_path(out)!r}), or add --overwrite to "
            "replace it."
        )


def check(args):
    """Every argument that can be checked before Keras is imported (``main`` runs this)."""
    if args.preset is None and args.continue_from is None:
        raise ModelError("Give a preset (--preset NAME; see `napari-convnet presets`) or a "
                         "model to continue (--continue MODEL.keras).")
    check_out(args.out, args.overwrite)
    if args.preset is not None:
        preset_table.get(args.preset)  # an unknown name: the message lists the presets
    if args.continue_from is not None:
        _checks.bundle_file(args.continue_from)
    _checks.train_numbers(args)
    if args.checkpoint is not None and not args.checkpoint.endswith(".weights.h5"):
        raise ModelError("`checkpoint` must be None or a file name ending in '.weights.h5'. "
                         f"Received: checkpoint={args.checkpoint!r}")
    kwargs = config_kwargs(args)
    if args.continue_from is None:
        _checks.data_config(kwargs)
    _checks.data_folder(args.data)


def run(args):
    """Train and save the bundle; print progress and the final accuracy (after :func:`check`)."""
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.training import train_from_folder

    kwargs = config_kwargs(args)
    # continuing keeps the bundle's preprocessing: pass only the options given
    data_config = kwargs if args.continue_from else DataConfig(**kwargs)
    options = preset_options(args)
    progress = ProgressPrinter(quiet=args.quiet)
    try:
        _, meta, result = train_from_folder(
            args.data, args.preset, data_config, train_config(args), options or None,
            out=args.out, on_event=progress, model=args.continue_from,
            overwrite=args.overwrite,
        )
    finally:
        progress.close()
    print_summary(meta, result, args.out)
    return 0
