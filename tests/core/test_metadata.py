"""Bundle metadata is checked like user input: hostile or damaged napari_convnet.json files.

Each bundle here is a real bundle saved by ``save_bundle`` whose metadata member was then
rewritten (as an editor, a script or an attacker would); every one must be refused by
``read_meta`` (what the engine, the docks and the CLI all call first) with one readable
ModelError, before Keras reads the model.
"""

import json
import zipfile

import keras
import pytest

from napari_convnet.core import metadata
from napari_convnet.core.bundle import load_bundle, read_meta, save_bundle
from napari_convnet.core.presets import build_model
from napari_convnet.errors import ModelError

SHAPE = (16, 16, 1)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_model("vgg1", SHAPE, 2)
    path = tmp_path_factory.mktemp("bundle") / "good.keras"
    meta = save_bundle(model, path, {
        "class_names": ["cells", "debris"], "input_shape": list(SHAPE),
        "data_config": {"image_size": list(SHAPE[:2]), "channels": 1,
                        "normalization": "percentile"},
        "preset": "vgg1", "history": {"loss": [0.7, 0.5]}})
    return path, meta


def _rewritten(good, tmp_path, member):
    """A copy of the good bundle whose metadata member is ``member`` (bytes or a JSON value)."""
    src, _ = good
    out = tmp_path / "edited.keras"
    data = member if isinstance(member, bytes) else json.dumps(member).encode()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != metadata.META_MEMBER:
                zout.writestr(info, zin.read(info))
        zout.writestr(metadata.META_MEMBER, data)
    return out


def _edited(good, **changes):
    meta = dict(good[1])
    meta.update(changes)
    return meta


CASES = {
    "input_shape is a number": ({"input_shape": 5}, "`input_shape` must be"),
    "data_config is text": ({"data_config": "abc"}, "`data_config` must be an object"),
    "class names not strings": ({"class_names": [1, None]}, "not allowed: [1, None]"),
    "one class": ({"class_names": ["only"]}, "2 to 10,000"),
    "class twice": ({"class_names": ["a", "a"]}, "appear twice: ['a']"),
    "image size of 60000 on a 16x16 model": (
        {"data_config": {"image_size": [60000, 60000], "channels": 1}}, "between 4 and 4096"),
    "data_config disagrees with the model": (
        {"data_config": {"image_size": [32, 32], "channels": 1}}, "makes (32, 32) images"),
    "another format": ({"format": "some-other-tool"}, "not a napari-convnet model bundle"),
    "newer format version": ({"format_version": 7, "versions": {"napari_convnet": "9.1"}},
                             "Update to napari-convnet 9.1 or newer"),
    "history not numbers": ({"history": {"loss": ["=cmd"]}}, "a list of numbers"),
    "metadata a list": (None, "must be a JSON object"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_field_refused_before_keras(good, tmp_path, case):
    changes, needle = CASES[case]
    member = [1, 2] if changes is None else _edited(good, **changes)
    path = _rewritten(good, tmp_path, member)
    with pytest.raises(ModelError) as info:
        read_meta(path)
    assert needle in str(info.value) and repr(str(path)) in str(info.value)
    with pytest.raises(ModelError):  # and load_bundle refuses it the same way
        load_bundle(path)


def test_a_million_class_names_give_a_short_message(good, tmp_path):
    names = [f"class {i}" for i in range(10**6)]
    path = _rewritten(good, tmp_path, _edited(good, class_names=names))
    with pytest.raises(ModelError, match="Received 1,000,000 names") as info:
        read_meta(path)
    assert len(str(info.value)) < 1500  # was 11 MB (napari froze 27 s showing it)


def test_inflating_metadata_is_not_read_whole(good, tmp_path):
    # 17 MiB of spaces compress to ~17 KB: the zip says how large it is, and it is refused
    big = b'{"class_names": ["a", "b"]' + b" " * (17 * 2**20) + b"}"
    path = _rewritten(good, tmp_path, big)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo(metadata.META_MEMBER).compress_size < 100_000
    with pytest.raises(ModelError, match="at most 16,777,216 bytes are read"):
        read_meta(path)


@pytest.mark.parametrize("member, needle", [
    (b"\xff\xfe not utf-8", "metadata is damaged"),
    (b'{"class_names": [', "metadata is damaged"),
    (b"[" * 100_000 + b"]" * 100_000, "metadata is damaged"),
])
def test_damaged_metadata(good, tmp_path, member, needle):
    with pytest.raises(ModelError, match=needle):
        read_meta(_rewritten(good, tmp_path, member))


def test_good_bundle_and_older_metadata_still_load(good, tmp_path):
    meta = read_meta(good[0])
    assert meta["class_names"] == ["cells", "debris"]
    older = {k: v for k, v in good[1].items() if k not in ("format", "format_version")}
    model, loaded = load_bundle(_rewritten(good, tmp_path, older))
    assert loaded["class_names"] == ["cells", "debris"] and model.input_shape[1:] == SHAPE


def test_save_refuses_what_load_would_refuse(good, tmp_path):
    model, _ = load_bundle(good[0])
    with pytest.raises(ModelError, match="`class_names` must be"):
        save_bundle(model, tmp_path / "x.keras", _edited(good, class_names=["a", ""]))
    assert not (tmp_path / "x.keras").exists()
