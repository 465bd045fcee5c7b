"""A run killed with SIGKILL at any point: the last good version stays readable, the next run
recovers without anyone cleaning up.

A child process runs the ingestion (``faults.ingest``: read, stage, publish, catalog) and kills
itself with SIGKILL at a chosen point between two steps of the publish: nothing of Python's
clean-up runs (no ``finally``, no ``atexit``), as when the OOM killer or an operator stops it.
The points are after the staged files are complete, after the new version is in the history,
after the live partition is swapped, after the version record is written, and after the new
catalog is written but before it is renamed into place; plus, on an S3 lake, between copying
the new files into the live prefix and deleting the old ones. Then:

- while the killed run's leftovers are there, the catalog still answers with one complete
  version (the old one, or the new one once its record was written);
- the next run publishes, and leaves no staging folder, no unrecorded history version and no
  temporary catalog behind.

The last test kills a real ``curlake materialize`` process: the next CLI run of that period
marks the dead run failed in the Dagster instance and publishes.
"""

from __future__ import annotations

import os
import signal
import subprocess

import dagster as dg
import pytest

import cur_builders as cb
from faults import (
    PYTHON, REPO_ROOT, catalog_totals, child_env, cli_ingest_only, ingest, live_matches_record, priced_rows, priced_total, wait_for,
)
from transforms import duck, storage
from transforms import lake as lake_io

PERIOD = "2025-01"
TABLE = "cost_line_items"

# The child: patch one function of the publish path so that the process SIGKILLs itself there.
_CHILD = """
import os, signal, sys
import faults
from transforms import catalog, lake, storage

source, lake_root, point = sys.argv[1:4]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def after(module, name):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        original(*args, **kwargs)
        die()
    setattr(module, name, wrapper)

if point == "staged":          # new files complete in _staging, nothing else done
    after(lake, "_fsync_files")
elif point == "in-history":    # new version in _history, live partition untouched
    lake._swap_live = die
elif point == "swapped":       # live partition swapped, version record not yet written
    after(lake, "_swap_live")
elif point == "recorded":      # record names the new version; old versions not pruned, catalog not rebuilt
    after(lake, "_write_state")
elif point == "catalog-written":  # new catalog in its temporary file, not renamed into place
    after(catalog, "_write_views")
elif point == "s3-copied":     # S3: new files copied into the live prefix, old ones not yet deleted
    storage.filesystem(lake_root).rm = die
faults.ingest(source, lake_root)
"""

POINTS = ["staged", "in-history", "swapped", "recorded", "catalog-written"]


def glob_rows(lake: str) -> int:
    con = duck.connect()
    try:
        return con.execute("SELECT count(*) FROM read_parquet($g)", {"g": lake_io.partition_glob(lake, TABLE, PERIOD)}).fetchone()[0]
    finally:
        con.close()


def leftovers(lake: str) -> list[str]:
    """Files and folders a finished run never leaves: staging folders, unrecorded history, temporary catalogs."""
    root = lake_io.lake_root(lake)
    out = []
    staging = os.path.join(root, "_staging", TABLE)
    if os.path.isdir(staging):
        out += [f"_staging/{TABLE}/{n}" for n in os.listdir(staging) if not n.endswith(".lock")]
    history = os.path.join(root, "_history", TABLE, f"billing_period={PERIOD}")
    recorded = set(lake_io.list_versions(lake, TABLE, PERIOD))
    out += [f"_history/{n}" for n in os.listdir(history) if n not in recorded]
    out += [n for n in os.listdir(root) if n.startswith(".catalog-")]
    return out


@pytest.fixture
def deliveries(tmp_path):
    """Two deliveries of the month: 600 line items, then a re-delivery of 1500."""
    out = []
    for tag, n in (("v1", 600), ("v2", 1500)):
        cb.write_cur2_parquet(tmp_path / tag, PERIOD, priced_rows(PERIOD, tag, n))
        out.append(str(tmp_path / tag))
    return out


def kill_at(point: str, source: str, lake: str) -> None:
    proc = subprocess.run([PYTHON, "-c", _CHILD, source, lake, point], cwd=REPO_ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])


@pytest.mark.parametrize("point", POINTS)
def test_run_killed_at_any_point_of_the_publish_then_the_next_run_recovers(point, deliveries, tmp_path):
    first, second = deliveries
    lake = str(tmp_path / "lake")
    good = ingest(first, lake)

    kill_at(point, second, lake)

    recorded = point in ("recorded", "catalog-written")
    # The version record names exactly one version, old or new, never a partial one.
    assert (lake_io.current_version(lake, TABLE, PERIOD) == good) is not recorded
    # The catalog still reads one complete version: the old one until a new catalog is in place.
    assert catalog_totals(lake) == {PERIOD: (600, priced_total(600))}
    # What a plain glob of the live folder sees: the swapped-in new files from "swapped" on.
    assert glob_rows(lake) == (1500 if point in ("swapped", "recorded", "catalog-written") else 600)
    assert live_matches_record(lake, TABLE, PERIOD) is (point != "swapped")
    assert leftovers(lake), "the killed run left something behind (else the point was not reached)"

    latest = ingest(second, lake)

    assert lake_io.current_version(lake, TABLE, PERIOD) == latest
    assert catalog_totals(lake) == {PERIOD: (1500, priced_total(1500))}
    assert glob_rows(lake) == 1500 and live_matches_record(lake, TABLE, PERIOD)
    assert leftovers(lake) == []
    assert good in lake_io.list_versions(lake, TABLE, PERIOD)  # still there to roll back to


def test_s3_lake_run_killed_between_copy_and_delete_recovers(deliveries, s3_bucket):
    first, second = deliveries
    lake = f"{s3_bucket}/lake"
    good = ingest(first, lake)

    kill_at("s3-copied", second, lake)

    # S3 has no rename: the live prefix holds both versions (a plain glob double counts, as the
    # lake's docstring says), but the record and every pinned reader see the old one alone.
    assert glob_rows(lake) == 600 + 1500
    assert lake_io.current_version(lake, TABLE, PERIOD) == good
    assert catalog_totals(lake) == {PERIOD: (600, priced_total(600))}

    latest = ingest(second, lake)

    assert glob_rows(lake) == 1500
    assert catalog_totals(lake) == {PERIOD: (1500, priced_total(1500))}
    fs = storage.filesystem(lake)
    history = fs.ls(f"{storage.strip_protocol(lake)}/_history/{TABLE}/billing_period={PERIOD}", detail=False)
    assert sorted(os.path.basename(h) for h in history) == sorted([good, latest])


def test_killed_cli_run_is_marked_failed_and_the_next_run_publishes(deliveries, tmp_path, dagster_home, monkeypatch):
    import orchestration.run as run
    from orchestration.assets.cost_line_items import cost_line_items

    first, second = deliveries
    lake = str(tmp_path / "lake")
    monkeypatch.setattr(run, "ASSETS", [cost_line_items])
    good = ingest(first, lake)

    proc = subprocess.Popen(cli_ingest_only("materialize", "--source", second, "--lake", lake),
                            cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staging = os.path.join(lake, "_staging", TABLE)
    try:  # kill it in the middle of its publish: its staging folder exists
        # A run folder, not its lock file: a kill in the microseconds between creating the lock file
        # and naming it leaves a ".lock-tmp" that is swept only an hour later (transforms/lake.py).
        wait_for(lambda: os.path.isdir(staging) and any(not n.endswith((".lock", ".lock-tmp")) for n in os.listdir(staging)),
                 90, "the CLI run starting to publish", proc, interval=0.005)
    finally:
        proc.kill()
        proc.communicate()
    instance = dg.DagsterInstance.get()
    (dead,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    # Killed mid-publish: the record names one complete version, the old or (killed after recording) the new.
    current = lake_io.current_version(lake, TABLE, PERIOD)
    expected_rows = 600 if current == good else 1500
    assert lake_io.version_records(lake, TABLE, PERIOD)[-1]["rows"] == expected_rows
    assert catalog_totals(lake)[PERIOD][0] in (600, 1500)

    outcome = run.materialize_periods(second, lake, [PERIOD])

    assert outcome.success, [p.error for p in outcome.periods]
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])) == []
    assert catalog_totals(lake) == {PERIOD: (1500, priced_total(1500))}
    assert leftovers(lake) == [] and live_matches_record(lake, TABLE, PERIOD)
