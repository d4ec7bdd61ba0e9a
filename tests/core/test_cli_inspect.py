"""``napari-convnet inspect`` end to end on a tiny bundle: layers, kernels, maps, Grad-CAM."""

import json

import keras
import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_convnet.cli import main
from napari_convnet.core import presets
from napari_convnet.core.bundle import save_bundle
from napari_convnet.core.data_config import DataConfig


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    keras.utils.set_random_seed(0)
    model = presets.build_model("course-cnn", (28, 28, 1), 2)
    meta = {"class_names": ["dark", "light"], "input_shape": [28, 28, 1],
            "data_config": DataConfig(image_size=(28, 28), channels=1,
                                      levels=((0.0, 255.0),)).to_dict()}
    save_bundle(model, root / "cnn.keras", meta)
    image = np.random.default_rng(0).integers(0, 255, (50, 40), dtype=np.uint8)
    Image.fromarray(image).save(root / "image.png")
    return root, root / "cnn.keras", root / "image.png", model


def test_list_layers(capsys, files):
    _, bundle, _, _ = files
    code, out, _ = _run(capsys, "inspect", bundle, "--list-layers")
    assert code == 0
    assert out.splitlines()[0] == "conv1\tConv2D\t26x26x16\t160"
    code, out, _ = _run(capsys, "inspect", bundle, "--list-layers", "--json")
    assert [r["name"] for r in json.loads(out)][-1] == "predictions"


def test_kernels_tiff(capsys, files):
    root, bundle, _, model = files
    code, out, _ = _run(capsys, "inspect", bundle, "--layer", "conv2", "--kernels",
                        root / "k.tif")
    assert code == 0 and "16 x 16 x 3 x 3" in out
    kernels = tifffile.imread(root / "k.tif")
    np.testing.assert_allclose(kernels[3, 2], model.get_layer("conv2").get_weights()[0][..., 2, 3])


def test_feature_maps_tiff_carries_scale_and_translate(capsys, files):
    root, bundle, image, _ = files
    out_path = root / "maps.tif"
    code, _, _ = _run(capsys, "inspect", bundle, image, "--layer", "pool2", "--feature-maps",
                      out_path)
    assert code == 0
    with tifffile.TiffFile(out_path) as tif:
        maps = tif.asarray()
        info = tif.shaped_metadata[0]
        xres = tif.pages[0].tags["XResolution"].value
    assert maps.shape == (16, 11, 8) and maps.dtype == np.float32  # 50x40 -> ... -> 11x8
    assert info["scale"] == [4.0, 4.0] and info["translate"] == [4.5, 4.5]
    assert info["layer"] == "pool2" and xres[0] / xres[1] == 0.25


def test_grad_cam_tiff_has_the_image_size(capsys, files):
    root, bundle, image, _ = files
    code, out, _ = _run(capsys, "inspect", bundle, image, "--grad-cam", root / "cam.tif",
                        "--class", "light", "--json")
    assert code == 0 and json.loads(out)["class_name"] == "light"
    with tifffile.TiffFile(root / "cam.tif") as tif:
        assert tif.asarray().shape == (50, 40)
        assert tif.shaped_metadata[0]["layer"] == "conv3"


@pytest.mark.parametrize(("argv", "match"), [
    (["--kernels", "k.tif"], "--kernels needs --layer"),
    (["--layer", "dense1", "--kernels", "k.tif"], "no convolution kernels"),
    (["--list-layers", "--kernels", "k.tif"], "exactly one of"),
    (["--grad-cam", "c.tif"], "needs an IMAGE"),
    (["IMAGE", "--grad-cam", "c.tif", "--class", "blue"], "Unknown class 'blue'"),
    (["IMAGE", "--layer", "dense1", "--feature-maps", "m.tif"], "no spatial feature maps"),
])
def test_bad_requests_are_one_line_errors(capsys, files, argv, match):
    root, bundle, image, _ = files
    argv = [image if a == "IMAGE" else root / a if a.endswith(".tif") else a for a in argv]
    code, _, err = _run(capsys, "inspect", bundle, *argv)
    assert code == 2 and err.count("\n") == 1 and match in err, err
