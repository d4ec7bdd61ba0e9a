"""napari-convnet: train, inspect and apply convolutional image classifiers from napari.

Importing this package is cheap on purpose: napari reads the manifest at start-up,
and TensorFlow must never be imported in napari's process (see docs/troubleshooting.md).
"""

__version__ = "0.1.0"
