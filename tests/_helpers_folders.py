"""A tiny training folder shared by the engine and widget tests (importable from every test folder:
pytest puts ``tests/`` on ``sys.path`` for ``tests/conftest.py``). Only numpy and PIL: widget
tests import it in the napari process; ``benchmarks/bench_load.py`` loads it with ``runpy``."""

import numpy as np
from PIL import Image

SIZE = 20


def stripes_folder(root, n=12, size=SIZE):
    """Write ``n`` noisy ``size``×``size`` images per class (horizontal vs vertical stripes; a CNN
    learns them in a few epochs) into ``root``; return ``root``."""
    rng = np.random.default_rng(1)
    for name, axis in (("horizontal", 0), ("vertical", 1)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            line = (np.arange(size) + rng.integers(0, 4)) % 4 < 2
            img = np.repeat(line[:, None], size, 1) if axis == 0 else np.repeat(line[None], size, 0)
            img = img * 180 + rng.integers(0, 60, (size, size))
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i:02d}.png")
    return root
