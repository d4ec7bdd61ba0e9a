"""Every number a user can type has one bound (napari_convnet.options), on the CLI as in core.

Values out of bounds end in one clear line (exit 2) before any work; before, an image size
of 20000 x 20000 ran into a 47.7 GiB MemoryError traceback.
"""

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from napari_convnet import options
from napari_convnet.cli import main
from napari_convnet.core.data_config import DataConfig
from napari_convnet.core.training import TrainConfig
from napari_convnet.errors import DatasetError, ModelError


@pytest.fixture(scope="module")
def textures(tmp_path_factory):
    """Two classes of 48x48 crops of scikit-image's brick and grass photographs."""
    root = tmp_path_factory.mktemp("textures")
    for name, image in (("brick", skdata.brick()), ("grass", skdata.grass())):
        (root / name).mkdir()
        for i in range(4):
            y, x = divmod(i, 2)
            Image.fromarray(image[y * 48:(y + 1) * 48, x * 48:(x + 1) * 48]).save(
                root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("args, needle", [
    (["--image-size", "20000", "20000"], "two ints between 4 and 4096"),
    (["--batch-size", "0"], "`batch_size` must be an int from 1 to 4,096"),
    (["--epochs", "0"], "`epochs` must be an int from 1 to 10,000"),
    (["--lr", "5"], "`learning_rate` must be a number from 1e-06 to 1"),
    (["--optimizer", "sgd", "--momentum", "1"], "`momentum` must be a number from 0 to 0.999"),
    (["--early-stopping", "0"], "`early_stopping` must be None or an int from 1 to 1,000"),
    (["--validation-split", "0.95"], "`validation_split` must be a number from 0 to 0.9"),
])
def test_train_numbers_out_of_bounds(textures, tmp_path, capsys, args, needle):
    out = tmp_path / "m.keras"
    code = main(["train", str(textures), "--preset", "vgg1", "--out", str(out), *args])
    _, err = capsys.readouterr()
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert err.count("\n") == 1 and not out.exists()


def test_train_defaults_come_from_options():
    assert TrainConfig().learning_rate == options.LEARNING_RATES["adam"] == 1e-3
    assert TrainConfig(optimizer="sgd").learning_rate == options.LEARNING_RATES["sgd"] == 1e-2
    assert TrainConfig(optimizer="sgd", learning_rate=0.05).learning_rate == 0.05
    for key, value in options.TRAIN_DEFAULTS.items():
        if key != "learning_rate":
            assert getattr(TrainConfig(), key) == value


@pytest.mark.parametrize("value", [True, float("nan"), "3", 2**31, -1])
def test_seed_must_be_an_int32(value):
    with pytest.raises(DatasetError, match="`seed` must be an int from 0 to 2,147,483,647"):
        DataConfig(seed=value)


def test_bounds_hold_a_long_value_to_a_readable_length():
    with pytest.raises(ModelError) as info:
        TrainConfig(epochs=list(range(100_000)))
    assert len(str(info.value)) < 500 and "more characters" in str(info.value)


def test_within_takes_numpy_numbers():
    assert options.within(np.int64(32), options.BATCH_SIZE, integer=True)
    assert options.within(np.float32(0.5), options.SPLIT)
    assert not options.within(np.float32(0.5), options.BATCH_SIZE, integer=True)
