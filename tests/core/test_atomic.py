"""The one atomic writer: links written through, permissions kept, failures leave no trace.

Every surface writes through :mod:`napari_convnet.atomic` (bundles, checkpoints, run
records, CLI outputs, the docks' exports); these tests write real files with it, and a real
CLI output through a link and onto a full disk.
"""

import errno
import os
import stat

import numpy as np
import pytest
from skimage import data as skdata

from napari_convnet import atomic
from napari_convnet.csvfile import write_csv
from napari_convnet.errors import ConvnetError


def _listing(folder):
    return sorted(os.listdir(folder))


def test_link_is_written_through(tmp_path):
    target = tmp_path / "real" / "results.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "results.csv"
    link.symlink_to(target)
    write_csv(link, [["path", "class"], ["a.png", "cells"]])
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"path,class\r\na.png,cells\r\n"
    assert _listing(target.parent) == ["results.csv"]  # no temporary file left


def test_permissions_of_an_existing_file_are_kept(tmp_path):
    path = tmp_path / "private.csv"
    path.write_text("old\n")
    path.chmod(0o600)
    write_csv(path, [["a"]])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    new = tmp_path / "new.csv"
    write_csv(new, [["a"]])
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask


def test_full_disk_keeps_the_old_file_byte_identical(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    path.write_bytes(b"path,class\r\nkept.png,cells\r\n")
    before = path.read_bytes()
    real_replace = os.replace

    def full(src, dst):  # the disk fills at the last moment: the data never reaches dst
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ConvnetError) as info:
        write_csv(path, [["x"] * 10] * 1000, "the CSV file")
    monkeypatch.setattr(os, "replace", real_replace)
    message = str(info.value)
    assert "No space left on device" in message and "an existing file is unchanged" in message
    assert path.read_bytes() == before and _listing(tmp_path) == ["results.csv"]


def test_error_in_the_block_removes_the_temporary_file(tmp_path):
    path = tmp_path / "map.tif"
    with pytest.raises(ZeroDivisionError), atomic.writing(path, "--tile-map") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"partial")
        1 / 0  # noqa: B018
    assert _listing(tmp_path) == []


def test_unencodable_name_is_a_clear_error(tmp_path):
    with pytest.raises(ConvnetError, match="Cannot write the report"):
        atomic.write_text(tmp_path / "r.json", "\udcff", "the report")
    assert _listing(tmp_path) == []


def test_cli_tile_map_through_a_link(tmp_path, capsys):
    """A real CLI output onto a link: the target gets the class map, the link stays."""
    import tifffile

    from napari_convnet.cli import main
    from napari_convnet.core.bundle import save_bundle
    from napari_convnet.core.presets import build_model

    model = build_model("vgg1", (32, 32, 1), 2)
    bundle = tmp_path / "m.keras"
    save_bundle(model, bundle, {"class_names": ["brick", "grass"], "input_shape": [32, 32, 1],
                                "data_config": {"image_size": [32, 32], "channels": 1,
                                                "normalization": "percentile"}})
    image = tmp_path / "brick.tif"
    tifffile.imwrite(image, skdata.brick()[:96, :96])
    target = tmp_path / "maps" / "brick-map.tif"
    target.parent.mkdir()
    target.write_bytes(b"an older map")
    link = tmp_path / "brick-map.tif"
    link.symlink_to(target)
    assert main(["predict", str(bundle), str(image), "--tile-map", str(link)]) == 0
    assert link.is_symlink()
    class_map = tifffile.imread(target)
    assert class_map.shape == (96, 96) and set(np.unique(class_map)) <= {0, 1, 2}
    assert _listing(target.parent) == ["brick-map.tif"]
