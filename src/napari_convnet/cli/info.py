"""``napari-convnet info``: versions and devices, as the engine reports them."""

import json

from napari_convnet import backends
from napari_convnet.errors import EngineError


def add_parser(subparsers):
    """Register the ``info`` subcommand."""
    parser = subparsers.add_parser(
        "info", help="print the Keras backend, versions and the device the engine trains on "
                     "(choose the backend with napari-convnet --backend)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--benchmark", action="store_true",
                        help="also time a matrix multiplication on the engine's device")
    parser.set_defaults(func=run, keras=False)  # the engine child runs Keras


def run(args):
    """Start an engine, ask it for its device info, print it."""
    from napari_convnet.engine import Engine

    engine = Engine()
    try:
        info = dict(engine.wait_ready())
        if args.benchmark:
            info["benchmark"] = engine.call("device_benchmark", seconds=2.0)
    except EngineError as exc:
        raise EngineError(f"{exc}\nCheck the install of the Keras backend (docs/install.md)."
                          ) from None
    finally:
        engine.shutdown()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    gpus = "; ".join(map(backends.gpu_text, info["gpus"])) or "none (training runs on the CPU)"
    name = info["backend"]
    print(f"napari-convnet {info['plugin']}")
    print(f"Backend        {backends.TITLES[name]} {info[name]}")
    print(f"Keras          {info['keras']}")
    print(f"Python         {info['python']}")
    print(f"Device         {info['device']}")
    print(f"GPUs           {gpus}")
    print(f"CPU            {info['cpu']} ({info['cpu_count']} cores)")
    if args.benchmark:
        b = info["benchmark"]
        print(f"Benchmark      {b['gflops']:.1f} GFLOP/s float32 matmul on {b['device']}")
    return 0
