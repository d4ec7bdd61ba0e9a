"""``napari-convnet predict MODEL.keras IMAGE...``: classify images, tile class maps, objects.

- default: class and probability per image (per slice with ``--stack-rule slices`` bundles);
- ``--tile-map OUT.tif``: a class per pixel from overlapping tiles, saved as a label TIFF;
- ``--objects LABELS.tif``: a class per object of a label image, as CSV.
"""

import json
import os
import sys

from napari_convnet.atomic import writing
from napari_convnet.csvfile import open_csv, write_rows

_TIFF_SUFFIXES = (".tif", ".tiff")


def add_parser(subparsers):
    """Register the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict", help="classify image files or folders with a model bundle",
        description="Print path, predicted class and its probability per image (per slice "
                    "for bundles trained with --stack-rule slices). --csv also writes every "
                    "class probability. --tile-map writes a class map per image (label TIFF: "
                    "0 = unlabelled, 1..n = the bundle's classes in order); --objects "
                    "classifies each object of a label image (CSV: label id, class, "
                    "probability).",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model bundle")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--csv", metavar="OUT.csv", help="write all class probabilities here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--tile-map", metavar="OUT.tif",
                       help="classify each image in tiles of the model input size and write "
                            "its class map here (several images: OUT is a folder)")
    modes.add_argument("--objects", metavar="LABELS.tif",
                       help="classify each object of this label image (one IMAGE)")
    parser.add_argument("--stride", type=int, metavar="S",
                        help="--tile-map: step between tiles in pixels (default half a tile)")
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                        help="--tile-map: leave pixels whose class probability is below P "
                             "unlabelled (0); default 0")
    parser.add_argument("--mode", choices=("bbox", "patch"), default="bbox",
                        help="--objects: crop the padded bounding box (default) or a patch of "
                             "the model input size centred on the object")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress line (drawn on standard error when it is a terminal)")
    parser.set_defaults(func=run, check=check)


def check(args):
    """Files, numbers and outputs, before Keras is imported (``main`` runs this).

    Sets ``args.checked_paths`` to the images and class map paths :func:`run` uses.
    """
    from napari_convnet import options
    from napari_convnet.cli import _checks
    from napari_convnet.errors import DatasetError

    _checks.bundle_file(args.model)
    _checks.batch_size(args.batch_size)
    options.check("min_confidence", args.min_confidence, options.MIN_CONFIDENCE, DatasetError)
    options.check("stride", args.stride, options.STRIDE, DatasetError, integer=True,
                  optional=True)
    args.checked_paths = _check_paths(args)


def write_csv(path, result):
    """Write prediction rows: path, slice, predicted, probability, then ``p_<class>`` columns.

    Cells follow :mod:`napari_convnet.csvfile` (names byte for byte, no formulas).
    """
    header = ["path", "slice", "predicted", "probability",
              *(f"p_{n}" for n in result["class_names"])]
    with open_csv(path) as fh:
        write_rows(fh, [header, *(
            [row["path"], "" if row["slice"] is None else row["slice"], row["predicted"],
             f"{row['probability']:.6f}", *(f"{p:.6f}" for p in row["probabilities"])]
            for row in result["rows"])])


def write_objects_csv(fh, result):
    """Write one row per object: label_id, class, probability, then ``p_<class>`` columns."""
    header = ["label_id", "class", "probability", *(f"p_{n}" for n in result["class_names"])]
    rows = zip(result["label_ids"], result["predicted"], result["probability"],
               result["probabilities"], strict=True)
    write_rows(fh, [header, *([int(label), name, f"{p:.6f}", *(f"{v:.6f}" for v in probs)]
                              for label, name, p, probs in rows)])


def _read(path, what):
    """Raw array and the channel axis tifffile metadata names (None when unknown)."""
    from napari_convnet.core.images import check_finite
    from napari_convnet.core.reading import describe_error, layout, read_raw
    from napari_convnet.errors import DatasetError

    try:
        raw, axes = read_raw(path)
    except Exception as exc:  # decoders raise many types; the user needs the path and the reason
        raise DatasetError(f"Cannot read {what} {os.fspath(path)!r}: {describe_error(exc)}") \
            from exc
    check_finite(raw, f"The {what} {os.fspath(path)!r}")
    return raw, (layout(raw.shape, axes)[3] if axes else None)


def _map_paths(images, out):
    """Output file per image: OUT itself for one image and a .tif OUT, else OUT/<stem>.tif."""
    from napari_convnet.errors import DatasetError

    if len(images) == 1 and out.lower().endswith(_TIFF_SUFFIXES) and not os.path.isdir(out):
        return [out]
    if out.lower().endswith(_TIFF_SUFFIXES) and not os.path.isdir(out):
        raise DatasetError(
            f"--tile-map {out!r} is one file but {len(images)} images were given. Give a "
            "folder for one class map per image."
        )
    names, paths = set(), []
    for image in images:
        stem = os.path.splitext(os.path.basename(image))[0]
        name, n = f"{stem}.tif", 1
        while name in names:  # same file name in two input folders
            n += 1
            name = f"{stem}-{n}.tif"
        names.add(name)
        paths.append(os.path.join(out, name))
    return paths


def _make_folder(outs, folder):
    """Create the --tile-map folder; nothing to do when --tile-map names one file."""
    from napari_convnet.errors import DatasetError

    if outs == [folder]:
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"Cannot create the --tile-map folder {folder!r}: "
                           f"{exc.strerror or exc}. Give a folder path you can write to.") from exc


def _tile_maps(args, model, meta, images, outs):
    import numpy as np
    import tifffile

    from napari_convnet.core.tiling import tile_class_map

    _make_folder(outs, args.tile_map)
    names = list(meta["class_names"])
    for image, out in zip(images, outs, strict=True):
        raw, axis = _read(image, "image")
        result = tile_class_map(model, meta, raw, stride=args.stride,
                                min_confidence=args.min_confidence, channel_axis=axis,
                                batch_size=args.batch_size)
        labels = result["labels"]
        with writing(out, "--tile-map") as tmp:
            tifffile.imwrite(tmp, labels, compression="zlib",
                             metadata={"axes": "YX", "class_names": names})
        share = np.bincount(labels.ravel(), minlength=len(names) + 1) / labels.size
        parts = [f"{name} {share[i + 1]:.1%}" for i, name in enumerate(names)]
        print(f"{image}\t{out}\t" + ", ".join(parts + [f"unlabelled {share[0]:.1%}"]))
    legend = ", ".join(f"{i + 1} = {name}" for i, name in enumerate(names))
    print(f"wrote {len(outs)} class map(s): 0 = unlabelled, {legend}", file=sys.stderr)
    return 0


def _objects(args, model, meta):
    from napari_convnet.core.objects import classify_objects

    raw, axis = _read(args.paths[0], "image")
    labels, _ = _read(args.objects, "label image")
    result = classify_objects(model, meta, raw, labels, mode=args.mode, channel_axis=axis,
                              batch_size=args.batch_size)
    if args.csv:
        with writing(args.csv, "--csv") as tmp, open_csv(tmp) as fh:
            write_objects_csv(fh, result)
        print(f"wrote {len(result['label_ids'])} object(s) to {args.csv}", file=sys.stderr)
    else:
        write_objects_csv(sys.stdout, result)
    return 0 if len(result["label_ids"]) else 1


def _check_paths(args):
    """The images to read and the class map paths, once no output is an input.

    Before the model is loaded: a folder's images are listed first, so that none of them,
    read or not yet, is written over (:func:`napari_convnet.core.outputs.check_outputs`).
    """
    from napari_convnet.core.outputs import check_outputs
    from napari_convnet.core.walk import find_images
    from napari_convnet.errors import DatasetError

    inputs = [("model bundle", args.model)]
    if args.objects:
        if len(args.paths) != 1 or os.path.isdir(args.paths[0]):
            raise DatasetError(f"--objects takes exactly one IMAGE file (the image the labels "
                               f"were segmented from). Received: {args.paths}")
        images, maps = list(args.paths), []
        inputs.append(("label image", args.objects))
    else:
        images = find_images(args.paths)
        maps = _map_paths(images, args.tile_map) if args.tile_map else []
    if maps and maps != [args.tile_map]:  # a folder of maps: say which image's map it is
        outputs = [(f"--tile-map (the class map of {image!r})", path)
                   for image, path in zip(images, maps, strict=True)]
    else:
        outputs = [("--tile-map", args.tile_map)] if args.tile_map else [("--csv", args.csv)]
    check_outputs(outputs, inputs + [("input image", path) for path in images],
                  [("input folder", path) for path in args.paths if os.path.isdir(path)])
    return images, maps


def run(args):
    """Classify every image (or tile map / objects); exit 1 when nothing was classified."""
    images, maps = getattr(args, "checked_paths", None) or _check_paths(args)
    from napari_convnet.cli._progress import StageProgress
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.prediction import predict_files

    model, meta = load_bundle(args.model)
    if args.tile_map:
        return _tile_maps(args, model, meta, images, maps)
    if args.objects:
        return _objects(args, model, meta)
    progress = StageProgress(quiet=args.quiet)
    try:
        result = predict_files(model, meta, images, batch_size=args.batch_size,
                               on_event=progress)
    finally:
        progress.close()
    for err in result["errors"]:
        print(f"warning: skipped {err['error']}", file=sys.stderr)
    if args.csv:
        with writing(args.csv, "--csv") as tmp:
            write_csv(tmp, result)
    if args.json:
        print(json.dumps(result))
    else:
        for row in result["rows"]:
            where = row["path"] if row["slice"] is None else f"{row['path']}[{row['slice']}]"
            print(f"{where}\t{row['predicted']}\t{row['probability']:.4f}")
    if args.csv:
        print(f"wrote {len(result['rows'])} row(s) to {args.csv}", file=sys.stderr)
    return 0 if result["rows"] else 1
