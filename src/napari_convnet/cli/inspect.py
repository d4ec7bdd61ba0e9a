"""``napari-convnet inspect MODEL.keras [IMAGE]``: layers, kernels, feature maps, Grad-CAM.

Arrays are written as float32 TIFFs; the ImageDescription holds JSON metadata (tifffile's
shaped format: ``tifffile.TiffFile(path).shaped_metadata[0]``) with the layer, and for feature
maps the ``scale`` and ``translate`` that place them on the input image.
"""

import json

from napari_convnet.atomic import writing


def add_parser(subparsers):
    """Register the ``inspect`` subcommand."""
    parser = subparsers.add_parser(
        "inspect", help="look inside a model: layers, kernels, feature maps, Grad-CAM",
        description="List a bundle's layers (through nested backbones), or write one layer's "
                    "kernels, an image's feature maps at the layer's own resolution, or a "
                    "Grad-CAM heatmap at the image's size, as float32 TIFF files.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="model bundle")
    parser.add_argument("image", nargs="?", metavar="IMAGE",
                        help="image file (for --feature-maps and --grad-cam)")
    parser.add_argument("--list-layers", action="store_true",
                        help="print layer names, types, output shapes and parameters")
    parser.add_argument("--layer", metavar="NAME",
                        help="layer path, e.g. conv2 or vgg16_backbone/block1_conv1")
    parser.add_argument("--kernels", metavar="OUT.tif",
                        help="write the layer's kernels (filters, in_channels, kh, kw)")
    parser.add_argument("--feature-maps", metavar="OUT.tif",
                        help="write the image's feature maps (channels, H, W) of the layer")
    parser.add_argument("--grad-cam", metavar="OUT.tif",
                        help="write a Grad-CAM heatmap (Y, X) in [0, 1] (default layer: the "
                             "last convolution)")
    parser.add_argument("--class", dest="class_name", metavar="NAME",
                        help="class to explain with --grad-cam (default: the predicted one)")
    parser.add_argument("--channel-axis", type=int, metavar="AXIS",
                        help="channel axis of the image (default: the bundle's rule)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run, check=check)


def check(args):
    """The action, the files and the outputs, before Keras is imported (``main`` runs this)."""
    from napari_convnet.cli import _checks
    from napari_convnet.core.outputs import check_outputs

    action = _check(args)
    _checks.bundle_file(args.model)
    if action != "list_layers":
        check_outputs([(f"--{action.replace('_', '-')}", getattr(args, action))],
                      [("model bundle", args.model), ("input image", args.image)])


def _check(args):
    from napari_convnet.errors import DatasetError, ModelError

    actions = [a for a in ("list_layers", "kernels", "feature_maps", "grad_cam")
               if getattr(args, a)]
    if len(actions) != 1:
        raise ModelError(
            "Give exactly one of --list-layers, --kernels OUT.tif, --feature-maps OUT.tif, "
            f"--grad-cam OUT.tif. Received: {', '.join(actions) or 'none'}."
        )
    action = actions[0]
    if action in ("kernels", "feature_maps") and not args.layer:
        flag = "--" + action.replace("_", "-")
        raise ModelError(f"{flag} needs --layer NAME (see --list-layers).")
    if action in ("feature_maps", "grad_cam") and not args.image:
        raise DatasetError(f"--{action.replace('_', '-')} needs an IMAGE file after MODEL.")
    if action in ("list_layers", "kernels") and args.image:
        raise DatasetError(f"--{action.replace('_', '-')} takes no IMAGE. Received: "
                           f"{args.image!r}")
    return action


def _read(path):
    from napari_convnet.core.images import check_finite
    from napari_convnet.core.reading import describe_error, read_raw
    from napari_convnet.errors import DatasetError

    try:
        raw = read_raw(path)[0]
    except Exception as exc:  # decoders raise many types; the user needs the path and why
        raise DatasetError(f"Cannot read image {path!r}: {describe_error(exc)}") from exc
    check_finite(raw, f"The image {path!r}")
    return raw


def _class_index(meta, name):
    from napari_convnet.errors import ModelError

    names = list(meta["class_names"])
    if name is None:
        return None
    if name in names:
        return names.index(name)
    raise ModelError(f"Unknown class {name!r}. The model's classes: {', '.join(names)}.")


def write_tiff(path, array, metadata, scale=None, option="output"):
    """Write float32 ``array`` with JSON ``metadata`` (and the resolution 1/scale if given)."""
    import tifffile

    extra = {}
    if scale is not None:  # pixels per input pixel, as ImageJ and other readers understand
        extra = {"resolution": (1 / scale[1], 1 / scale[0]), "resolutionunit": "NONE"}
    with writing(path, option) as tmp:
        tifffile.imwrite(tmp, array.astype("float32", copy=False), metadata=metadata, **extra)


def run(args):
    """Run one inspection action (after :func:`check`); print what was written."""
    action = _check(args)
    from napari_convnet.core import inspection
    from napari_convnet.core.bundle import load_bundle

    model, meta = load_bundle(args.model)
    if action == "list_layers":
        rows = inspection.list_layers(model)
        if args.json:
            print(json.dumps(rows))
        for row in [] if args.json else rows:
            shape = "x".join("?" if v is None else str(v) for v in row["output_shape"][1:])
            print(f"{row['name']}\t{row['type']}\t{shape}\t{row['params']}")
        return 0
    if action == "kernels":
        array = inspection.kernels(model, args.layer)
        info = {"layer": args.layer, "dims": "filters,in_channels,kh,kw"}
        write_tiff(args.kernels, array, info, option="--kernels")
        out = args.kernels
    elif action == "feature_maps":
        result = inspection.feature_maps(model, meta, _read(args.image), args.layer,
                                         channel_axis=args.channel_axis)
        array = result["maps"]
        info = {"layer": result["layer"], "scale": list(result["scale"]),
                "translate": list(result["translate"]), "input_shape": list(result["input_shape"]),
                "dims": "channels,y,x"}
        write_tiff(args.feature_maps, array, info, scale=result["scale"],
                   option="--feature-maps")
        out = args.feature_maps
    else:
        result = inspection.grad_cam(model, meta, _read(args.image),
                                     class_index=_class_index(meta, args.class_name),
                                     channel_axis=args.channel_axis)
        array = result["heatmap"]
        info = {key: result[key] for key in ("layer", "class_index", "class_name",
                                             "probability")}
        write_tiff(args.grad_cam, array, info, option="--grad-cam")
        out = args.grad_cam
    info = {"path": out, "shape": list(array.shape), **info}
    if args.json:
        print(json.dumps(info))
        return 0
    shown = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in info.items() if k not in ("path", "shape", "dims"))
    print(f"wrote {out}: {' x '.join(map(str, array.shape))} float32 {shown}")
    return 0
