"""``napari-convnet predict MODEL.keras PATH... [--csv OUT.csv]``: classify image files."""

import csv
import json
import sys


def add_parser(subparsers):
    """Register the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict", help="classify image files or folders with a model bundle",
        description="Print path, predicted class and its probability per image (per slice "
                    "for bundles trained with --stack-rule slices). --csv also writes every "
                    "class probability.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model bundle")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--csv", metavar="OUT.csv", help="write all class probabilities here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.set_defaults(func=run)


def write_csv(path, result):
    """Write prediction rows: path, slice, predicted, probability, then ``p_<class>`` columns."""
    names = result["class_names"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "slice", "predicted", "probability", *(f"p_{n}" for n in names)])
        for row in result["rows"]:
            writer.writerow([row["path"], "" if row["slice"] is None else row["slice"],
                             row["predicted"], f"{row['probability']:.6f}",
                             *(f"{p:.6f}" for p in row["probabilities"])])


def run(args):
    """Classify every image; exit 1 when no image could be read."""
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.prediction import predict_files

    model, meta = load_bundle(args.model)
    result = predict_files(model, meta, args.paths, batch_size=args.batch_size)
    for err in result["errors"]:
        print(f"warning: skipped {err['error']}", file=sys.stderr)
    if args.csv:
        write_csv(args.csv, result)
    if args.json:
        print(json.dumps(result))
    else:
        for row in result["rows"]:
            where = row["path"] if row["slice"] is None else f"{row['path']}[{row['slice']}]"
            print(f"{where}\t{row['predicted']}\t{row['probability']:.4f}")
    if args.csv:
        print(f"wrote {len(result['rows'])} row(s) to {args.csv}", file=sys.stderr)
    return 0 if result["rows"] else 1
