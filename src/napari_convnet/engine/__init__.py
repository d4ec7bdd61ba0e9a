"""The process boundary between napari and Keras.

``client`` (imported here) never imports Keras; ``server`` and ``jobs`` run in the child
process started with ``python -m napari_convnet.engine``.
"""

from napari_convnet.engine.client import Engine, Job, get_engine

__all__ = ["Engine", "Job", "get_engine"]
