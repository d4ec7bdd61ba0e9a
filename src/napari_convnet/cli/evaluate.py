"""``napari-convnet evaluate MODEL.keras DATA``: accuracy, per-class metrics, confusion matrix."""

import json


def add_parser(subparsers):
    """Register the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a model bundle on a folder of labelled images",
        description="Evaluate MODEL.keras on DATA's test split if it has one (a test/ folder, "
                    "or the bundle's test_split of a flat folder), else on all of DATA. "
                    "Images are preprocessed with the bundle's own rules.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model bundle")
    parser.add_argument("data", metavar="DATA", help="folder of class folders")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (accuracy, class_names, confusion_matrix, "
                             "per_class, ...)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress line (drawn on standard error when it is a terminal)")
    parser.set_defaults(func=run, check=check)


def check(args):
    """The files and numbers, before Keras is imported (``main`` runs this)."""
    from napari_convnet.cli import _checks

    _checks.bundle_file(args.model)
    _checks.data_folder(args.data)
    _checks.batch_size(args.batch_size)


def run(args):
    """Load the bundle, evaluate it on the folder and print the report."""
    from napari_convnet.cli._progress import StageProgress
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.evaluation import evaluate_folder
    from napari_convnet.reports import format_report

    model, meta = load_bundle(args.model)
    progress = StageProgress(quiet=args.quiet)
    try:
        report = evaluate_folder(model, meta, args.data, batch_size=args.batch_size,
                                 on_event=progress)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(report))
    else:
        where = "test split" if report["split"] == "test" else "all images"
        print(f"{args.model} on {args.data} ({where})")
        print(format_report(report))
    return 0
