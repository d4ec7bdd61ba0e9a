"""Models in and out: ONNX and bioimage.io packages out, any Keras classifier in.

- :mod:`.classifier`: is a Keras model an image classifier, and does it give probabilities;
- :mod:`.importing`: a ``.keras``, legacy ``.h5`` or bioimage.io package -> a model bundle;
- :mod:`.onnx_export`: a bundle -> an ``.onnx`` file, checked with onnxruntime;
- :mod:`.bioimageio`: a bundle -> a bioimage.io model package, and reading one.

ONNX and bioimage.io need the ``share`` extra (``pip install "napari-convnet[share]"``).
"""
