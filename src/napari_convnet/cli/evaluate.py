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
    parser.set_defaults(func=run)


def run(args):
    """Load the bundle, evaluate it on the folder and print the report."""
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.evaluation import evaluate_folder
    from napari_convnet.reports import format_report

    model, meta = load_bundle(args.model)
    report = evaluate_folder(model, meta, args.data, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(report))
    else:
        where = "test split" if report["split"] == "test" else "all images"
        print(f"{args.model} on {args.data} ({where})")
        print(format_report(report))
    return 0
