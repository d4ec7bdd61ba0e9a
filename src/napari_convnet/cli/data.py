"""``napari-convnet data DATA``: check a folder of labelled images before training on it."""

import json

from napari_convnet import options
from napari_convnet.errors import DatasetError

_DEFAULTS = options.DATA_DEFAULTS


def _image_size(values):
    """``auto`` or H W (bounds are checked by DataConfig, with the same message as the GUI)."""
    if values == [options.AUTO]:
        return options.AUTO
    try:
        height, width = (int(v) for v in values)
    except ValueError:
        raise DatasetError(
            f"--image-size takes 'auto' or two ints H W. Received: {' '.join(values)}"
        ) from None
    return (height, width)


def add_config_arguments(parser, preparation_only=False,
                         normalization=_DEFAULTS["normalization"]):
    """Add the DataConfig options (``--image-size H W``, ``--channels``...) to a parser.

    Defaults are None so that only the options given override a config; see
    :func:`config_kwargs`. Other subcommands (train) reuse this; ``preparation_only`` leaves
    out what an existing model decides or only training uses (channels, splits, seed), and
    ``normalization`` is the default the help names.
    """
    group = parser.add_argument_group("reading images")
    group.add_argument("--image-size", nargs="+", metavar="H W|auto",
                       help="model input size in pixels, or 'auto': the images' own size when "
                            "they share one, else the median; longest side at most "
                            f"{options.AUTO_MAX_SIDE} (default: {_DEFAULTS['image_size']})")
    if not preparation_only:
        group.add_argument("--channels", type=int,
                           help="convert every image to this many channels (default: from the "
                                "data)")
    group.add_argument("--channel-axis", type=int,
                       help="channel axis of the raw arrays (default: detect)")
    group.add_argument("--normalization", choices=options.NORMALIZATIONS,
                       help="dataset: fixed levels measured on the training images; percentile: "
                            "each image stretched on its own; range: divide by 255/65535; none "
                            f"(default: {normalization})")
    group.add_argument("--percentiles", nargs=2, type=float, metavar=("LOW", "HIGH"),
                       help="percentiles mapped to 0 and 1 (default: "
                            f"{' '.join(f'{v:g}' for v in _DEFAULTS['percentiles'])})")
    group.add_argument("--stack-rule", choices=options.STACK_RULES,
                       help="Z/T stacks: max projection, middle slice or each slice (default: "
                            f"{_DEFAULTS['stack_rule']})")
    group.add_argument("--resize", choices=options.RESIZE_MODES,
                       help="fit the input size by padding, cropping or stretching (default: "
                            f"{_DEFAULTS['resize']})")
    if preparation_only:
        return group
    group.add_argument("--validation-split", type=float,
                       help="fraction of each class for validation (default: "
                            f"{_DEFAULTS['validation_split']})")
    group.add_argument("--test-split", type=float,
                       help="fraction of each class for testing (default: "
                            f"{_DEFAULTS['test_split']:g})")
    group.add_argument("--seed", type=int,
                       help=f"seed of the splits and shuffling (default: {_DEFAULTS['seed']})")
    return group


def config_kwargs(args):
    """The DataConfig keyword arguments given on the command line (tuples for pairs)."""
    names = ("image_size", "channels", "channel_axis", "normalization", "percentiles",
             "stack_rule", "resize", "validation_split", "test_split", "seed")
    kwargs = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if "image_size" in kwargs:
        kwargs["image_size"] = _image_size(kwargs["image_size"])
    if "percentiles" in kwargs:
        kwargs["percentiles"] = tuple(kwargs["percentiles"])
    return kwargs


def add_parser(subparsers):
    """Register the ``data`` subcommand."""
    parser = subparsers.add_parser(
        "data", help="summarise a folder of labelled images: classes, counts, shapes, bad files",
        description="Index DATA/<class>/<images> or DATA/train|val|test/<class>/<images>: "
                    "print class names, counts per split, image shapes/dtypes and bad files.",
    )
    parser.add_argument("data", metavar="DATA", help="folder of class folders")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_config_arguments(parser)
    parser.set_defaults(func=run, check=check, keras=False)


def _table(summary):
    names = summary["class_names"]
    splits = list(summary["counts"])
    width = max(len("class"), *(len(n) for n in names))
    lines = ["  " + "class".ljust(width) + "".join(f"{s:>12}" for s in splits)]
    for name in names:
        lines.append("  " + name.ljust(width)
                     + "".join(f"{summary['counts'][s][name]:>12}" for s in splits))
    lines.append("  " + "total".ljust(width)
                 + "".join(f"{summary['totals'][s]:>12}" for s in splits))
    return lines


def _text(summary):
    out = [f"Dataset   {summary['root']} ({summary['layout']} layout, {summary['files']} files)",
           f"Classes   {len(summary['class_names'])}: {', '.join(summary['class_names'])}",
           *_table(summary)]
    shapes = ", ".join(f"{k} ({v})" for k, v in summary["shapes"].items())
    dtypes = ", ".join(f"{k} ({v})" for k, v in summary["dtypes"].items())
    config = summary["config"]
    out += [f"Shapes    {shapes}", f"Dtypes    {dtypes}",
            f"Input     {config['image_size'][0]}x{config['image_size'][1]}x"
            f"{summary['channels']} ({config['resize']}, {config['normalization']} "
            f"normalisation, stack rule {config['stack_rule']})"]
    if summary.get("image_size_rule"):
        out.append(f"Size      {summary['image_size_rule']}")
    if summary.get("levels"):
        levels = ", ".join(f"{lo:.4g}–{hi:.4g}" for lo, hi in summary["levels"])
        out.append(f"Levels    {levels} → 0–1 (percentiles {config['percentiles'][0]:g} and "
                   f"{config['percentiles'][1]:g} of the training images, per channel)")
    imbalance = summary["imbalance"]
    if imbalance["imbalanced"]:
        weights = ", ".join(f"{k}: {v}" for k, v in summary["class_weights"].items())
        out.append(f"Imbalance {imbalance['ratio']}x ({imbalance['largest']} vs "
                   f"{imbalance['smallest']}); class weights {weights}")
    for note in summary["notes"]:
        out.append(f"Note      {note}")
    if summary["bad_files"]:
        out.append(f"Bad files {len(summary['bad_files'])} (skipped):")
        out += [f"  {b['path']}: {b['reason']}" for b in summary["bad_files"]]
    return "\n".join(out)


def check(args):
    """The options and the folder, before anything else (``main`` runs this)."""
    from napari_convnet.cli import _checks

    _checks.data_config(config_kwargs(args))
    _checks.data_folder(args.data)


def run(args):
    """Index the folder and print its summary (text, or JSON with ``--json``)."""
    from napari_convnet.core.data import index_folder
    from napari_convnet.core.data_config import DataConfig

    index = index_folder(args.data, DataConfig(**config_kwargs(args)))
    summary = index.summary()
    print(json.dumps(summary) if args.json else _text(summary))
    return 0
