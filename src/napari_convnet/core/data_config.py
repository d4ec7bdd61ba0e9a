"""How the images of a data set are prepared for a model: :class:`DataConfig`.

Stored in every bundle (``data_config``) and checked on construction against the choices and
bounds of :mod:`napari_convnet.options`; numpy only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from napari_convnet import options
from napari_convnet.errors import DatasetError, shorten


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass
class DataConfig:
    """How images are read, preprocessed and split; stored in model bundles for prediction.

    Parameters
    ----------
    image_size : tuple of int, or None
        (H, W) of the model input. None (or ``"auto"``): taken from the data when a folder is
        indexed (:data:`napari_convnet.options.AUTO_MAX_SIDE` gives the rule).
    channels : int, optional
        Channels of the model input (:data:`napari_convnet.options.CHANNELS`); None = the
        channel count of the data (which must agree). Given, images are converted: grey ->
        repeated N times, N channels -> grey (mean).
    channel_axis : int, optional
        Channel axis of the raw arrays; None = TIFF metadata, else a first/last axis of size <= 4.
    normalization : {"dataset", "percentile", "range", "none"}
        ``dataset``: the fixed per-channel ``levels`` -> 0..1, the same mapping for every image,
        tile and crop; ``percentile``: each image's own percentiles -> 0..1; ``range``:
        integers divided by their dtype maximum; ``none``: nothing.
    percentiles : tuple of float
        Low and high percentile of ``"dataset"`` (over the training split) and ``"percentile"``
        (over each image).
    levels : tuple of (float, float), optional
        ``"dataset"`` only: the (low, high) intensity of each channel that maps to 0 and 1,
        after channel conversion. None until measured: indexing a folder measures them on its
        training split; a bundle stores them.
    stack_rule : {"max", "middle", "slices"}
        Z/T stacks: max projection, middle slice, or every slice as its own sample.
    resize : {"pad", "crop", "stretch"}
        Fit the input size preserving aspect (pad with 0 or centre-crop), or stretch.
    validation_split, test_split : float
        Fractions of each class (of files, so slices of a file stay together) split off, each
        within :data:`napari_convnet.options.SPLIT`.
    seed : int
        Seed of the splits, shuffling and augmentation (:data:`napari_convnet.options.SEED`).
    """

    image_size: tuple[int, int] | None = None
    channels: int | None = options.DATA_DEFAULTS["channels"]
    channel_axis: int | None = options.DATA_DEFAULTS["channel_axis"]
    normalization: str = options.DATA_DEFAULTS["normalization"]
    percentiles: tuple[float, float] = options.DATA_DEFAULTS["percentiles"]
    levels: tuple[tuple[float, float], ...] | None = None
    stack_rule: str = options.DATA_DEFAULTS["stack_rule"]
    resize: str = options.DATA_DEFAULTS["resize"]
    validation_split: float = options.DATA_DEFAULTS["validation_split"]
    test_split: float = options.DATA_DEFAULTS["test_split"]
    seed: int = options.DATA_DEFAULTS["seed"]

    def __post_init__(self):
        self.image_size = _check_size(self.image_size)
        options.check("channels", self.channels, options.CHANNELS, DatasetError,
                      integer=True, optional=True)
        if self.channel_axis is not None and not _is_int(self.channel_axis):
            raise DatasetError(
                "`channel_axis` must be None or an int. "
                f"Received: channel_axis={shorten(repr(self.channel_axis))}"
            )
        for name, allowed in (("normalization", options.NORMALIZATIONS),
                              ("stack_rule", options.STACK_RULES),
                              ("resize", options.RESIZE_MODES)):
            if getattr(self, name) not in allowed:
                raise DatasetError(
                    f"`{name}` must be one of {', '.join(map(repr, allowed))}. "
                    f"Received: {name}={shorten(repr(getattr(self, name)))}"
                )
        pct = self.percentiles
        low, high = options.PERCENTILE
        if (not isinstance(pct, (tuple, list)) or len(pct) != 2
                or not all(options.within(v, options.PERCENTILE) for v in pct)
                or not pct[0] < pct[1]):
            raise DatasetError(
                f"`percentiles` must be two numbers with {low:g} <= low < high <= {high:g}. "
                f"Received: percentiles={shorten(repr(pct))}"
            )
        self.percentiles = (float(pct[0]), float(pct[1]))
        self.levels = _check_levels(self.levels, self.channels)
        for name in ("validation_split", "test_split"):
            options.check(name, getattr(self, name), options.SPLIT, DatasetError)
        if self.validation_split + self.test_split >= 1:
            raise DatasetError(
                "`validation_split + test_split` must leave images for training. Received: "
                f"validation_split={self.validation_split}, test_split={self.test_split}"
            )
        options.check("seed", self.seed, options.SEED, DatasetError, integer=True)

    @property
    def complete(self):
        """True when nothing is left to take from the data (image size, channels, levels)."""
        return (self.image_size is not None and self.channels is not None
                and (self.normalization != "dataset" or self.levels is not None))

    def to_dict(self):
        """Return the configuration as a JSON-able dict (tuples become lists)."""
        out = {k: list(v) if isinstance(v, tuple) else v
               for k, v in dataclasses.asdict(self).items()}
        if self.levels is not None:
            out["levels"] = [list(pair) for pair in self.levels]
        return out

    @classmethod
    def from_dict(cls, d):
        """Build a configuration from :meth:`to_dict` output; unknown keys are ignored.

        Metadata without ``normalization`` (bundles from before ``"dataset"`` existed, or made
        by hand) gets :data:`napari_convnet.options.LEGACY_NORMALIZATION`, the rule such
        bundles were trained with.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in dict(d).items() if k in names}
        kwargs.setdefault("normalization", options.LEGACY_NORMALIZATION)
        return cls(**kwargs)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_size(size):
    """None for ``auto``, else (H, W) within :data:`napari_convnet.options.IMAGE_SIDE`."""
    if size is None or size == options.AUTO:
        return None
    low, high = options.IMAGE_SIDE
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(_is_int(v) and low <= v <= high for v in size)):
        raise DatasetError(
            f"`image_size` must be 'auto' or two ints between {low} and {high} (height, width "
            f"in pixels). Received: image_size={shorten(repr(size))}"
        )
    return (int(size[0]), int(size[1]))


def _check_levels(levels, channels):
    """None, or a tuple of one finite (low, high) float pair per channel with low < high."""
    if levels is None:
        return None
    try:
        pairs = tuple((float(lo), float(hi)) for lo, hi in levels)
        ok = (len(pairs) > 0 and all(np.isfinite(p).all() and p[0] < p[1] for p in pairs)
              and all(_is_number(v) for pair in levels for v in pair))
    except (TypeError, ValueError):
        ok = False
    if ok and channels is not None and len(pairs) != channels:
        ok = False
    if not ok:
        raise DatasetError(
            "`levels` must be None or one (low, high) pair of finite numbers with low < high "
            f"per channel ({channels or 'any number of'} channel(s)). Received: levels="
            f"{shorten(repr(levels))}"
        )
    return pairs
