"""Prediction throughput: napari-convnet's stack and tiled-map paths vs plain ``model.predict``.

1. Stack: :func:`~napari_convnet.core.prediction.classify_stack` on a raw uint16 stack
   (preprocessing included: percentile normalisation per slice) vs ``model.predict`` on the
   same slices already preprocessed. Goal: ratio Keras time / ours >= 0.9.
2. Tiled class map of a 4096×4096 image: :func:`~napari_convnet.core.tiling.tile_class_map`
   (whole-image normalisation, reflect padding, tile gathering, per-pixel averaging) vs
   ``model.predict`` on the same tiles already cut (tile cutting and averaging EXCLUDED).

Both sides use the same model, batch size and device in one process; tracing is done by a
warm-up call first, and each timing is the best of ``--repeats`` alternating runs. The
model is an untrained preset (weights do not change the speed). Run by hand:
``python benchmarks/bench_predict.py [--size 4096] [--slices 4096] [--preset course-cnn]``.
"""

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def best_time(fn, repeats):
    """Smallest wall-clock time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def raw_image(shape, seed=0):
    """uint16 image of smooth blobs plus noise (realistic percentiles, not constant)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((*(max(1, s // 32) for s in shape[-2:]),))
    smooth = np.kron(coarse, np.ones((32, 32)))[:shape[-2], :shape[-1]]
    return (3000 * smooth + 500 * rng.random(shape)).astype(np.uint16)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="course-cnn")
    parser.add_argument("--input", type=int, default=64, help="model input (and tile) size")
    parser.add_argument("--slices", type=int, default=4096, help="stack length")
    parser.add_argument("--size", type=int, default=4096, help="tiled image height = width")
    parser.add_argument("--stride", type=int, default=None, help="tile stride (default half)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import tensorflow as tf

    from napari_convnet.core.data_config import DataConfig
    from napari_convnet.core.images import finish, prepare
    from napari_convnet.core.prediction import classify_stack
    from napari_convnet.core.presets import build_model
    from napari_convnet.core.tiling import grid, tile_class_map

    size, batch = args.input, args.batch_size
    model = build_model(args.preset, (size, size, 1), 2)
    config = DataConfig(image_size=(size, size), channels=1, stack_rule="slices",
                        levels=((0.0, 255.0),))
    meta = {"class_names": ["a", "b"], "input_shape": [size, size, 1],
            "data_config": config.to_dict()}
    gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
    print(f"device: {gpus or 'CPU'}, cpus: {os.cpu_count()}, preset {args.preset} "
          f"{size}x{size}, batch {batch}")

    # -- stack -------------------------------------------------------------------------
    stack = raw_image((args.slices, size, size))
    x = finish(prepare(stack[..., None], config), config)
    classify_stack(model, meta, stack[:batch * 2], batch_size=batch)  # trace both batch shapes
    model.predict(x[:batch * 2], batch_size=batch, verbose=0)
    ours = keras_time = np.inf
    for _ in range(args.repeats):
        ours = min(ours, best_time(lambda: classify_stack(model, meta, stack, batch_size=batch),
                                   1))
        keras_time = min(keras_time, best_time(
            lambda: model.predict(x, batch_size=batch, verbose=0), 1))
    n = len(stack)
    print(f"stack of {n} slices: classify_stack {n / ours:,.0f} slices/s ({ours:.2f} s, "
          f"preprocessing included), model.predict {n / keras_time:,.0f} slices/s "
          f"({keras_time:.2f} s); ratio Keras time / ours = {keras_time / ours:.3f}")

    # -- tiled class map ---------------------------------------------------------------
    image = raw_image((args.size, args.size), seed=1)
    result = tile_class_map(model, meta, image[:size * 3, :size * 3], stride=args.stride,
                            batch_size=batch)  # warm-up
    stride = result["stride"]
    plan = [grid(args.size, size, s) for s in stride]
    padded = np.pad(image.astype(np.float32), [(b, a) for b, a, _ in plan], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    tiles = windows[::stride[0], ::stride[1]].reshape(-1, size, size)[..., None].copy()
    print(f"tiles: {len(tiles)} of {size}x{size} (stride {stride}), "
          f"{tiles.nbytes / 2**20:.0f} MiB as float32")
    ours = keras_time = np.inf
    for _ in range(args.repeats):
        ours = min(ours, best_time(lambda: tile_class_map(model, meta, image, stride=args.stride,
                                                          batch_size=batch), 1))
        keras_time = min(keras_time, best_time(
            lambda: model.predict(tiles, batch_size=batch, verbose=0), 1))
    print(f"tiled class map of {args.size}x{args.size}: tile_class_map {ours:.2f} s, "
          f"model.predict on the same tiles {keras_time:.2f} s; "
          f"ratio Keras time / ours = {keras_time / ours:.3f}")


if __name__ == "__main__":
    main()
