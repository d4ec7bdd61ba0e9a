"""Plain Keras library behind the plugin: data, presets, training, inspection, prediction.

Usable from a notebook. Never imports Qt, napari or magicgui. Submodules import Keras;
import them explicitly (``from napari_convnet.core import data``).
"""
