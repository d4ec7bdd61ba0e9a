"""The docks' CSV exports (Classify table, runs table) follow napari_convnet.csvfile's rules."""

import csv
import os

from napari_convnet._widgets.records_table import RecordsTable

ODD = os.fsdecode(b"/data/img\xff.png")  # a non-UTF-8 file name, as Python holds it


def test_records_csv_is_bytes_safe_and_formula_free(qtbot, tmp_path):
    table = RecordsTable(("path", "class", "probability"))
    qtbot.addWidget(table)
    table.set_records([{"path": ODD, "class": "=HYPERLINK(\"x\")", "probability": -0.5},
                       {"path": "/data/b.png", "class": "+cmd|' /C calc'!A0", "probability": 1}])
    out = tmp_path / "results.csv"
    table.export_csv(out, {"note": lambda record: "@SUM(A1)"})
    with open(out, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["path", "class", "probability", "note"]
    assert rows[1] == [ODD, "'=HYPERLINK(\"x\")", "-0.5", "'@SUM(A1)"]
    assert rows[2] == ["/data/b.png", "'+cmd|' /C calc'!A0", "1", "'@SUM(A1)"]
    assert os.fsencode(ODD) in out.read_bytes()  # the name's own bytes
