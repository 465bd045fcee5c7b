"""A curated table as a Dagster asset: read inputs from the lake, build, audit, publish.

Every curated table follows the same write-audit-publish path:
1. its input tables are opened as views over their current, pinned lake files (one billing
   period, or every period for inputs that need history such as baselines);
2. the table is built by DuckDB SQL (a run-local database, spilling to disk) and written once,
   straight to its new version's Parquet files in the lake's staging area;
3. its gates run on those files and are reported as Dagster asset checks;
4. only if no blocking gate failed is the partition published atomically and the catalog rebuilt.

Day-scoped rebuilds. AWS re-delivers the whole month several times a day, usually changing only
the last day or two. A table declared with ``day_column`` (its rows of day d come only from the
line items of usage day d, plus inputs that do not vary by day) rebuilds only the days whose
line items changed, when its current version shows that nothing else did: the same build
fingerprint (SQL, code, configuration: ``build_fingerprint``), the same content of every other
input, and the per-day digests of the line items it was built from (``transforms.day_digests``,
recorded by ``cost_line_items``). The staged table is then the current version's rows of the
other days plus the rebuilt days' rows, and the gates audit all of it, as after a full build.
Whatever is unknown or doubtful (no digests, another input changed, half the month or more
changed, rebuilt rows outside the rebuilt days, another column list) means a full build; the
lineage of every version says which (``rebuilt_days``, ``rebuild_reason``).
"""

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orchestration.gates import Gate, check_specs, gated_publish
from orchestration.partitions import billing_periods
from orchestration.resources import REPO_ROOT, CurlakeSettings
from transforms import duck, lake, periods
from transforms.day_digests import DAY_COLUMN, changed_days, table_digest
from transforms.dictionary import build_analyst_catalog

STAGED = "staged"
LINE_ITEMS = "cost_line_items"
# What a build is made of besides its input tables: the SQL files, the Python that composes and
# runs them (allocation fragments, builders, the table declarations) and the configuration files.
# A change to any of them makes the next build of every table full, once. The allocation config,
# which may live outside the repo (--allocation-config), is hashed by content too.
FINGERPRINT_TREES = ("sql", "transforms", "business_metrics", "orchestration/assets", "config")
FINGERPRINT_SUFFIXES = frozenset({".sql", ".py", ".yaml", ".yml", ".json"})
# Scratch names of a day-scoped build in the run-local database.
_REBUILD_DAYS = "curlake_rebuild_days"
_ALL_LINE_ITEMS = "curlake_all_line_items"
_REBUILT = "curlake_rebuilt"


@dataclass
class BuildContext:
    """What a table's build and gate functions may use."""

    settings: CurlakeSettings
    billing_period: str
    con: duckdb.DuckDBPyConnection
    log: Any
    # Values a build hands to its gates (e.g. the raw rows a suite must see).
    scratch: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def allocation_config(self):
        from transforms.allocation import load_config

        return load_config(self.settings.allocation_config)


GateFn = Callable[[BuildContext, str], Gate]


@dataclass(frozen=True)
class GateSpec:
    name: str
    description: str
    evaluate: Callable[[BuildContext, str], tuple[bool, dict]]
    blocking: bool = True

    def run(self, ctx: BuildContext, staged: str) -> Gate:
        passed, observed = self.evaluate(ctx, staged)
        return Gate(self.name, passed, self.description, observed, self.blocking)


def failures_gate(name: str, description: str, fn: Callable[[BuildContext, str], list[str]], blocking: bool = True) -> GateSpec:
    """A gate from a check function that returns failure messages (empty = pass)."""

    def evaluate(ctx: BuildContext, staged: str) -> tuple[bool, dict]:
        failures = fn(ctx, staged)
        return not failures, {"failures": failures[:50], "failure_count": len(failures)}

    return GateSpec(name, description, evaluate, blocking)


@dataclass(frozen=True)
class CuratedTable:
    name: str
    description: str
    build: Callable[[BuildContext], duckdb.DuckDBPyRelation]
    inputs: Sequence[str] = ()  # lake tables of the same billing period, opened as views
    history_inputs: Sequence[str] = ()  # lake tables of this and the previous period (baselines, changes)
    gates: Sequence[GateSpec] = ()
    group: str = "curated"
    sort_by: Sequence[str] = ()
    summary: Callable[[BuildContext, str], dict] | None = None
    columns: Sequence[tuple[str, str, str]] = field(default_factory=tuple)
    # A column of the table (DATE, or a TIMESTAMP taken at its day) such that its rows of day d are
    # computed only from the cost_line_items rows of usage day d (and inputs that do not vary by
    # day): the table can rebuild only the days a re-delivery changed. Declare it only where the
    # SQL makes that true (docs/reliability.md lists each table's reason), and never on a table
    # that reads source_file or delivery_id: the line items' day digests leave provenance out.
    day_column: str | None = None


@contextmanager
def workspace(settings: CurlakeSettings):
    """A run-local DuckDB database in a temporary folder: one writer, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="curlake-stage-") as workdir:
        con = duck.connect(os.path.join(workdir, "stage.duckdb"), memory_limit=settings.duckdb_memory_limit,
                           temp_directory=os.path.join(workdir, "spill"))
        try:
            yield con
        finally:
            con.close()


def open_inputs(con: duckdb.DuckDBPyConnection, settings: CurlakeSettings, period: str,
                inputs: Sequence[str], history_inputs: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """Views over the inputs' current, pinned lake files; returns the versions read (lineage).

    A same-period input must be published. A history input covers this period and the previous
    one where it was published (the first month of a lake has no previous one).
    """
    lineage: dict[str, dict[str, str | None]] = {}
    for name, scope in [(n, (period,)) for n in inputs] + [(n, (periods.previous_period(period), period)) for n in history_inputs]:
        published = set(lake.list_partitions(settings.lake, name))
        if period not in published:
            raise dg.Failure(f"Input {name} has no published partition {period} in {settings.lake}: materialize it first.")
        parts = [p for p in scope if p in published]
        sources = [f"SELECT * FROM {lake.read_partition_sql(settings.lake, name, p)}" for p in parts]
        con.execute(f"CREATE OR REPLACE VIEW {lake.quote_identifier(name)} AS {' UNION ALL BY NAME '.join(sources)}")
        lineage[name] = {p: lake.current_version(settings.lake, name, p) for p in parts}
    return lineage


# Every curated table by name, as declared: bench/ runs the same builds and gates without Dagster
# to measure the orchestration overhead.
TABLES: dict[str, CuratedTable] = {}


def dependencies(table: CuratedTable) -> list[dg.AssetDep]:
    """Same-period lineage for every input. History inputs also read the previous period as
    published; declaring that with a time-window mapping would make every backfill reach one
    month past its range (Dagster targets downstream partitions), so it is not declared: a
    backfill over several months reads each previous month as it stands (`curlake materialize`
    runs months in order)."""
    return [dg.AssetDep(name) for name in dict.fromkeys([*table.inputs, *table.history_inputs])]


def documentation(name: str, fallback: str) -> dict:
    """Description (with grain and keys) and column metadata from the data dictionary."""
    from transforms.dictionary import DictionaryError, table_doc

    try:
        description, columns = table_doc(name)
    except DictionaryError:
        return {"description": fallback}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, t, description=d) for c, t, d in columns])
    return {"description": description, "metadata": {"dagster/column_schema": schema}}


# ----------------------------------------------------------------------------------- rebuild plan


def build_fingerprint(settings: CurlakeSettings) -> str:
    """A hash of everything a build is made of besides its input tables (FINGERPRINT_TREES, the
    allocation config's content, the DuckDB version): equal fingerprints, same build.

    Deliberately wider than one table's own SQL folder: cost_allocation also runs the SQL of
    shared_cost_split and the fragments Python writes, and a missed dependency would let a
    day-scoped build mix rows of two builds. A change anywhere costs one full build.
    """
    digest = hashlib.sha256(f"duckdb {duckdb.__version__}\n".encode())
    for tree in FINGERPRINT_TREES:
        for path in sorted((REPO_ROOT / tree).rglob("*")):
            if path.suffix in FINGERPRINT_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                digest.update(_labelled(path.relative_to(REPO_ROOT).as_posix(), path))
    digest.update(_labelled("allocation config", Path(settings.allocation_config)))
    return digest.hexdigest()


def _labelled(label: str, path: Path) -> bytes:
    """The file's bytes behind its label and length (no two file lists hash alike), or 'absent'."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"{label} absent\n".encode()
    return f"{label} {len(data)}\n".encode() + data


@dataclass(frozen=True)
class RebuildPlan:
    """What to rebuild of the partition: ``days`` None for all of it, else only those days (maybe
    none) on top of the ``previous`` version record's rows of the other days; ``reason`` says why."""

    days: tuple[str, ...] | None
    reason: str
    previous: dict[str, Any] | None = None

    @property
    def full(self) -> bool:
        return self.days is None


def _record(lake_root: str, table: str, period: str, version: str | None) -> dict[str, Any] | None:
    """The retained version record of ``version`` (None if unknown or no longer retained)."""
    return next((r for r in lake.version_records(lake_root, table, period) if r["version"] == version), None)


def line_item_digests(settings: CurlakeSettings, period: str, read: dict[str, dict[str, str | None]]) -> dict[str, str] | None:
    """The per-day digests recorded with the cost_line_items version that was opened (None if it has none)."""
    record = _record(settings.lake, LINE_ITEMS, period, read[LINE_ITEMS][period])
    return (record or {}).get("lineage", {}).get("day_digests")


def input_digests(con: duckdb.DuckDBPyConnection, table: CuratedTable) -> dict[str, str]:
    """Content digests of the table's inputs other than the line items, as opened.

    Versions alone would not do: every refresh run re-publishes business_metrics_daily, with new
    versions of the same rows, and a version change would force a full build each time.
    """
    return {name: table_digest(con, f"SELECT * FROM {lake.quote_identifier(name)}") for name in table.inputs if name != LINE_ITEMS}


def plan_rebuild(
    table: CuratedTable,
    settings: CurlakeSettings,
    period: str,
    fingerprint: str,
    digests: dict[str, str] | None,
    inputs: dict[str, str],
) -> RebuildPlan:
    """Full, or the days whose line items changed since the current version (see the module docstring)."""
    if digests is None:
        return RebuildPlan(None, "the cost_line_items version read records no day digests")
    current = lake.current_version(settings.lake, table.name, period)
    if current is None:
        return RebuildPlan(None, "first build of the partition")
    previous = _record(settings.lake, table.name, period, current)
    if previous is None:  # the record names its current version: only a concurrent publish gets here
        return RebuildPlan(None, f"current version {current} has no readable record")
    was = previous.get("lineage", {})
    if was.get("build_fingerprint") != fingerprint:
        return RebuildPlan(None, f"the build (SQL, code or configuration) changed since version {current}")
    before = was.get("input_digests") or {}
    changed_inputs = sorted(n for n in set(before) | set(inputs) if before.get(n) != inputs.get(n))
    if changed_inputs:
        return RebuildPlan(None, f"input {', '.join(changed_inputs)} changed since version {current}")
    old = was.get("line_item_day_digests")
    if old is None:
        return RebuildPlan(None, f"version {current} records no line item day digests")
    days = changed_days(old, digests)
    limit = periods.days_in(period) / 2
    if len(days) >= limit:
        return RebuildPlan(None, f"{len(days)} day(s) of line items changed since version {current}: half the month or more")
    what = ", ".join(days) if days else "none"
    return RebuildPlan(tuple(days), f"line items changed on {len(days)} day(s) since version {current}: {what}", previous)


# ----------------------------------------------------------------------------------- build


def _build_days(table: CuratedTable, ctx: BuildContext, plan: RebuildPlan) -> tuple[str | None, str | None]:
    """The previous version's rows of the unchanged days plus the changed days rebuilt.

    The build runs with ``cost_line_items`` narrowed to the changed days (into a scratch table);
    the full view is back in place before the gates run. Returns the SELECT of the rows to stage,
    or why a full build is needed instead: ``(sql, None)`` or ``(None, reason)``.
    """
    assert plan.days is not None and plan.previous is not None and table.day_column is not None
    con, settings, period = ctx.con, ctx.settings, ctx.billing_period
    version = plan.previous["version"]
    previous = lake.read_partition_sql(settings.lake, table.name, period)
    if lake.current_version(settings.lake, table.name, period) != version:
        return None, f"{table.name} {period} was published by another run while this one planned"
    day = lake.quote_identifier(table.day_column)
    line_items = lake.quote_identifier(LINE_ITEMS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_REBUILD_DAYS} AS SELECT CAST(unnest(CAST($days AS VARCHAR[])) AS DATE) AS day",
                {"days": list(plan.days)})
    con.execute(f"ALTER VIEW {line_items} RENAME TO {_ALL_LINE_ITEMS}")
    try:
        con.execute(f"CREATE VIEW {line_items} AS SELECT * FROM {_ALL_LINE_ITEMS} "
                    f"WHERE {lake.quote_identifier(DAY_COLUMN)} IN (SELECT day FROM {_REBUILD_DAYS})")
        table.build(ctx).create(_REBUILT)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {line_items}")
        con.execute(f"ALTER VIEW {_ALL_LINE_ITEMS} RENAME TO {line_items}")
    rebuilt = con.table(_REBUILT)
    columns = [[n, str(t)] for n, t in zip(rebuilt.columns, rebuilt.types) if n.lower() != lake.PARTITION_KEY]
    if columns != plan.previous["columns"]:
        con.execute(f"DROP TABLE {_REBUILT}")
        return None, f"the rebuilt columns differ from version {version}'s: {columns} vs {plan.previous['columns']}"
    [(stray, example)] = con.execute(
        f"SELECT count(*), min(CAST({day} AS VARCHAR)) FROM {_REBUILT} "
        f"WHERE {day} IS NULL OR CAST({day} AS DATE) NOT IN (SELECT day FROM {_REBUILD_DAYS})"
    ).fetchall()
    [(undated,)] = con.execute(f"SELECT count(*) FROM {previous} WHERE {day} IS NULL").fetchall()
    if stray or undated:
        con.execute(f"DROP TABLE {_REBUILT}")
        ctx.log.warning(f"{table.name} declares day_column={table.day_column!r} but is not day-scoped: fix its declaration")
        return None, (f"{stray} rebuilt row(s) outside the rebuilt days (first: {example}) and {undated} row(s) of version "
                      f"{version} without a {table.day_column}: {table.name} is not day-scoped by {table.day_column}")
    select = ", ".join(lake.quote_identifier(c) for c in rebuilt.columns)
    # The previous version's files are pinned history copies: they stay while the new version is written.
    return (f"SELECT {select} FROM {previous} WHERE CAST({day} AS DATE) NOT IN (SELECT day FROM {_REBUILD_DAYS}) "
            f"UNION ALL SELECT {select} FROM {_REBUILT}"), None


@dataclass
class StagedTable:
    """A table's new version written to the lake's staging area, not yet published: the view
    STAGED reads its files (what the gates audit is what ``publish_staged`` makes live)."""

    ctx: BuildContext
    lineage: dict[str, Any]
    partition: lake.StagedPartition


@contextmanager
def stage_table(
    table: CuratedTable, settings: CurlakeSettings, period: str, con: duckdb.DuckDBPyConnection, log: Any,
    *, day_scoped: bool = True,
) -> Iterator[StagedTable]:
    """Open the inputs, build the table (day-scoped where the plan allows) and write it once, to
    the new version's Parquet files in staging; view STAGED reads them. Unpublished, the files
    are deleted when the block ends.

    ``day_scoped=False`` forces a full build (the benchmark compares both). Runs without Dagster:
    the asset and bench/ call it alike.
    """
    read = open_inputs(con, settings, period, table.inputs, table.history_inputs)
    ctx = BuildContext(settings, period, con, log)
    fingerprint = build_fingerprint(settings)
    lineage: dict[str, Any] = {"inputs": read, "build_fingerprint": fingerprint}
    if table.day_column is None:
        plan = RebuildPlan(None, "not day-scoped: every build is full")
    else:
        digests = line_item_digests(settings, period, read)
        inputs = input_digests(con, table)
        lineage["input_digests"] = inputs
        if digests is not None:
            lineage["line_item_day_digests"] = digests
        plan = (plan_rebuild(table, settings, period, fingerprint, digests, inputs) if day_scoped
                else RebuildPlan(None, "day-scoped rebuild switched off by the caller"))
    rows: duckdb.DuckDBPyRelation | str | None = None
    if not plan.full:
        rows, fallback = _build_days(table, ctx, plan)
        if rows is not None and build_fingerprint(settings) != fingerprint:
            # SQL or configuration edited while the days were built: they may not match the rest.
            rows, fallback = None, "the build (SQL, code or configuration) changed while the days were rebuilt"
        if rows is None:
            plan = RebuildPlan(None, fallback)
    if plan.full:
        rows = table.build(ctx)
    lineage["rebuilt_days"] = "full" if plan.full else list(plan.days or ())
    lineage["rebuild_reason"] = plan.reason
    log.info(f"{table.name} {period}: {'full build' if plan.full else f'rebuilt days {list(plan.days or ())}'} ({plan.reason})")
    with lake.stage_partition(con, rows, settings.lake, table.name, period, sort_by=list(table.sort_by) or None) as partition:
        con.execute(f"DROP TABLE IF EXISTS {_REBUILT}")
        con.execute(f'CREATE OR REPLACE VIEW "{STAGED}" AS SELECT * FROM {partition.read_sql()}')
        try:
            yield StagedTable(ctx, lineage, partition)
        finally:
            con.execute(f'DROP VIEW IF EXISTS "{STAGED}"')


def publish_staged(table: CuratedTable, staged: StagedTable) -> dict[str, Any]:
    """Publish the staged version with its lineage, rebuild the catalog; the materialization metadata."""
    ctx, lineage = staged.ctx, staged.lineage
    # The summary reads the staged files: before publishing moves them.
    summary = table.summary(ctx, STAGED) if table.summary else {}
    result = staged.partition.publish(lineage=lineage)
    build_analyst_catalog(ctx.settings.lake)
    meta = {
        "rows": result.rows, "version": result.version, "bytes": result.bytes, "inputs": lineage["inputs"],
        "rebuild": "full" if lineage["rebuilt_days"] == "full" else "day-scoped",
        "rebuilt_days": lineage["rebuilt_days"], "rebuild_reason": lineage["rebuild_reason"],
    }
    return meta | summary


def _check_declaration(table: CuratedTable) -> None:
    if table.day_column is not None and (LINE_ITEMS not in table.inputs or LINE_ITEMS in table.history_inputs):
        raise ValueError(
            f"{table.name}: day_column={table.day_column!r} needs {LINE_ITEMS} among its same-period inputs "
            f"(inputs={list(table.inputs)}, history_inputs={list(table.history_inputs)})"
        )


def curated_asset(table: CuratedTable) -> dg.AssetsDefinition:
    _check_declaration(table)
    TABLES[table.name] = table
    declared = [(g.name, g.description, g.blocking) for g in table.gates]

    @dg.asset(
        name=table.name,
        partitions_def=billing_periods,
        deps=dependencies(table),
        check_specs=check_specs(table.name, declared) or None,
        group_name=table.group,
        kinds={"duckdb", "parquet"},
        **documentation(table.name, table.description),
    )
    def _asset(context: dg.AssetExecutionContext, settings: CurlakeSettings):
        period = context.partition_key
        with workspace(settings) as con, stage_table(table, settings, period, con, context.log) as staged:
            gates = [g.run(staged.ctx, STAGED) for g in table.gates]
            yield from gated_publish(context, gates, lambda: publish_staged(table, staged))

    return _asset
