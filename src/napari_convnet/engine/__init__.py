"""The process boundary between napari and Keras.

``client`` (imported here) never imports Keras; ``server`` and ``handlers`` run in the child
process started with ``python -m napari_convnet.engine``.
"""

from napari_convnet.engine.client import Engine, Request, get_engine

__all__ = ["Engine", "Request", "get_engine"]
