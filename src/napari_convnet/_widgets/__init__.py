"""Thin napari widgets. They talk to Keras only through ``napari_convnet.engine``."""
