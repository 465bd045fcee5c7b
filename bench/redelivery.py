"""A re-delivery that changes one day: which days changed, and what that is worth downstream.

AWS re-delivers the whole month several times a day, usually changing only the last day or two.
Ingestion must re-read the delivery (the files are overwritten in place), but the curated tables
only need the days whose line items changed. This measures the detection half:

1. the month as published (``cost_line_items`` in the bench lake of that size);
2. a copy of the export with one day's costs changed (day 15, unblended +1%);
3. per-day digests (rows, cost sums, an order-independent hash of the rows) of the new delivery
   against the published partition, in one DuckDB pass each: the changed days.

The downstream saving is then the share of days to rebuild (1 of 31) times the downstream time
of the full run in the same results file: curated stages are per-day aggregates over the line
items, so their work is proportional to the days scanned. curlake's assets still rebuild the whole
month (see BENCHMARKS.md): this module shows what detecting unchanged days costs and saves.

    .venv/bin/python -m bench.redelivery --rows 10000000
"""

from __future__ import annotations

import argparse
import glob
import json
import shutil
import sys

from bench import dataset
from bench.measure import stage
from transforms import duck, lake
from transforms.discover import discover
from transforms.readers import ingest_errors, read_delivery

CHANGED_DAY = "2025-01-15"

# Per-day digest: equal digests mean equal multisets of rows (up to hash collisions).
DIGEST = """
SELECT usage_date, count(*) AS n, sum(unblended_cost) AS unblended, sum(amortized_cost) AS amortized,
       bit_xor(hash(line_item_id, usage_start, resource_id, line_item_type, unblended_cost, amortized_cost, tags)) AS h
FROM {source}
GROUP BY usage_date
"""


def changed_delivery(root, out) -> None:
    """A copy of ``root`` whose data files have day CHANGED_DAY's unblended cost raised by 1%."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(root, out)
    con = duck.connect(s3=False)
    try:
        for path in sorted(glob.glob(str(out / "cur2" / "data" / "*" / "*.parquet"))):
            tmp = path + ".changing"
            con.execute(
                "COPY (SELECT * REPLACE (CASE WHEN CAST(line_item_usage_start_date AS DATE) = CAST($day AS DATE) "
                "THEN round(line_item_unblended_cost * 1.01, 10) ELSE line_item_unblended_cost END AS line_item_unblended_cost) "
                f"FROM read_parquet($file)) TO '{dataset._sql_path(tmp)}' (FORMAT parquet, COMPRESSION snappy)",
                {"day": CHANGED_DAY, "file": path},
            )
            shutil.move(tmp, path)
    finally:
        con.close()


def measure(rows: int, widened: bool = True) -> dict:
    root = dataset.ensure_month(rows, widened=widened)
    lake_root = dataset.CACHE / f"lake-{rows}{'' if widened else '-plain'}"
    results_path = dataset.CACHE / f"results-{rows}{'' if widened else '-plain'}.json"
    if not results_path.exists():
        raise SystemExit(f"run `python -m bench.run --rows {rows}` first: {results_path} is missing")
    results = json.loads(results_path.read_text())
    changed = dataset.CACHE / f"redelivered-{rows}"
    changed_delivery(root, changed)
    (delivery,) = [d for d in discover(str(changed)) if d.billing_period == dataset.PERIOD]
    con = duck.connect(s3=False)
    try:
        con.execute("SET enable_progress_bar = false")
        with stage("detect changed days") as figures:
            with ingest_errors():
                read_delivery(con, delivery).create_view("redelivered")
            published = lake.read_partition_sql(str(lake_root), "cost_line_items", dataset.PERIOD)
            days = con.execute(
                f"SELECT coalesce(a.usage_date, b.usage_date) FROM ({DIGEST.format(source='redelivered')}) a "
                f"FULL JOIN ({DIGEST.format(source=published)}) b USING (usage_date) "
                "WHERE a.n IS DISTINCT FROM b.n OR a.unblended IS DISTINCT FROM b.unblended "
                "OR a.amortized IS DISTINCT FROM b.amortized OR a.h IS DISTINCT FROM b.h ORDER BY 1"
            ).fetchall()
            figures.rows = rows
    finally:
        con.close()
    changed_days = [str(d) for (d,) in days]
    downstream = sum(s["seconds"] for s in results["stages"] if s["name"] != "cost_line_items")
    ingest = next(s["seconds"] for s in results["stages"] if s["name"] == "cost_line_items")
    share = len(changed_days) / 31
    out = {
        "rows": rows, "changed_days": changed_days, "detect_s": figures.seconds, "detect_cpu_s": figures.cpu_seconds,
        "load_average": figures.load_average, "full_downstream_s": downstream, "ingest_s": ingest,
        "day_scoped_downstream_s": downstream * share,
    }
    (dataset.CACHE / f"redelivery-{rows}.json").write_text(json.dumps(out, indent=1))
    shutil.rmtree(changed)
    print(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.redelivery", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args(argv)
    measure(args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
