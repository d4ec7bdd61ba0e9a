"""``napari-convnet import SOURCE --out BUNDLE.keras``: any Keras classifier as a model bundle."""

from napari_convnet import options


def add_parser(subparsers):
    """Register the ``import`` subcommand."""
    parser = subparsers.add_parser(
        "import", help="make a model bundle of a Keras classifier from elsewhere (.keras, .h5, "
                       "bioimage.io package)",
        description="Save SOURCE (a Keras 3 .keras file, a tf.keras/Keras 2 .h5 file, or a "
                    "bioimage.io model package with Keras weights) as a model bundle, with its "
                    "class names and the preprocessing it was trained with, so that inspect, "
                    "predict, evaluate, train --continue and napari's docks use it. A model "
                    "ending in logits gets a softmax; one sigmoid unit becomes two classes. "
                    "A package brings its class names and normalisation.",
    )
    parser.add_argument("source", metavar="SOURCE", help=".keras, .h5 or bioimage.io .zip")
    parser.add_argument("--out", required=True, metavar="BUNDLE.keras",
                        help="the model bundle to write")
    parser.add_argument("--classes", metavar="NAMES|FILE",
                        help="class names in the order of the model's outputs: a,b,c or a text "
                             "file with one per line (a package's own by default)")
    from napari_convnet.cli.data import add_config_arguments

    group = add_config_arguments(parser, preparation_only=True,
                                 normalization=options.IMPORT_NORMALIZATION)
    group.add_argument("--levels", nargs="+", type=float, metavar="LOW HIGH",
                       help="with --normalization dataset: the intensity mapped to 0 and the "
                            "one mapped to 1, for each channel")
    parser.add_argument("--trust", action="store_true",
                        help="load Lambda layers (Python code stored in the file): only for "
                             "files whose author you trust")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(func=run, check=check)


def _preprocessing(args):
    from napari_convnet.cli.data import config_kwargs

    kwargs = config_kwargs(args)
    if args.levels is not None:
        if len(args.levels) % 2:
            from napari_convnet.errors import ModelError

            raise ModelError(f"--levels takes pairs LOW HIGH, one per channel. Received "
                             f"{len(args.levels)} numbers.")
        kwargs["levels"] = [args.levels[i:i + 2] for i in range(0, len(args.levels), 2)]
    return kwargs


def check(args):
    """The files, class names and numbers, before Keras is imported."""
    import os

    from napari_convnet import class_list
    from napari_convnet.errors import ModelError

    if not os.path.isfile(args.source):
        raise ModelError(f"SOURCE {args.source!r} is not a file. Give a .keras, .h5 or "
                         "bioimage.io .zip file.")
    if not args.out.endswith(".keras"):
        raise ModelError(f"--out must end in '.keras' (a model bundle). Received: {args.out!r}")
    if args.classes is not None:
        class_list.parse(args.classes)
    _preprocessing(args)


def run(args):
    """Import, then say what the bundle holds and what was changed."""
    from napari_convnet.core.sharing.importing import import_model

    model, meta = import_model(args.source, args.out, class_names=args.classes,
                               preprocessing=_preprocessing(args), safe_mode=not args.trust,
                               overwrite=args.overwrite)
    config = meta["data_config"]
    height, width, channels = meta["input_shape"]
    print(f"Saved {args.out}: {len(meta['class_names'])} classes "
          f"({', '.join(meta['class_names'])}), input {height}x{width}x{channels}, "
          f"normalization {config['normalization']}, resize {config['resize']}.")
    for note in meta["imported"]["notes"]:
        print(f"Note: {note}")
    return 0
