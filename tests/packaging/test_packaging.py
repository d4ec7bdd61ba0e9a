"""The manifest reaches npe2 in the editable install and inside a built wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import npe2

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_is_valid_and_found_through_the_entry_point():
    manifest = npe2.PluginManifest.from_distribution("napari-convnet")
    assert manifest.name == "napari-convnet"
    assert "ConvNet" in [w.display_name for w in manifest.contributions.widgets]
    result = subprocess.run([sys.executable, "-m", "npe2", "validate", "napari-convnet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_importing_the_plugin_and_reading_the_manifest_does_not_import_tensorflow():
    code = (
        "import sys, napari_convnet, npe2;"
        "pm = npe2.PluginManager.instance(); pm.discover();"
        "pm.get_manifest('napari-convnet');"
        "import napari_convnet.engine, napari_convnet.cli;"
        "napari_convnet.cli.build_parser();"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_contains_the_manifest_and_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("napari_convnet-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        manifest = zf.read("napari_convnet/napari.yaml").decode()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        entry_text = zf.read(entry_points).decode()
    assert "name: napari-convnet" in manifest and "widgets:" in manifest
    assert "[napari.manifest]" in entry_text
    assert "napari_convnet:napari.yaml" in entry_text
    assert "napari-convnet = napari_convnet.cli:main" in entry_text
