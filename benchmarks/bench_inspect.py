"""Feature-map speed: first conv layer on a 1024x1024 image, in-process and through the engine.

1. In-process, warm model: :func:`napari_convnet.core.inspection.feature_maps` of the first
   convolution layer for a 1024x1024 uint16 image (percentile normalisation, whole image, no
   resize). Goal: < 0.5 s on CPU. Also times the preprocessing alone and a plain Keras
   sub-model call on the already-normalised image, to show where the time goes.
2. Engine round trip: ``engine.call("feature_maps", ...)`` with a real engine child holding
   the same bundle, vs the in-process time; the difference is the cost of sending the image
   and the maps across the process boundary (reported as MB and MB/s).

Each figure is the median of ``--repeats`` runs after one warm-up. Run by hand:
``python benchmarks/bench_inspect.py [--preset course-cnn] [--size 1024] [--repeats 5]``.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(fn, repeats):
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up; and its result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="course-cnn")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import keras

    from napari_convnet.core import geometry, inspection, presets
    from napari_convnet.core.bundle import save_bundle
    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.engine import Engine

    shape = (28, 28, 1) if args.preset in ("course-cnn", "dense-2x10") else (32, 32, 1)
    options = {"weights": "random"} if args.preset in ("vgg16", "mobilenetv2") else {}
    model = presets.build_model(args.preset, shape, 2, **options)
    meta = {"class_names": ["a", "b"], "input_shape": list(shape),
            "data_config": DataConfig(image_size=shape[:2], channels=1,
                                      levels=((0.0, 255.0),)).to_dict()}
    layer = next(r["name"] for r in inspection.list_layers(model) if r["kind"] == "conv"
                 and r["name"] != "channel_adapter")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4096, (args.size, args.size), dtype=np.uint16)
    print(f"{args.preset}, layer {layer}, image {args.size}x{args.size} uint16, "
          f"keras {keras.__version__}, {os.cpu_count()} CPU(s)")

    t_pre, x = timed(lambda: inspection.whole_image(model, meta, image), args.repeats)
    parts = geometry.split_path(model, layer)
    t_keras, _ = timed(lambda: geometry.forward(model, x, [parts]), args.repeats)
    t_ours, result = timed(lambda: inspection.feature_maps(model, meta, image, layer),
                           args.repeats)
    mb = result["maps"].nbytes / 1e6
    print(f"in-process feature_maps: {t_ours:.3f} s  (maps {result['maps'].shape} = {mb:.0f} MB; "
          f"preprocessing {t_pre:.3f} s, eager Keras sub-model call {t_keras:.3f} s)  goal < 0.5 s")

    with tempfile.TemporaryDirectory() as tmp:
        bundle = os.path.join(tmp, "model.keras")
        save_bundle(model, bundle, meta)
        engine = Engine()
        try:
            engine.wait_ready(180)
            engine.call("load_model", timeout=120, path=bundle)
            t_engine, remote = timed(
                lambda: engine.call("feature_maps", timeout=120, image=image, layer=layer),
                args.repeats)
        finally:
            engine.shutdown()
    np.testing.assert_allclose(remote["maps"], result["maps"], atol=1e-5)
    sent = (image.nbytes + remote["maps"].nbytes) / 1e6
    extra = t_engine - t_ours
    print(f"engine round trip: {t_engine:.3f} s; transfer overhead {extra:.3f} s for "
          f"{sent:.0f} MB (image + maps) = {sent / max(extra, 1e-9):.0f} MB/s")


if __name__ == "__main__":
    main()
