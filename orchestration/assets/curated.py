"""A curated table as a Dagster asset: read inputs from the lake, build, audit, publish.

Every curated table follows the same write-audit-publish path:
1. its input tables are opened as views over their current, pinned lake files (one billing
   period, or every period for inputs that need history such as baselines);
2. the table is built by DuckDB SQL into a run-local staging database (spills to disk);
3. its gates run on the staged rows and are reported as Dagster asset checks;
4. only if no blocking gate failed is the partition published atomically and the catalog rebuilt.
"""

import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import dagster as dg
import duckdb

from orchestration.gates import Gate, check_specs, gated_publish
from orchestration.partitions import billing_periods
from orchestration.resources import CurlakeSettings
from transforms import duck, lake, periods
from transforms.dictionary import build_analyst_catalog

STAGED = "staged"


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


def curated_asset(table: CuratedTable) -> dg.AssetsDefinition:
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
        with workspace(settings) as con:
            read = open_inputs(con, settings, period, table.inputs, table.history_inputs)
            ctx = BuildContext(settings, period, con, context.log)
            table.build(ctx).create(STAGED)
            gates = [g.run(ctx, STAGED) for g in table.gates]

            def publish() -> dict:
                result = lake.publish_partition(
                    con, f'SELECT * FROM "{STAGED}"', settings.lake, table.name, period,
                    sort_by=list(table.sort_by) or None, lineage={"inputs": read},
                )
                build_analyst_catalog(settings.lake)
                meta = {"rows": result.rows, "version": result.version, "bytes": result.bytes, "inputs": read}
                if table.summary:
                    meta |= table.summary(ctx, STAGED)
                return meta

            yield from gated_publish(context, gates, publish)

    return _asset
