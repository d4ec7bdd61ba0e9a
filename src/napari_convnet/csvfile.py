"""The CSV files every surface writes (command line, docks): one rule for names and cells.

Every CSV is written atomically (:mod:`napari_convnet.atomic`).

Keras-free (napari's process imports it).

- **Names are bytes-safe.** The file is UTF-8. A file or class name that is not UTF-8 (Linux
  names are bytes; Python holds the bytes it cannot decode as surrogate escapes ``\\udcXX``)
  is written byte for byte (``errors="surrogateescape"``): the cell holds exactly the name
  the file system has. Python reads it back with
  ``open(path, encoding="utf-8", errors="surrogateescape", newline="")``.
- **No formulas.** A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return, which a spreadsheet would run as a formula (CSV injection), is written
  with a leading ``'`` (OWASP's advice). Numbers, and text that is one plain decimal number
  such as ``-0.5`` or ``1e-05``, are written as they are.
"""

import csv
import re

from napari_convnet.atomic import writing

ENCODING = "utf-8"
ERRORS = "surrogateescape"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def cell(value):
    """``value`` as a CSV cell: text a spreadsheet would run as a formula gets a leading ``'``.

    Examples
    --------
    >>> cell("=1+2"), cell("-0.5"), cell(-0.5), cell("cat")
    ("'=1+2", '-0.5', -0.5, 'cat')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def open_csv(path):
    """Open ``path`` to write CSV rows: UTF-8, names byte for byte, the csv module's newlines."""
    return open(path, "w", newline="", encoding=ENCODING, errors=ERRORS)


def write_rows(fh, rows):
    """Write ``rows`` (lists of cells) to the text file ``fh``, each cell through :func:`cell`."""
    writer = csv.writer(fh)
    writer.writerows([cell(value) for value in row] for row in rows)


def write_csv(path, rows, what="the CSV file"):
    """Write ``rows`` to ``path`` as a CSV file, atomically (:func:`napari_convnet.atomic.writing`).

    Raises
    ------
    ConvnetError
        The file cannot be written (full disk, permissions...): an earlier file is unchanged.
    """
    with writing(path, what) as tmp, open_csv(tmp) as fh:
        write_rows(fh, rows)
