"""Tests of core/data.py (+ images, walk, pipeline), the ``data`` CLI and the sample data."""

import json
import os
import pickle
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_convnet.cli import main
from napari_convnet.core import images, pipeline
from napari_convnet.core.data import index_folder
from napari_convnet.core.data_config import DataConfig
from napari_convnet.errors import DatasetError, JobStopped

RNG = np.random.default_rng(0)


def _png(path, shape=(12, 10), dtype=np.uint8, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    top = np.iinfo(dtype).max
    Image.fromarray(RNG.integers(0, top, shape, dtype=dtype), mode=mode).save(path)
    return path


def _tif(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, **kwargs)
    return path


def _flat(root, classes=("cat", "dog"), n=5, shape=(12, 10)):
    for c in classes:
        for i in range(n):
            _png(root / c / f"{i}.png", shape)
    return root


def _config(**kwargs):
    return DataConfig(**{"image_size": (8, 8), "normalization": "percentile", **kwargs})


@pytest.mark.parametrize("kwargs, text", [
    ({"image_size": (0, 28)}, "image_size=(0, 28)"),
    ({"image_size": (28,)}, "image_size"),
    ({"channels": 0}, "channels=0"),
    ({"normalization": "zscore"}, "normalization='zscore'"),
    ({"stack_rule": "sum"}, "stack_rule"),
    ({"resize": "fit"}, "resize"),
    ({"percentiles": (50, 10)}, "percentiles"),
    ({"validation_split": 1.0}, "validation_split=1.0"),
    ({"validation_split": 0.6, "test_split": 0.5}, "leave images for training"),
    ({"seed": None}, "seed=None"),
])
def test_config_validation(kwargs, text):
    with pytest.raises(DatasetError, match="Received") as info:
        DataConfig(**kwargs)
    assert text in str(info.value)


def test_config_round_trip_through_json():
    config = DataConfig(image_size=(32, 48), channels=3, percentiles=(2, 98), stack_rule="slices")
    again = DataConfig.from_dict(json.loads(json.dumps(config.to_dict())) | {"future": 1})
    assert again == config


def test_flat_layout_hidden_nested_and_stratified_split(tmp_path):
    _flat(tmp_path, n=10)
    _png(tmp_path / "cat" / "deeper" / "more" / "x.png")  # nested: still a cat
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0junk")
    (tmp_path / ".hidden").mkdir()
    _png(tmp_path / ".hidden" / "a.png")
    _png(tmp_path / "dog" / ".thumb.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    index = index_folder(tmp_path, _config())
    assert index.layout == "flat" and index.class_names == ["cat", "dog"]
    assert index.counts() == {"train": {"cat": 9, "dog": 8}, "validation": {"cat": 2, "dog": 2}}
    assert index.bad_files == [] and index.summary()["ignored_files"] == 1
    assert any("deeper" in s.path for split in index.splits.values() for s in split)
    again = index_folder(tmp_path, _config())
    assert again.splits == index.splits  # seeded: the same split every time
    other = index_folder(tmp_path, _config(seed=7))
    assert other.splits["validation"] != index.splits["validation"]


def test_split_folders_given_or_split_off(tmp_path):
    _flat(tmp_path / "train", n=6)
    _flat(tmp_path / "validation", n=2)
    _flat(tmp_path / "test", n=3)
    index = index_folder(tmp_path, _config())
    assert index.layout == "splits"
    assert index.counts() == {"train": {"cat": 6, "dog": 6}, "validation": {"cat": 2, "dog": 2},
                              "test": {"cat": 3, "dog": 3}}
    only_train = tmp_path / "only"
    _flat(only_train / "train", n=10)
    index = index_folder(only_train, _config(validation_split=0.3, test_split=0.2))
    assert index.counts()["validation"] == {"cat": 3, "dog": 3}
    assert index.counts()["test"] == {"cat": 2, "dog": 2}


def test_split_folder_errors(tmp_path):
    _flat(tmp_path / "train")
    _flat(tmp_path / "val")
    _flat(tmp_path / "validation")
    with pytest.raises(DatasetError, match="both 'val' and 'validation'"):
        index_folder(tmp_path, _config())
    mixed = tmp_path / "mixed"
    _flat(mixed / "train")
    _png(mixed / "bird" / "0.png")
    with pytest.raises(DatasetError, match="next to other folders"):
        index_folder(mixed, _config())
    val_only = tmp_path / "val_only"
    _flat(val_only / "train")
    _png(val_only / "val" / "bird" / "0.png")
    with pytest.raises(DatasetError, match="without training images: bird"):
        index_folder(val_only, _config())


def test_formats_and_bit_depths(tmp_path):
    _png(tmp_path / "a" / "gray8.png")
    _png(tmp_path / "a" / "gray16.png", dtype=np.uint16)
    _png(tmp_path / "a" / "rgba.png", shape=(12, 10, 4))
    _png(tmp_path / "a" / "j.jpg")  # PIL picks the format from the suffix
    _png(tmp_path / "b" / "b.bmp")
    _tif(tmp_path / "b" / "u16.tif", RNG.integers(0, 65535, (12, 10), np.uint16))
    _tif(tmp_path / "b" / "f32.tiff", RNG.random((12, 10), np.float32))
    _tif(tmp_path / "b" / "u8.tif", RNG.integers(0, 255, (12, 10), np.uint8))
    index = index_folder(tmp_path, _config(channels=1))
    summary = index.summary()
    assert summary["dtypes"] == {"float32": 1, "uint16": 2, "uint8": 5}
    assert "12x10x3" in summary["shapes"]  # RGBA read as RGB (alpha dropped), then grey mean
    assert sum(summary["totals"].values()) == 8 and not index.bad_files
    x, y = pipeline.load_split(index, "train")
    assert x.dtype == np.float32 and x.shape[1:] == (8, 8, 1) and y.dtype == np.int32


@pytest.mark.parametrize(("normalization", "scratch"), [("range", True), ("percentile", False)])
def test_png_decoding_matches_pil(tmp_path, monkeypatch, normalization, scratch):
    """PNGs decoded while indexing (one read, PIL's zlib decoder) give what PIL's reader does,
    through each thread's scratch images (small files) or straight into the array (large)."""
    from napari_convnet.core import reading

    if not scratch:
        monkeypatch.setattr(reading, "_SCRATCH_BYTES", 0)
    monkeypatch.setattr(reading, "_SCRATCH_SIZES", 3)  # fewer than the sizes here: evictions
    shapes = {"gray": (12, 10), "rgb": (12, 10, 3), "rgba": (12, 10, 4), "la": (12, 10, 2)}
    for name, shape in shapes.items():
        for i in range(2):
            mode = "LA" if name == "la" else None
            _png(tmp_path / name / f"{i}.png", shape, mode=mode)
            _png(tmp_path / name / f"{i}_wide.png", (6, 20, 3) if name == "rgb" else (6, 20))
    _png(tmp_path / "gray" / "deep.png", dtype=np.uint16)
    _png(tmp_path / "gray" / "palette.png", mode="P")  # not a simple PNG: PIL's reader
    Image.fromarray(RNG.integers(0, 255, (9, 11), np.uint8)).save(
        tmp_path / "gray" / "interlaced.png", interlace=1)
    config = _config(channels=3, normalization=normalization, validation_split=0.0)
    index = index_folder(tmp_path, config)
    assert len(index.decoded) == 19 and not index.bad_files
    for path, stack in index.decoded.items():  # raw pixels exactly as PIL decodes them
        with Image.open(path) as im:
            expected = np.asarray(im.convert("RGB") if im.mode == "P" else im)
        if expected.ndim == 3 and expected.shape[-1] in (2, 4):
            expected = expected[..., :-1]  # alpha dropped
        np.testing.assert_array_equal(stack.reshape(expected.shape), expected, err_msg=path)
    x, _ = pipeline.load_split(index, "train")
    expected = [images.read_image(s.path, index.config)[0] for s in index.splits["train"]]
    np.testing.assert_allclose(x, np.stack(expected), rtol=1e-6, atol=1e-6)
    index.forget_decoded()  # decoded from the files again: the same arrays
    assert index.decoded == {}
    np.testing.assert_allclose(pipeline.load_split(index, "train")[0], x, rtol=1e-6, atol=1e-6)


def test_png_with_damaged_pixel_data_is_a_bad_file(tmp_path):
    """A PNG whose chunks are intact but whose compressed pixels are not is found while indexing."""
    import struct
    import zlib

    _flat(tmp_path, n=3)
    good = (tmp_path / "cat" / "0.png").read_bytes()
    start = good.index(b"IDAT") - 4
    end = start + 12 + struct.unpack(">I", good[start:start + 4])[0]

    def with_pixels(payload):  # a well-formed IDAT chunk (length, CRC) around payload
        chunk = b"IDAT" + payload
        return (good[:start] + struct.pack(">I", len(payload)) + chunk
                + struct.pack(">I", zlib.crc32(chunk)) + good[end:])

    # a valid zlib stream with too few pixels, and bytes that are no zlib stream
    (tmp_path / "cat" / "short.png").write_bytes(with_pixels(zlib.compress(b"\x00" * 20)))
    (tmp_path / "cat" / "garbled.png").write_bytes(with_pixels(b"\xff" * 40))
    index = index_folder(tmp_path, _config())
    reasons = {os.path.basename(b.path): b.reason for b in index.bad_files}
    assert set(reasons) == {"short.png", "garbled.png"}, reasons
    assert all(r.startswith("damaged file (pixel data") for r in reasons.values()), reasons


def test_range_normalization_uses_the_bit_depth(tmp_path):
    path = _tif(tmp_path / "x.tif", np.full((8, 8), 65535, np.uint16))
    out = images.read_image(path, _config(normalization="range"))
    assert out.shape == (1, 8, 8, 1) and np.allclose(out, 1.0)
    Image.fromarray(np.full((8, 8), 51, np.uint8)).save(tmp_path / "y.png")
    assert np.allclose(images.read_image(tmp_path / "y.png", _config(normalization="range")), 0.2)
    raw = images.read_image(tmp_path / "y.png", _config(normalization="none"))
    assert np.allclose(raw, 51)


def test_percentile_normalization():
    ramp = np.arange(100, dtype=np.float32).reshape(10, 10) * 7 + 3
    out = images.normalize(ramp, _config(percentiles=(0, 100)))
    assert out.dtype == np.float32 and out.min() == 0 and np.isclose(out.max(), 1)
    assert np.all(images.normalize(np.full((4, 4), 9.0), _config()) == 0)  # flat image: no NaN


@pytest.mark.parametrize("shape, kwargs, channels", [
    ((3, 12, 10), {}, 3),  # (C, Y, X) detected
    ((12, 10, 2), {}, 2),  # (Y, X, C)
    ((6, 12, 10), {}, 1),  # (Z, Y, X): 6 is too many for channels
    ((6, 12, 10), {"channel_axis": 0}, 6),  # ... unless told
    ((5, 2, 12, 10), {}, 2),  # ImageJ (Z, C, Y, X)
    ((12, 10, 5), {"channel_axis": -1}, 5),
])
def test_channel_axis_detection_and_override(shape, kwargs, channels):
    out = images.preprocess_array(np.ones(shape, np.uint16), _config(**kwargs))
    assert out.shape == (1, 8, 8, channels) and out.dtype == np.float32


def test_tiff_axes_metadata_decides_channels(tmp_path):
    path = _tif(tmp_path / "zcyx.tif", RNG.integers(0, 999, (5, 2, 12, 10), np.uint16),
                imagej=True, metadata={"axes": "ZCYX"})
    assert images.read_image(path, _config()).shape == (1, 8, 8, 2)
    assert images.read_image(path, _config(stack_rule="slices")).shape == (5, 8, 8, 2)


def test_stack_rules(tmp_path):
    stack = np.zeros((5, 8, 8), np.uint8)
    stack[1] = 200
    stack[2, 0, 0] = 100
    config = _config(normalization="none", resize="stretch")
    assert images.preprocess_array(stack, config).max() == 200
    middle = images.preprocess_array(stack, DataConfig.from_dict(
        config.to_dict() | {"stack_rule": "middle"}))
    assert middle.shape == (1, 8, 8, 1) and middle.max() == 100
    for cls in ("a", "b"):
        for i in range(4):
            _tif(tmp_path / cls / f"{i}.tif", RNG.integers(0, 255, (3, 8, 8), np.uint8),
                 photometric="minisblack", metadata={"axes": "ZYX"})
    index = index_folder(tmp_path, _config(stack_rule="slices", validation_split=0.25))
    assert index.counts() == {"train": {"a": 9, "b": 9}, "validation": {"a": 3, "b": 3}}
    train_files = {s.path for s in index.splits["train"]}
    assert not train_files & {s.path for s in index.splits["validation"]}
    assert sorted(s.slice_index for s in index.splits["validation"]) == [0, 0, 1, 1, 2, 2]
    x, _ = pipeline.load_split(index, "validation")
    first = images.read_image(index.splits["validation"][1].path, index.config, 1)
    assert np.array_equal(x[1], first[0])


def test_png_reader_edge_files(tmp_path):
    """A FIFO never blocks reading; damage after the pixel data is left to PIL (which reads
    such files); a header too short to hold its fields is named."""
    import struct
    import threading
    import zlib

    from napari_convnet.core import reading

    good = _png(tmp_path / "good.png").read_bytes()
    iend = good.rindex(b"IEND") - 4
    no_end = tmp_path / "no_end.png"
    no_end.write_bytes(good[:iend])
    with Image.open(no_end) as im:
        np.testing.assert_array_equal(reading.read_raw(no_end)[0], np.asarray(im))
    chunk = b"IHDR"
    short = tmp_path / "short_header.png"
    short.write_bytes(good[:8] + struct.pack(">I", 0) + chunk + struct.pack(">I", zlib.crc32(chunk))
                      + good[8 + 25:])
    with pytest.raises(reading.UnreadableFile, match="IHDR chunk too short"):
        reading.read_raw(short)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.png"
        os.mkfifo(fifo)
        outcome = []

        def read():
            try:
                reading.read_raw(fifo)
            except reading.UnreadableFile as exc:
                outcome.append(str(exc))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(20)
        assert outcome == ["empty file (0 bytes)"]


@pytest.mark.parametrize(("stack_rule", "normalization"),
                         [("max", "range"), ("middle", "percentile"), ("slices", "range")])
def test_load_split_matches_reading_each_file(tmp_path, stack_rule, normalization):
    """Planes of many files are stacked before their per-pixel steps (channels, range): the
    result must be what reading each file on its own gives, stacks and single planes mixed."""
    for cls in ("a", "b"):
        for i in range(3):
            _tif(tmp_path / cls / f"z{i}.tif", RNG.integers(0, 4000, (3, 10, 10), np.uint16),
                 photometric="minisblack", metadata={"axes": "ZYX"})
            _tif(tmp_path / cls / f"p{i}.tif", RNG.integers(0, 4000, (10, 10), np.uint16))
            _png(tmp_path / cls / f"rgb{i}.png", (10, 10, 3))
    index = index_folder(tmp_path, _config(stack_rule=stack_rule, normalization=normalization,
                                           channels=1, validation_split=0.0))
    assert len(index.decoded) == 18
    x, _ = pipeline.load_split(index, "train")
    expected = [images.read_image(s.path, index.config, s.slice_index)[0]
                for s in index.splits["train"]]
    np.testing.assert_allclose(x, np.stack(expected), rtol=1e-6, atol=1e-6)


def test_mixed_channels_named_or_converted(tmp_path):
    _flat(tmp_path, n=4)
    _png(tmp_path / "cat" / "odd_rgb.png", shape=(12, 10, 3))
    with pytest.raises(DatasetError, match="odd_rgb.png.*--channels"):
        index_folder(tmp_path, _config())
    index = index_folder(tmp_path, _config(channels=3))
    assert index.config.channels == 3
    assert pipeline.load_split(index, "train")[0].shape[-1] == 3
    assert index_folder(tmp_path, _config(channels=1)).config.channels == 1
    with pytest.raises(DatasetError, match="channels=2"):
        index_folder(tmp_path, _config(channels=2))


@pytest.mark.parametrize("mode, expected", [
    ("pad", [0, 0, 1, 1, 1, 1, 0, 0]),  # 4x8 content scaled into 8x8, zero rows around it
    ("crop", [1] * 8),
    ("stretch", [1] * 8),
])
def test_resize_modes_preserve_aspect(mode, expected):
    wide = np.ones((4, 8), np.float32)
    out = images.preprocess_array(wide, _config(resize=mode, normalization="none"))
    assert out.shape == (1, 8, 8, 1)
    assert np.allclose(out[0, :, 4, 0], expected)


def test_bad_files_are_listed_and_skipped(tmp_path):
    _flat(tmp_path, n=4)
    good = _png(tmp_path / "cat" / "good.png", (16, 16)).read_bytes()
    (tmp_path / "cat" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "cat" / "text.png").write_text("hello, I am not a PNG")
    (tmp_path / "cat" / "zero.tif").write_bytes(b"")
    nan = np.ones((12, 10), np.float32)
    nan[2, 3] = np.nan
    _tif(tmp_path / "dog" / "nan.tif", nan)
    _tif(tmp_path / "dog" / "inf.tiff", np.full((12, 10), np.inf, np.float32))
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "loose.png").write_bytes(good)
    events = []
    index = index_folder(tmp_path, _config(), on_event=events.append)
    reasons = {os.path.basename(b.path): b.reason for b in index.bad_files}
    assert reasons["truncated.png"].startswith("truncated")
    assert reasons["text.png"].startswith("not an image")
    assert reasons["zero.tif"] == "empty file (0 bytes)"
    assert reasons["nan.tif"] == reasons["inf.tiff"] == "contains NaN or inf values"
    assert reasons["empty_class"] == "class folder without images"
    assert reasons["loose.png"] == "not inside a class folder"
    assert index.class_names == ["cat", "dog"] and sum(index.summary()["totals"].values()) == 9
    assert events[-1]["type"] == "message" and any(e["type"] == "progress" for e in events)
    with pytest.raises(DatasetError, match="Cannot read image.*text.png"):
        images.read_image(tmp_path / "cat" / "text.png", index.config)


def test_decoded_budget_keeps_only_the_first_files(tmp_path, monkeypatch):
    from napari_convnet.core import walk

    for cls in ("cat", "dog"):
        for i in range(4):
            _tif(tmp_path / cls / f"{i}.tif", RNG.integers(0, 255, (10, 10), np.uint8))
    monkeypatch.setattr(walk, "DECODED_BUDGET", 350)
    index = index_folder(tmp_path, _config(validation_split=0.0))
    assert len(index.decoded) == 3
    x, y = pipeline.load_split(index, "train")
    monkeypatch.setattr(walk, "DECODED_BUDGET", 0)
    again = pipeline.load_split(index_folder(tmp_path, index.config), "train")[0]
    np.testing.assert_allclose(again, x, atol=1e-6)  # batched vs per-file: rounding only


def test_small_images_are_upscaled(tmp_path):
    _flat(tmp_path, shape=(4, 4))
    index = index_folder(tmp_path, DataConfig(image_size=(16, 16)))
    assert index.summary()["upscaled"] == 10
    assert any("upscaled" in note for note in index.summary()["notes"])
    assert pipeline.load_split(index, "train")[0].shape == (8, 16, 16, 1)


def _one_good_one_bad_class(root):
    _flat(root, classes=("a",))
    (root / "b").mkdir()
    (root / "b" / "x.png").write_text("text")


@pytest.mark.parametrize("make, text", [
    (lambda p: _flat(p, classes=("only",)), "at least two classes.*only"),
    (lambda p: [(p / c).mkdir() for c in "ab"], "has 0"),
    (_one_good_one_bad_class, "has 1"),
])
def test_unusable_datasets(tmp_path, make, text):
    make(tmp_path)
    with pytest.raises(DatasetError, match=text):
        index_folder(tmp_path, _config())


def test_root_and_config_arguments(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        index_folder(tmp_path / "missing")
    with pytest.raises(DatasetError, match="not a folder"):
        index_folder(_png(tmp_path / "file.png"))
    with pytest.raises(DatasetError, match="config"):
        index_folder(tmp_path, {"image_size": (8, 8)})
    with pytest.raises(JobStopped):
        index_folder(_flat(tmp_path / "d"), should_stop=lambda: True)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_loop_does_not_hang(tmp_path):
    _flat(tmp_path, n=3)
    os.symlink(tmp_path, tmp_path / "cat" / "loop")
    os.symlink(tmp_path / "dog", tmp_path / "dog" / "self")
    index = index_folder(tmp_path, _config())
    assert sum(index.summary()["totals"].values()) == 6


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_folder_links_that_loop_or_index_twice_are_bad_entries(tmp_path):
    _flat(tmp_path / "flat", n=3)
    os.symlink(tmp_path / "flat", tmp_path / "flat" / "cat" / "parent")  # DATA/cat/parent -> DATA
    os.symlink(tmp_path / "flat" / "dog", tmp_path / "flat" / "cat" / "dogs")
    os.symlink(tmp_path / "flat" / "cat", tmp_path / "flat" / "kitten")  # a second name of cat
    index = index_folder(tmp_path / "flat", _config(validation_split=0.0))
    assert index.class_names == ["cat", "dog"]
    assert index.counts()["train"] == {"cat": 3, "dog": 3}
    reasons = {os.path.basename(b.path): b.reason for b in index.bad_files}
    assert reasons == {
        "parent": "link to a folder that holds it (a loop): not followed",
        "dogs": "link to another class folder (dog): not followed, its files would be indexed "
                "twice",
        "kitten": "link to the class folder cat: not followed, its files would be indexed twice",
    }

    # split layout: a link from test/ to train/ would make one test class of all training files
    _flat(tmp_path / "splits" / "train", n=3)
    _flat(tmp_path / "splits" / "test", n=2)
    os.symlink(tmp_path / "splits" / "train", tmp_path / "splits" / "test" / "cat" / "all")
    index = index_folder(tmp_path / "splits", _config(validation_split=0.0))
    assert index.counts()["train"] == {"cat": 3, "dog": 3}
    assert index.counts()["test"] == {"cat": 2, "dog": 2}
    assert [b.reason for b in index.bad_files] == [
        "link to another class folder (train/cat, train/dog): not followed, its files would be "
        "indexed twice"]

    # a link to a folder outside the data set is followed as before
    _png(tmp_path / "elsewhere" / "x.png")
    os.symlink(tmp_path / "elsewhere", tmp_path / "flat" / "dog" / "more")
    index = index_folder(tmp_path / "flat", _config(validation_split=0.0))
    assert index.counts()["train"] == {"cat": 3, "dog": 4}


def test_tiff_with_pages_of_different_shapes_is_refused(tmp_path):
    from napari_convnet.core.images import read_image

    _flat(tmp_path, n=3)
    odd = tmp_path / "cat" / "two-shapes.tif"
    with tifffile.TiffWriter(odd) as tif:
        tif.write(np.zeros((12, 10), np.uint8))
        tif.write(np.zeros((6, 8), np.uint8))
    index = index_folder(tmp_path, _config(validation_split=0.0))
    assert [(b.path, b.reason) for b in index.bad_files] == [(str(odd), (
        "TIFF with pages of different shapes (12x10, 6x8): only the first would be read; "
        "save each image as its own file"))]
    assert index.counts()["train"] == {"cat": 3, "dog": 3}
    with pytest.raises(DatasetError, match=r"two-shapes\.tif.*pages of different shapes "
                                           r"\(12x10, 6x8\)"):
        read_image(odd, _config())
    # pages of one shape are one stack, and a reduced-resolution page is no second image
    _tif(tmp_path / "stack.tif", np.zeros((5, 12, 10), np.uint8))
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write(np.zeros((12, 10), np.uint8))
        tif.write(np.zeros((6, 5), np.uint8), subfiletype=1)
    assert read_image(tmp_path / "stack.tif", _config()).shape == (1, 8, 8, 1)
    assert read_image(tmp_path / "thumb.tif", _config()).shape == (1, 8, 8, 1)


def test_imbalance_and_class_weights(tmp_path):
    _flat(tmp_path, classes=("many",), n=12)
    _flat(tmp_path, classes=("few",), n=4)
    index = index_folder(tmp_path, _config(validation_split=0.25))
    assert index.counts()["train"] == {"few": 3, "many": 9}
    assert index.class_weights() == {0: 2.0, 1: pytest.approx(12 / 18)}
    assert index.summary()["imbalance"] == {"ratio": 3.0, "largest": "many", "smallest": "few",
                                            "imbalanced": True}


def test_make_dataset_batches_shuffle_and_caches(tmp_path):
    _flat(tmp_path, n=6)
    index = index_folder(tmp_path, _config(validation_split=0.0))
    batches = list(pipeline.make_dataset(index, "train", batch_size=5, shuffle=False))
    assert [b[0].shape for b in batches] == [(5, 8, 8, 1), (5, 8, 8, 1), (2, 8, 8, 1)]
    assert (batches[0][0].dtype.name, batches[0][1].dtype.name) == ("float32", "int32")
    x, y = pipeline.load_split(index, "train")
    assert np.array_equal(np.concatenate([b[0] for b in batches]), x)
    for cache in (False, str(tmp_path / "cache" / "train")):
        ds = pipeline.make_dataset(index, "train", batch_size=4, cache=cache, drop_remainder=True)
        epochs = [np.concatenate([b[1] for b in ds]) for _ in range(2)]
        assert len(epochs[0]) == 12 and sorted(epochs[0]) == sorted(y)
        assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
    assert any(name.startswith("train.") for name in os.listdir(tmp_path / "cache"))
    unpickled = pickle.loads(pickle.dumps(index))  # the engine may pickle an index
    assert unpickled.decoded == {} and len(index.decoded) == index.stats["files"]
    index.forget_decoded()  # decode from disk in threads: the same arrays
    np.testing.assert_allclose(pipeline.load_split(index, "train")[0], x, atol=1e-6)
    with pytest.raises(DatasetError, match="split='test'"):
        pipeline.make_dataset(index, "test")
    with pytest.raises(DatasetError, match="batch_size=0"):
        pipeline.make_dataset(index, "train", batch_size=0)


def test_augmentation(tmp_path):
    x = np.zeros((16, 8, 8, 1), np.float32)
    x[:, 1:3, 1:3] = 1
    once = np.asarray(pipeline.augment_batch(x, seed=(1, 2)))
    assert once.shape == x.shape and once.dtype == np.float32
    assert np.array_equal(once, np.asarray(pipeline.augment_batch(x, seed=(1, 2))))
    assert not np.array_equal(once, x)
    _flat(tmp_path, n=4)
    index = index_folder(tmp_path, _config(validation_split=0.0))
    ds = pipeline.make_dataset(index, "train", batch_size=8, augment=True)
    xb, yb = next(iter(ds))
    assert xb.shape == (8, 8, 8, 1) and yb.shape == (8,)


def test_cli_text_json_and_errors(tmp_path, capsys):
    _flat(tmp_path, n=5)
    (tmp_path / "dog" / "bad.png").write_text("nope")
    assert main(["data", str(tmp_path), "--image-size", "8", "8"]) == 0
    out = capsys.readouterr().out
    assert "cat, dog" in out and "bad.png: not an image" in out and "validation" in out
    assert main(["data", str(tmp_path), "--json", "--test-split", "0.2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["test"] == {"cat": 1, "dog": 1} and len(summary["bad_files"]) == 1
    assert main(["data", str(tmp_path), "--image-size", "0", "28"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "image_size=(0, 28)" in err


def test_sample_data_is_a_usable_dataset():
    from napari_convnet import _sample_data

    (stack, kwargs, kind), = _sample_data.make_digits_sample(per_class=2)
    assert kind == "image" and stack.shape == (20, 28, 28) and stack.dtype == np.uint8
    assert kwargs["metadata"]["class_names"] == [str(d) for d in range(10)]
    assert kwargs["metadata"]["labels"][:4] == [0, 0, 1, 1]
    index = index_folder(_sample_data.digits_folder(), DataConfig(image_size=(28, 28)))
    assert index.class_names == [str(d) for d in range(10)] and not index.bad_files
    assert index.counts()["train"]["0"] == 48 and index.config.channels == 1
