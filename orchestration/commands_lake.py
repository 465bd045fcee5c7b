"""`curlake versions` and `curlake rollback`: see and undo what a run published.

Every publish keeps the versions it replaces (``transforms.lake``, ``keep_history`` of them per
partition), so a bad publish is undone with one command:

    curlake rollback --lake LAKE --month 2025-01                 # every table of 2025-01, one version back
    curlake rollback --lake LAKE --month 2025-01 --table cost_allocation --version 20250201T...Z-1a2b3c

Each table's partition is swapped back in one step, like a publish, and the catalog is rebuilt
once at the end, so analysts see either the old or the new state of each table. A rollback holds
the billing period's run lock (``lake.period_lock``): it waits for a run of that period on this
lake to finish, and no run starts while it works. The replaced version stays in the history: a
rollback is undone by rolling back to that version by name (``curlake versions`` lists them).
Neither command imports dagster: they answer in a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TextIO

from transforms import lake as lake_io
from transforms import periods


@dataclass(frozen=True)
class RolledBack:
    table: str
    billing_period: str
    from_version: str
    to_version: str
    from_rows: int
    to_rows: int


def partition_versions(lake: str, billing_period: str, tables: list[str] | None = None) -> dict[str, list[dict]]:
    """Per table, the retained version records of one partition, oldest first, with ``current`` set on one."""
    periods.validate(billing_period)
    names = [lake_io.validate_table_name(t) for t in tables] if tables else lake_io.list_tables(lake)
    out = {}
    for table in names:
        records = lake_io.version_records(lake, table, billing_period)
        if records:
            current = lake_io.current_version(lake, table, billing_period)
            out[table] = [{**r, "current": r["version"] == current} for r in records]
    return out


def rollback_partition(
    lake: str,
    billing_period: str,
    tables: list[str] | None = None,
    version: str | None = None,
    *,
    rebuild_catalog: bool = True,
) -> list[RolledBack]:
    """Roll ``tables`` (default: every table with this partition) of one billing period back.

    Each goes to the version before its current one, or to ``version`` (one table only). Raises
    LakeError, before changing anything, if a table has no such version. Holds the period's run
    lock throughout; rebuilds the catalog once at the end.
    """
    periods.validate(billing_period)
    if version is not None:
        lake_io.validate_version(version)
        if not tables or len(tables) != 1:
            raise lake_io.LakeError("--version names one version of one table: give exactly one --table with it")
    with lake_io.period_lock(lake, billing_period, on_wait=lambda holder: print(
            f"waiting for the run of {billing_period} that holds the lake ({holder})", file=sys.stderr, flush=True)):
        found = partition_versions(lake, billing_period, tables)
        missing = sorted(set(tables or []) - set(found))
        if missing:
            raise lake_io.LakeError(f"table(s) {missing} have no published partition {billing_period} in {lake_io.lake_root(lake)}")
        plan = [(table, records, _target(table, billing_period, records, version)) for table, records in found.items()]
        done = []
        for table, records, target in plan:
            current = next(r for r in records if r["current"])
            lake_io.rollback(lake, table, billing_period, target["version"])
            done.append(RolledBack(table, billing_period, current["version"], target["version"], current["rows"], target["rows"]))
        if rebuild_catalog and done:
            from transforms.dictionary import build_analyst_catalog

            build_analyst_catalog(lake)
    return done


def _target(table: str, billing_period: str, records: list[dict], version: str | None) -> dict:
    """The record to roll back to: ``version``, else the newest one older than the current."""
    label = f"{table}/{lake_io.PARTITION_KEY}={billing_period}"
    if version is not None:
        chosen = next((r for r in records if r["version"] == version), None)
        if chosen is None:
            raise lake_io.LakeError(f"{label}: version {version} is not retained; retained: {[r['version'] for r in records]}")
        return chosen
    current = next(r for r in records if r["current"])
    older = [r for r in records if r["version"] < current["version"]]
    if not older:
        raise lake_io.LakeError(f"{label}: no version older than the current {current['version']} is retained; "
                                "nothing to roll back to (roll back the other tables with --table)")
    return older[-1]


def cmd_versions(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Print the retained versions of every table (or ``--table``) of one billing period."""
    stdout = stdout or sys.stdout
    try:
        found = partition_versions(args.lake, args.month, args.table)
    except (lake_io.LakeError, periods.PeriodError) as exc:
        print(f"curlake versions: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(f"No table has a published partition {args.month} in {lake_io.lake_root(args.lake)}", file=stdout)
        return 1
    for table, records in found.items():
        print(table, file=stdout)
        for r in records:
            marker = "*" if r["current"] else " "
            print(f"  {marker} {r['version']}  published {r['published_at']}  {r['rows']:>12,} rows", file=stdout)
    print("(* current)", file=stdout)
    return 0


def cmd_rollback(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Roll one billing period back and say what changed; a LakeError is printed, exit code 1."""
    stdout = stdout or sys.stdout
    try:
        done = rollback_partition(args.lake, args.month, args.table, args.version)
    except (lake_io.LakeError, periods.PeriodError) as exc:
        print(f"curlake rollback: {exc}", file=sys.stderr)
        return 1
    for r in done:
        print(f"{r.table} {r.billing_period}: {r.from_version} ({r.from_rows:,} rows) -> {r.to_version} ({r.to_rows:,} rows)",
              file=stdout)
    print(f"Rolled back {len(done)} table(s); catalog rebuilt. Undo with --table T --version <the version on the left>.",
          file=stdout)
    return 0
