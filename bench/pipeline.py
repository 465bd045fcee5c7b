"""One billing period through every stage, called directly (no Dagster run), one stage at a time.

The stages are the assets' own code: ``cost_line_items`` uses the asset module's discovery,
gates and publish arguments, and every curated table runs the ``CuratedTable`` it is declared
with (``orchestration.assets.curated.TABLES``): same inputs, build, gates, sort and publish.
Only the Dagster run around them is left out, which is what ``dagster_overhead`` compares.
"""

from __future__ import annotations

import logging
import os
import tempfile

from bench.measure import StageFigures, stage
from transforms import duck

_log = logging.getLogger("bench")


def stages() -> tuple[str, ...]:
    """Every asset of one billing period in an order Dagster could run them (inputs first):
    ``cost_line_items``, every curated table (``orchestration.assets.curated.TABLES``), the report."""
    import graphlib

    import orchestration.definitions  # noqa: F401  (declares every CuratedTable)
    from orchestration.assets.curated import TABLES

    graph = graphlib.TopologicalSorter({n: [*t.inputs, *t.history_inputs] for n, t in TABLES.items()})
    return ("cost_line_items", *(n for n in graph.static_order() if n in TABLES), REPORT)


REPORT = "showback_report"


def _settings(source: str, lake: str, allocation_config: str, memory_limit: str):
    from orchestration.resources import CurlakeSettings

    return CurlakeSettings(source=source, lake=lake, allocation_config=allocation_config, duckdb_memory_limit=memory_limit)


def ingest(settings, period: str, *, workdir: str) -> dict:
    """cost_line_items exactly as its asset does it: read and write once, audit the files, publish, catalog."""
    from orchestration.assets.cost_line_items import find_delivery, staged_month
    from transforms.dictionary import build_analyst_catalog

    delivery = find_delivery(settings.source, period)
    con = duck.connect(memory_limit=settings.duckdb_memory_limit, temp_directory=os.path.join(workdir, "spill"))
    try:
        with staged_month(con, settings, delivery) as (staged, gates, provenance):
            failed = [g.name for g in gates if g.blocking and not g.passed]
            if failed:
                raise RuntimeError(f"cost_line_items {period}: blocking gates failed: {failed}")
            result = staged.publish(lineage=provenance)
        build_analyst_catalog(settings.lake)
        return {"rows": result.rows, "bytes": result.bytes}
    finally:
        con.close()


def curated(settings, name: str, period: str, *, workdir: str) -> dict:
    """One curated table as its asset builds it (inputs, build, write once, gates, publish, catalog).

    A failed blocking gate would stop the asset; the benchmark publishes anyway, so that the
    tables reading this one do the same work, and says so (``failed_gates``).
    """
    from orchestration.assets.curated import STAGED, TABLES, publish_staged, stage_table

    table = TABLES[name]
    con = duck.connect(os.path.join(workdir, "stage.duckdb"), memory_limit=settings.duckdb_memory_limit,
                       temp_directory=os.path.join(workdir, "spill"))
    try:
        with stage_table(table, settings, period, con, _log) as staged:
            gates = [g.run(staged.ctx, STAGED) for g in table.gates]
            failed = [g.name for g in gates if g.blocking and not g.passed]
            if failed:
                print(f"  {name}: BLOCKING GATES FAILED {failed}: {[g.observed for g in gates if not g.passed]}"[:2000], flush=True)
            meta = publish_staged(table, staged)
        return {"rows": meta["rows"], "bytes": meta["bytes"], "failed_gates": failed}
    finally:
        con.close()


def report(settings, period: str) -> dict:
    """The showback reports of the month, as the ``showback_report`` asset writes them."""
    from transforms.report import open_lake, reports_root, write_month

    con = open_lake(settings.lake, memory_limit=settings.duckdb_memory_limit)
    try:
        month = write_month(con, period, reports_root(settings.lake))
    finally:
        con.close()
    written = sum(os.path.getsize(p) for p in month.paths.values()) if isinstance(month.paths, dict) else 0
    return {"rows": len(month.paths), "bytes": written}


def run_month(source: str, lake: str, period: str, allocation_config: str, *, memory_limit: str = "4GB",
              input_rows: int = 0, only: tuple[str, ...] | None = None) -> list[StageFigures]:
    """Every stage for ``period``, in asset order; each stage's figures.

    Rows per second are reported against the month's line items (``input_rows``) for every
    stage: each one reads them, directly or through cost_allocation, whatever it writes.
    """
    settings = _settings(source, lake, allocation_config, memory_limit)
    out = []
    for name in only or stages():
        with tempfile.TemporaryDirectory(prefix="curlake-bench-") as workdir, stage(name) as figures:
            if name == "cost_line_items":
                meta = ingest(settings, period, workdir=workdir)
            elif name == REPORT:
                meta = report(settings, period)
            else:
                meta = curated(settings, name, period, workdir=workdir)
            figures.rows = input_rows or meta["rows"]
            figures.notes.update(output_rows=meta["rows"], output_bytes=meta["bytes"])
            if meta.get("failed_gates"):
                figures.notes["failed_gates"] = meta["failed_gates"]
        out.append(figures)
        print(f"  {name:<24} {figures.seconds:8.2f} s  {figures.rows_per_second:>12,.0f} rows/s  "
              f"peak RSS {figures.peak_rss_bytes / 2**20:7,.0f} MiB  (load {figures.load_average:.1f})", flush=True)
    return out


def __getattr__(name: str):
    """``STAGES``: ``stages()``, computed on first use (it imports every asset module)."""
    if name == "STAGES":
        return stages()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
