"""A re-delivery that changes one day: the curated tables rebuilt day-scoped, against a full rebuild.

AWS re-delivers the whole month several times a day, usually changing only the last day or two.
Ingestion must re-read the delivery (the files are overwritten in place); downstream, tables
declared with ``day_column`` rebuild only the days whose line items changed
(orchestration/assets/curated.py). This measures what that saves:

1. the bench month's published line items (``lake-<rows>``, from ``bench.run``) published into a
   work lake with their per-day digests, as ingestion records them;
2. everything downstream built once (a first build: full): every curated table, inputs first,
   and the showback report (``bench.pipeline.stages()``);
3. the line items re-delivered with day 15's costs up 1% (digests again: ``digest_s`` is what
   ingestion pays for them);
4. everything downstream rebuilt from that same state twice, in two copies of the work lake:
   forced full, and as the assets do it (day-scoped where declared). Per asset: seconds and CPU
   seconds, what was rebuilt; totals and the ratio. The day-scoped tables are then checked equal
   to the full rebuild's (EXCEPT ALL both ways), so the figure is for a correct result.

    .venv/bin/python -m bench.redelivery --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from bench import dataset
from bench.measure import StageFigures, stage
from bench.pipeline import REPORT, report, stages
from transforms import duck, lake
from transforms.day_digests import changed_days, day_digests

CHANGED_DAY = "2025-01-15"

# Day CHANGED_DAY re-delivered with every cost up 1% (rounded to the line items' 10 decimals).
_REDELIVERED = """
SELECT * REPLACE (
    CASE WHEN usage_date = CAST($day AS DATE) THEN CAST(round(unblended_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE unblended_cost END AS unblended_cost,
    CASE WHEN usage_date = CAST($day AS DATE) THEN CAST(round(net_unblended_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE net_unblended_cost END AS net_unblended_cost,
    CASE WHEN usage_date = CAST($day AS DATE) THEN CAST(round(amortized_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE amortized_cost END AS amortized_cost,
    CASE WHEN usage_date = CAST($day AS DATE) THEN CAST(round(net_amortized_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE net_amortized_cost END AS net_amortized_cost
) FROM {source}
"""

_log = logging.getLogger("bench.redelivery")


def publish_line_items(settings, query: str, params: dict | None = None) -> tuple[dict[str, str], StageFigures]:
    """Publish ``query`` as cost_line_items with its day digests (as ingestion computes them); the
    digests and their cost."""
    from orchestration.assets.cost_line_items import PROVENANCE_COLUMNS

    con = duck.connect(memory_limit=settings.duckdb_memory_limit, s3=False)
    try:
        with stage("day digests") as figures:
            digests = day_digests(con, f"SELECT * EXCLUDE ({', '.join(PROVENANCE_COLUMNS)}) FROM ({query})", params)
        lake.publish_partition(con, query, settings.lake, "cost_line_items", dataset.PERIOD, params=params,
                               lineage={"day_digests": digests})
    finally:
        con.close()
    return digests, figures


def run_downstream(settings, *, day_scoped: bool) -> list[StageFigures]:
    """Every asset after cost_line_items as it runs (curated tables: inputs, plan, build, gates,
    publish; then the showback report)."""
    from orchestration.assets.curated import STAGED, TABLES, publish_staged, stage_table

    out = []
    for name in stages()[1:]:
        if name == REPORT:
            with stage(name) as figures:
                report(settings, dataset.PERIOD)
            figures.notes["rebuilt_days"] = "full"
            out.append(figures)
            print(f"  {name:<24} {figures.seconds:7.2f} s {figures.cpu_seconds:7.1f} CPU s", flush=True)
            continue
        table = TABLES[name]
        with tempfile.TemporaryDirectory(prefix="curlake-bench-") as workdir, stage(name) as figures:
            con = duck.connect(f"{workdir}/stage.duckdb", memory_limit=settings.duckdb_memory_limit,
                               temp_directory=f"{workdir}/spill", s3=False)
            try:
                with stage_table(table, settings, dataset.PERIOD, con, _log, day_scoped=day_scoped) as staged:
                    lineage = staged.lineage
                    failed = [g.name for g in (gate.run(staged.ctx, STAGED) for gate in table.gates) if g.blocking and not g.passed]
                    # The asset would stop here; the benchmark publishes anyway so that the tables
                    # reading this one run in both modes alike, and says so.
                    publish_staged(table, staged)
            finally:
                con.close()
            figures.notes.update(rebuilt_days=lineage["rebuilt_days"], failed_gates=failed)
        out.append(figures)
        warning = f"  BLOCKING GATES FAILED: {failed}" if failed else ""
        print(f"  {name:<24} {figures.seconds:7.2f} s {figures.cpu_seconds:7.1f} CPU s  rebuilt: {figures.notes['rebuilt_days']}{warning}",
              flush=True)
    return out


def differences(lake_a: str, lake_b: str, table: str) -> tuple[int, int]:
    """Rows of ``table`` in lake A and not in B, and the other way round (multisets)."""
    con = duck.connect(s3=False)
    try:
        a, b = (lake.read_partition_sql(x, table, dataset.PERIOD) for x in (lake_a, lake_b))
        [(only_a,)] = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchall()
        [(only_b,)] = con.execute(f"SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a})").fetchall()
        return only_a, only_b
    finally:
        con.close()


def measure(rows: int, widened: bool = True, memory_limit: str = "4GB") -> dict:
    import orchestration.definitions  # noqa: F401  (declares every CuratedTable)
    from orchestration.assets.curated import TABLES
    from orchestration.resources import CurlakeSettings

    root = dataset.month_root(rows, widened)
    bench_lake = dataset.CACHE / f"lake-{rows}{'' if widened else '-plain'}"
    if not lake.list_partitions(str(bench_lake), "cost_line_items"):
        raise SystemExit(f"run `python -m bench.run --rows {rows}` first: {bench_lake} has no cost_line_items")
    work = dataset.CACHE / f"redelivery-{rows}"
    shutil.rmtree(work, ignore_errors=True)
    lakes = {"day_scoped": work / "lake", "full": work / "lake-full"}

    def settings(lake_dir: Path):
        return CurlakeSettings(source=str(root), lake=str(lake_dir), allocation_config=str(root / "bench_allocation.yaml"),
                               duckdb_memory_limit=memory_limit)

    first = settings(lakes["day_scoped"])
    print(f"== {rows:,} line items: first build in {first.lake}", flush=True)
    published = f"SELECT * FROM {lake.read_partition_sql(str(bench_lake), 'cost_line_items', dataset.PERIOD)}"
    before, _ = publish_line_items(first, published)
    initial = run_downstream(first, day_scoped=True)
    current = f"SELECT * FROM {lake.read_partition_sql(first.lake, 'cost_line_items', dataset.PERIOD)}"
    after, digest = publish_line_items(first, _REDELIVERED.format(source=f"({current})"), {"day": CHANGED_DAY})
    changed = changed_days(before, after)
    print(f"re-delivered {CHANGED_DAY}: changed days {changed}; digests {digest.seconds:.2f} s", flush=True)
    shutil.copytree(lakes["day_scoped"], lakes["full"])
    print("full rebuild:", flush=True)
    full = run_downstream(settings(lakes["full"]), day_scoped=False)
    print("day-scoped rebuild:", flush=True)
    scoped = run_downstream(first, day_scoped=True)
    scoped_tables = [name for name, table in TABLES.items() if table.day_column]
    mismatches = {t: differences(str(lakes["day_scoped"]), str(lakes["full"]), t) for t in scoped_tables}
    if any(only_a or only_b for only_a, only_b in mismatches.values()):
        raise SystemExit(f"day-scoped tables differ from the full rebuild (rows only in one, only in the other): {mismatches}")
    def total(figures: list[StageFigures], names: list[str] | None = None, cpu: bool = False) -> float:
        return sum(f.cpu_seconds if cpu else f.seconds for f in figures if names is None or f.name in names)

    out = {
        "rows": rows, "changed_days": changed, "digest_s": digest.seconds, "digest_cpu_s": digest.cpu_seconds,
        "first_build_s": total(initial),
        "full_downstream_s": total(full), "full_downstream_cpu_s": total(full, cpu=True),
        "day_scoped_downstream_s": total(scoped), "day_scoped_downstream_cpu_s": total(scoped, cpu=True),
        "ratio": total(full) / total(scoped), "cpu_ratio": total(full, cpu=True) / total(scoped, cpu=True),
        "day_scoped_tables": scoped_tables,
        "day_scoped_tables_full_s": total(full, scoped_tables), "day_scoped_tables_day_scoped_s": total(scoped, scoped_tables),
        "day_scoped_tables_full_cpu_s": total(full, scoped_tables, cpu=True),
        "day_scoped_tables_day_scoped_cpu_s": total(scoped, scoped_tables, cpu=True),
        "equal_to_full_rebuild": True,
        "tables": {
            f.name: {"full_s": f.seconds, "full_cpu_s": f.cpu_seconds, "day_scoped_s": s.seconds,
                     "day_scoped_cpu_s": s.cpu_seconds, "rebuilt_days": s.notes["rebuilt_days"], "load_average": s.load_average,
                     "failed_gates": s.notes.get("failed_gates", [])}
            for f, s in zip(full, scoped)
        },
    }
    (dataset.CACHE / f"redelivery-{rows}.json").write_text(json.dumps(out, indent=1))
    shutil.rmtree(work)
    print(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.redelivery", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--memory-limit", default="4GB")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    measure(args.rows, memory_limit=args.memory_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
