"""Gradients on whichever Keras backend runs (TensorFlow, JAX or PyTorch).

Keras 3 has no backend-neutral gradient function: each backend differentiates its own way
(``tf.GradientTape``, ``jax.grad``, ``torch.autograd``). :func:`gradient` hides that, and
:func:`offset_after` makes the gradient with respect to a layer's output reachable on all three:
a per-channel offset added after the layer, whose gradient is the sum of the output's.
"""

import contextlib

import keras
import numpy as np


def gradient(fn, at):
    """d fn(v) / d v at ``v = at`` on the running backend.

    Parameters
    ----------
    fn : callable
        Maps a backend tensor shaped like ``at`` to a scalar tensor; runs the model inside.
    at : ndarray
        float32, any shape.

    Returns
    -------
    ndarray
        float32, ``at``'s shape.
    """
    name = keras.backend.backend()
    if name == "jax":
        import jax

        grad = jax.grad(fn)(jax.numpy.asarray(at))
    elif name == "torch":
        import torch

        v = keras.ops.convert_to_tensor(at).requires_grad_(True)  # on Keras' device
        (grad,) = torch.autograd.grad(fn(v), v)
    else:
        import tensorflow as tf

        v = tf.convert_to_tensor(at)
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = fn(v)
        grad = tape.gradient(y, v)
    return np.asarray(keras.ops.convert_to_numpy(grad), np.float32)


@contextlib.contextmanager
def offset_after(layer, offset):
    """While inside, ``layer`` returns its output + ``offset`` (broadcast on the last axis).

    ``offset`` None: the layer is left as it is.

    The layer's ``call`` is wrapped on this one instance and restored on exit, so models that
    share the layer (sub-models, nested backbones) see the offset wherever they run it.
    """
    if offset is None:
        yield
        return
    own = vars(layer).get("call")  # already wrapped on this instance (nested offsets)
    call = layer.call
    layer.call = lambda *args, **kwargs: call(*args, **kwargs) + offset
    try:
        yield
    finally:
        if own is None:
            del layer.call
        else:
            layer.call = own


def not_recorded():
    """Context manager: no gradients are recorded inside (PyTorch's ``no_grad``; a no-op on
    TensorFlow and JAX, which record only when asked). For inference outside ``predict``."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()
