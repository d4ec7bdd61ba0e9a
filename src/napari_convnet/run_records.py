"""Run records: one JSON file per training run, beside the model. Keras-free.

Every run that writes a bundle ``DIR/NAME.keras`` also writes ``DIR/NAME.run.json`` (the
latest run of that model) and a copy ``DIR/runs/NAME-<UTC time>.run.json`` that is never
overwritten, so all runs stay comparable later (``runs/`` collects every model trained into
``DIR``). :mod:`napari_convnet.core.training` writes them (:func:`write_run_record`); the
Train dock's runs table and the CLI read them (:func:`read_run_records`). The keys are in
docs/models.md.
"""

import dataclasses
import datetime
import glob
import json
import os

from napari_convnet.atomic import replacing
from napari_convnet.errors import ModelError
from napari_convnet.filenames import RUN_SUFFIX, next_free

RUN_KIND = "napari-convnet-run"


def utc_now():
    """ISO 8601 UTC time stamp, second resolution (runs and bundles)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_record(meta, result, started, out):
    """The JSON-able record of one run."""
    return {
        "kind": RUN_KIND,
        "format_version": 1,
        "model": os.path.abspath(out) if out else None,
        "started": started,
        "finished": utc_now(),
        "preset": meta["preset"],
        "preset_options": meta["preset_options"],
        "train_config": meta["train_config"],
        "data_config": meta["data_config"],
        "class_names": meta["class_names"],
        "result": dataclasses.asdict(result),
        "metrics": meta["metrics"],
        "device": result.device,
        "dataset": meta["dataset"],
        "versions": meta["versions"],
    }


def _write_json(path, obj):
    try:
        with replacing(path, suffix=".json") as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1)
    except OSError as exc:
        raise ModelError(
            f"Cannot write the run record {path!r}: {exc.strerror or exc}. The model bundle "
            "was saved; free some disk space or check the folder's permissions."
        ) from exc


def run_record_paths(out, started):
    """``(latest, archived)`` run record paths for bundle ``out`` and start time ``started``.

    The archived name is free: a second run of the same bundle name started in the same
    second gets ``NAME-<time>-2.run.json`` instead of replacing the first one's record.
    """
    latest = latest_record_path(out)
    folder, name = os.path.split(latest)
    stamp = started.replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    archived = os.path.join(folder, "runs", f"{name[: -len(RUN_SUFFIX)]}-{stamp}{RUN_SUFFIX}")
    return latest, next_free(archived, RUN_SUFFIX)


def latest_record_path(out):
    """``DIR/NAME.run.json``: the record of the latest run of bundle ``DIR/NAME.keras``."""
    out = os.fspath(out)
    stem = os.path.basename(out)[: -len(".keras")] if out.endswith(".keras") else out
    return os.path.join(os.path.dirname(os.path.abspath(out)), f"{stem}{RUN_SUFFIX}")


def write_run_record(out, record):
    """Write ``record`` to both run record paths of bundle ``out``; return them."""
    paths = run_record_paths(out, record["started"])
    for path in paths:
        _write_json(path, record)
    return paths


def read_run_records(folders):
    """The run records (``*.run.json``) found in ``folders`` and their ``runs/``.

    Unreadable records, and the latest-run copy of a record already read, are skipped.

    Returns
    -------
    list of dict
        Each record with ``record_path`` added, oldest first.
    """
    seen, records = set(), []
    for folder in folders:
        patterns = (os.path.join(folder, "*" + RUN_SUFFIX),
                    os.path.join(folder, "runs", "*" + RUN_SUFFIX))
        for path in sorted(p for pattern in patterns for p in glob.glob(pattern)):
            try:
                with open(path, encoding="utf-8") as fh:
                    record = json.load(fh)
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict):
                continue
            key = (record.get("model"), record.get("started"))
            if key in seen or "result" not in record:
                continue
            seen.add(key)
            record["record_path"] = path
            records.append(record)
    records.sort(key=lambda r: str(r.get("started") or ""))
    return records
