"""``napari-convnet export MODEL.keras --bioimageio OUT.zip | --onnx OUT.onnx``: share a model."""

import os


def add_parser(subparsers):
    """Register the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export", help="share a model bundle: a bioimage.io package (Fiji/deepImageJ, QuPath, "
                       "ilastik, bioimageio.core) and/or an ONNX file",
        description="Write MODEL.keras as a bioimage.io model package (Keras and ONNX weights, "
                    "class names, normalisation, test images, cover, README with the "
                    "training record; checked with bioimage.io's own test) and/or as an ONNX "
                    "file (checked against Keras with onnxruntime on the training images). "
                    'Needs pip install "napari-convnet[share]".',
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model bundle")
    parser.add_argument("--bioimageio", metavar="OUT.zip", help="bioimage.io package to write")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="ONNX file to write")
    parser.add_argument("--data", metavar="DATA",
                        help="folder of class folders for the test images and the evaluation "
                             "(default: the folder the model was trained on)")
    group = parser.add_argument_group("bioimage.io package")
    group.add_argument("--name", help="title of the model (default: from the file name)")
    group.add_argument("--description", help="what it classifies, from which images")
    group.add_argument("--author", action="append", default=[], metavar="NAME",
                       help="an author (repeat for several); required for --bioimageio")
    group.add_argument("--license", default="CC-BY-4.0",
                       help="SPDX licence of the weights (default CC-BY-4.0)")
    group.add_argument("--cite", help="how to cite it: text, then a DOI or URL (default: "
                                      "napari-convnet)")
    group.add_argument("--no-onnx-weights", action="store_true",
                       help="only Keras weights in the package")
    group.add_argument("--no-test", action="store_true",
                       help="skip bioimage.io's own test of the package")
    parser.set_defaults(func=run, check=check)


def _info(args):
    from napari_convnet.core.sharing.bioimageio import PackageInfo

    stem = os.path.splitext(os.path.basename(args.model))[0]
    kwargs = {"name": args.name or f"{stem.replace('_', ' ')} classifier",
              "description": args.description or f"Image classifier {stem} trained with "
                                                 "napari-convnet.",
              "authors": args.author, "license": args.license}
    if args.cite:
        kwargs["cite"] = args.cite
    return PackageInfo(**kwargs)


def check(args):
    """The files and the package's facts, before Keras is imported."""
    from napari_convnet.cli import _checks
    from napari_convnet.errors import ModelError

    _checks.bundle_file(args.model)
    if not args.bioimageio and not args.onnx:
        raise ModelError("Say what to write: --bioimageio OUT.zip and/or --onnx OUT.onnx.")
    if args.bioimageio and not args.bioimageio.endswith(".zip"):
        raise ModelError(f"--bioimageio must end in '.zip'. Received: {args.bioimageio!r}")
    if args.onnx and not args.onnx.endswith(".onnx"):
        raise ModelError(f"--onnx must end in '.onnx'. Received: {args.onnx!r}")
    if args.data:
        _checks.data_folder(args.data, "--data")
    if args.bioimageio and not args.author:
        raise ModelError("A bioimage.io package names its authors: give --author NAME "
                         "(repeat it for several).")


def run(args):
    """Write what was asked, and say what was checked."""
    from napari_convnet.cli._progress import StageProgress
    from napari_convnet.core.bundle import load_bundle
    from napari_convnet.core.sharing import bioimageio, onnx_export

    model, meta = load_bundle(args.model)
    if args.onnx:
        onnx_export.export_onnx(model, args.onnx)
        x = onnx_export.sample_inputs(meta, args.data)
        if x is None:
            print(f"Wrote {args.onnx} (not checked: no data folder; give --data).")
        else:
            diff = onnx_export.check(model, args.onnx, x)
            print(f"Wrote {args.onnx}: onnxruntime gives the Keras probabilities within "
                  f"{diff:.1e} on {len(x)} training images.")
    if args.bioimageio:
        progress = StageProgress(quiet=False)
        try:
            result = bioimageio.export_package(
                model, meta, args.bioimageio, _info(args), data=args.data,
                onnx=not args.no_onnx_weights, run_test=not args.no_test, on_event=progress)
        finally:
            progress.close()
        test = {"passed": "bioimage.io test passed",
                "not run": "bioimage.io test not run"}[result["test"]]
        print(f"Wrote {args.bioimageio}: weights {', '.join(result['weights'])}; {test}.")
        for note in result["notes"]:
            print(f"Note: {note}")
    return 0
