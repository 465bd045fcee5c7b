"""A bad publish is undone with one command: `curlake rollback` (orchestration/commands_lake.py).

Two tables of one month are published twice (a good run, then a bad one); the command lists
the versions, rolls every table of the month back one version, rebuilds the catalog, and is
undone by naming the version it replaced. It plans before it changes anything, and waits for a
run of the month that holds the lake.
"""

from __future__ import annotations

import argparse
import io
import threading
import time

import pytest

from orchestration import commands_lake
from transforms import catalog, duck
from transforms import lake as lake_io

PERIOD = "2025-01"
ROWS_SQL = "SELECT i AS id, CAST(i * CAST($price AS DECIMAL(18,2)) AS DECIMAL(18,10)) AS cost FROM range($n) t(i)"


def totals(lake: str) -> dict[str, tuple[int, object]]:
    con = catalog.open_catalog(lake)
    try:
        return {t: con.execute(f"SELECT count(*), sum(cost) FROM {t}").fetchone() for t in ("costs", "allocated")}
    finally:
        con.close()


@pytest.fixture
def lake(tmp_path):
    """Two tables, each published by a good run (10 rows at 1.00) and then a bad one (3 rows at 2.00)."""
    root = str(tmp_path / "lake")
    con = duck.connect()
    for n, price in ((10, "1.00"), (3, "2.00")):
        for table in ("costs", "allocated"):
            lake_io.publish_partition(con, ROWS_SQL, root, table, PERIOD, params={"n": n, "price": price})
        catalog.build_catalog(root)
    con.close()
    return root


def args(lake: str, table: list[str] | None = None, version: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(lake=lake, month=PERIOD, table=table, version=version)


def test_versions_lists_and_rollback_restores_every_table_of_the_month(lake):
    bad = {t: lake_io.current_version(lake, t, PERIOD) for t in ("costs", "allocated")}
    good = {t: lake_io.list_versions(lake, t, PERIOD)[0] for t in bad}
    assert totals(lake) == {"costs": (3, 6), "allocated": (3, 6)}  # 2.00 x (0 + 1 + 2)

    listing = io.StringIO()
    assert commands_lake.cmd_versions(args(lake), stdout=listing) == 0
    lines = listing.getvalue().splitlines()
    for table in bad:
        at = lines.index(table)
        assert lines[at + 1].startswith(f"    {good[table]}  published ") and lines[at + 1].endswith(" 10 rows")
        assert lines[at + 2].startswith(f"  * {bad[table]}  published ") and lines[at + 2].endswith(" 3 rows")

    out = io.StringIO()
    assert commands_lake.cmd_rollback(args(lake), stdout=out) == 0
    assert f"costs {PERIOD}: {bad['costs']} (3 rows) -> {good['costs']} (10 rows)" in out.getvalue()
    assert totals(lake) == {"costs": (10, 45), "allocated": (10, 45)}  # the catalog was rebuilt: 1.00 x (0 + ... + 9)

    # Undone by naming the version it replaced, one table at a time.
    assert commands_lake.cmd_rollback(args(lake, ["costs"], bad["costs"]), stdout=io.StringIO()) == 0
    assert totals(lake) == {"costs": (3, 6), "allocated": (10, 45)}


def test_rollback_plans_before_changing_anything(lake, capsys):
    con = duck.connect()
    lake_io.publish_partition(con, ROWS_SQL, lake, "fresh", PERIOD, params={"n": 1, "price": "5"})  # one version only
    con.close()
    catalog.build_catalog(lake)
    before = {t: lake_io.current_version(lake, t, PERIOD) for t in ("costs", "allocated", "fresh")}

    assert commands_lake.cmd_rollback(args(lake)) == 1

    assert f"fresh/billing_period={PERIOD}: no version older than the current {before['fresh']} is retained" in capsys.readouterr().err
    assert {t: lake_io.current_version(lake, t, PERIOD) for t in before} == before
    assert commands_lake.cmd_rollback(args(lake, ["costs", "allocated"], version=before["costs"])) == 1
    assert "give exactly one --table with it" in capsys.readouterr().err


def test_rollback_waits_for_the_run_that_holds_the_month(lake):
    held, release = threading.Event(), threading.Event()

    def run_in_progress():
        with lake_io.period_lock(lake, PERIOD):
            held.set()
            release.wait(30)

    run = threading.Thread(target=run_in_progress)
    run.start()
    held.wait(10)
    done = []
    rollback = threading.Thread(target=lambda: done.append(commands_lake.rollback_partition(lake, PERIOD, ["costs"])))
    rollback.start()
    time.sleep(0.5)
    assert done == [] and lake_io.current_version(lake, "costs", PERIOD) == lake_io.list_versions(lake, "costs", PERIOD)[-1]
    release.set()
    run.join()
    rollback.join(30)
    assert [r.to_rows for r in done[0]] == [10]
