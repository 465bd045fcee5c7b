"""Concurrency and idempotency: two runs of one billing period, an analyst reading meanwhile.

- Two ``curlake materialize`` processes on the same period and lake at once are serialized by
  the period's run lock (``lake.period_lock``): the second waits, says so, then runs. Their
  Dagster runs do not overlap in time, and, fed the same delivery, they publish identical rows.
- An analyst process reads the catalog the way the README says (plain DuckDB, read-only) in a
  loop during both runs: no lock error, and every answer is one complete version of the month.
- The lock itself: held across processes, released by the kernel when its holder is killed.
- UI and sensor runs go through the run queue, which ``dagster.yaml`` limits to one run per
  ``dagster/partition`` value.

(Materializing the same inputs twice through every asset: test_bad_input's module fixture.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

import cur_builders as cb
from faults import PYTHON, REPO_ROOT, child_env, cli_ingest_only, ingest, priced_rows, priced_total, wait_for
from transforms import catalog, duck
from transforms import lake as lake_io

PERIOD = "2025-01"

# An analyst: open <lake>/catalog.duckdb read-only with plain DuckDB, as `duckdb -readonly` does,
# again and again until told to stop; print every answer and every error.
_ANALYST = """
import json, os, sys, duckdb
path, ready, stop = sys.argv[1:4]
seen = []
open(ready, "w").close()
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path, read_only=True)
        seen.append(list(con.execute("SELECT count(*), CAST(sum(unblended_cost) AS VARCHAR) FROM cost_line_items").fetchone()))
        con.close()
    except Exception as exc:
        seen.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(seen))
"""


def version_digest(lake: str, version: str) -> str:
    """A digest of one retained version's rows, whatever the file layout and row order."""
    import hashlib

    folder = Path(lake_io.lake_root(lake)) / "_history" / "cost_line_items" / f"billing_period={PERIOD}" / version
    con = duck.connect()
    try:
        rows = con.execute("SELECT * FROM read_parquet($files)", {"files": sorted(str(p) for p in folder.glob("*.parquet"))}).fetchall()
    finally:
        con.close()
    return hashlib.sha256("\n".join(sorted(repr(r) for r in rows)).encode()).hexdigest()


def test_two_cli_runs_of_one_period_are_serialized_and_give_identical_results(tmp_path, dagster_home):
    old, new = tmp_path / "old", tmp_path / "new"
    cb.write_cur2_parquet(old, PERIOD, priced_rows(PERIOD, "old", 600))
    cb.write_cur2_parquet(new, PERIOD, priced_rows(PERIOD, "new", 1500))
    lake = str(tmp_path / "lake")
    first = ingest(str(old), lake)
    expected = {(600, priced_total(600)), (1500, priced_total(1500))}

    ready, stop = tmp_path / "ready", tmp_path / "stop"
    analyst = subprocess.Popen([PYTHON, "-c", _ANALYST, catalog.catalog_path(lake), str(ready), str(stop)],
                               cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    wait_for(ready.exists, 60, "the analyst starting", analyst)
    argv = cli_ingest_only("materialize", "--source", str(new), "--lake", lake, "--months", PERIOD)
    runs = [subprocess.Popen(argv, cwd=REPO_ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=180) for p in runs]
    finally:
        stop.touch()
        answers = json.loads(analyst.communicate(timeout=60)[0])

    assert [p.returncode for p in runs] == [0, 0], [err[-3000:] for _, err in outputs]
    waited = [err for _, err in outputs if f"{PERIOD}: another run of this billing period holds lake" in err]
    assert len(waited) == 1, "exactly one of the two runs waited for the other"
    instance = dg.DagsterInstance.get()
    records = sorted(instance.get_run_records(dg.RunsFilter(tags={"curlake/launched_by": "cli"})), key=lambda r: r.start_time)
    assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2
    assert records[0].end_time <= records[1].start_time, "the two runs overlapped"

    # Idempotent: two versions of the same delivery, identical rows, both replacing the old one.
    versions = lake_io.list_versions(lake, "cost_line_items", PERIOD)
    assert len(versions) == 3 and versions[0] == first
    assert version_digest(lake, versions[1]) == version_digest(lake, versions[2])

    # The analyst never met a lock or a missing file, and always saw one whole version.
    assert [a for a in answers if isinstance(a, str)] == []
    seen = {(rows, Decimal(total)) for rows, total in answers}
    assert seen <= expected and len(answers) >= 5
    assert (1500, priced_total(1500)) in seen


_HOLDER = """
import sys, time
from transforms import lake
with lake.period_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_period_lock_is_exclusive_across_processes_and_dies_with_its_holder(tmp_path):
    lake = str(tmp_path / "lake")
    holder = subprocess.Popen([PYTHON, "-c", _HOLDER, lake, PERIOD], cwd=REPO_ROOT, env=child_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        told = []
        with pytest.raises(lake_io.LakeError, match=rf"another run still holds billing period {PERIOD} of lake .* after 0.3 s"):
            with lake_io.period_lock(lake, PERIOD, on_wait=told.append, timeout=0.3):
                pass
        assert len(told) == 1 and told[0].startswith(f"pid {holder.pid} on ")
        with lake_io.period_lock(lake, "2025-02", timeout=0.3):  # another period is free
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    started = time.monotonic()
    with lake_io.period_lock(lake, PERIOD, timeout=5):  # the kernel released it with the process
        assert time.monotonic() - started < 1
    with pytest.raises(Exception, match="is not of the form YYYY-MM"):
        with lake_io.period_lock(lake, "../2025-01"):
            pass
    assert sorted(os.listdir(tmp_path / "lake" / "_staging" / "_runs")) == ["billing_period=2025-01.lock", "billing_period=2025-02.lock"]


def test_queued_runs_are_limited_to_one_per_billing_period(dagster_home):
    config = dg.DagsterInstance.get().get_concurrency_config().run_queue_config
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in config.tag_concurrency_limits
