"""``napari-convnet presets``: the model presets with their parameter counts."""

import json

from napari_convnet.errors import ModelError

# The course's input shapes: MNIST for the dense and CNN examples, CIFAR-10 for VGG.
_COURSE_SHAPES = {"dense-2x10": (28, 28, 1), "dense-3x15": (28, 28, 1),
                  "course-cnn": (28, 28, 1)}
_DEFAULT_SHAPE = (32, 32, 3)


def add_parser(subparsers):
    """Register the ``presets`` subcommand."""
    parser = subparsers.add_parser(
        "presets", help="list the model presets and their parameter counts",
        description="List the model presets with trainable/total parameters for an input "
                    "shape (default: the course's, 28x28x1 for dense/CNN and 32x32x3 for the "
                    "others) and number of classes.",
    )
    parser.add_argument("--input-shape", nargs=3, type=int, metavar=("H", "W", "C"),
                        help="input shape to count parameters for")
    parser.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    parser.add_argument("--layers", metavar="NAME", help="also print the layer table of NAME")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run, check=check)


def check(args):
    """The preset name and the numbers, before Keras is imported (``main`` runs this)."""
    from napari_convnet import preset_table

    if args.layers is not None:
        preset_table.get(args.layers)  # an unknown name: the ModelError lists the presets
    if args.classes < 1:
        raise ModelError(f"--classes must be at least 1. Received: {args.classes}")
    if args.input_shape is not None and min(args.input_shape) < 1:
        raise ModelError("--input-shape takes three positive ints H W C. Received: "
                         f"{' '.join(map(str, args.input_shape))}")


def _row(name, shape, classes):
    from napari_convnet.core import presets

    row = {"name": name, "input_shape": list(shape), "min_size": presets.min_input_size(name),
           "description": presets.preset_description(name),
           "options": list(presets.preset_options(name))}
    try:
        info = presets.preset_info(name, shape, classes)
    except ModelError as exc:
        row["error"] = str(exc)
        return row
    row.update({k: info[k] for k in ("trainable_params", "non_trainable_params", "total_params")})
    return row


def run(args):
    """Count the parameters of every preset and print them."""
    from napari_convnet.core import presets

    rows = []
    for name in presets.list_presets():
        shape = tuple(args.input_shape) if args.input_shape else _COURSE_SHAPES.get(
            name, _DEFAULT_SHAPE)
        rows.append(_row(name, shape, args.classes))
    layers = None
    if args.layers is not None:
        shape = tuple(args.input_shape) if args.input_shape else _COURSE_SHAPES.get(
            args.layers, _DEFAULT_SHAPE)
        layers = presets.preset_info(args.layers, shape, args.classes)["layers"]
    if args.json:
        print(json.dumps({"classes": args.classes, "presets": rows,
                          **({"layers": layers} if layers is not None else {})}))
        return 0
    print(f"{'preset':<12} {'input':>10} {'trainable':>11} {'total':>11}  description")
    for row in rows:
        shape = "x".join(map(str, row["input_shape"]))
        if "error" in row:
            counts = f"{'needs >= ' + str(row['min_size']) + ' px':>23}"
        else:
            counts = f"{row['trainable_params']:>11,} {row['total_params']:>11,}"
        print(f"{row['name']:<12} {shape:>10} {counts}  {row['description']}")
    if layers is not None:
        print(f"\n{args.layers} layers:")
        print(f"  {'name':<20} {'type':<22} {'output shape':<20} {'params':>10}")
        for layer in layers:
            shape = str(tuple(layer["output_shape"] or ())).replace("None", "B")
            print(f"  {layer['name']:<20} {layer['type']:<22} {shape:<20} {layer['params']:>10,}")
    return 0
