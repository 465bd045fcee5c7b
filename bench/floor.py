"""The scan floor: what DuckDB needs to read a month's export once and answer the simplest question.

Amortized cost by usage account, day and team tag, straight from the raw CUR 2.0 Parquet: the
columns any curated table must read at least once, the amortized rule of FINOPS_DEFINITIONS.md,
one hash aggregate. Same connection settings (memory limit, threads) as the pipeline. No stage
can do its job in less, so every stage is reported as a multiple of this.
"""

from __future__ import annotations

from bench.measure import StageFigures, stage
from transforms import duck

FLOOR_SQL = """
SELECT line_item_usage_account_id, CAST(line_item_usage_start_date AS DATE) AS day,
       resource_tags['user_team'] AS team,
       sum(CASE line_item_line_item_type
           WHEN 'SavingsPlanCoveredUsage' THEN savings_plan_savings_plan_effective_cost
           WHEN 'SavingsPlanRecurringFee' THEN savings_plan_total_commitment_to_date - savings_plan_used_commitment
           WHEN 'SavingsPlanNegation' THEN 0
           WHEN 'SavingsPlanUpfrontFee' THEN 0
           WHEN 'DiscountedUsage' THEN reservation_effective_cost
           WHEN 'RIFee' THEN reservation_unused_amortized_upfront_fee_for_billing_period + reservation_unused_recurring_fee
           ELSE line_item_unblended_cost END) AS amortized_cost,
       count(*) AS line_items
FROM read_parquet($files)
GROUP BY ALL
"""


def scan_floor(files: list[str], *, memory_limit: str = "4GB") -> StageFigures:
    """Time of FLOOR_SQL over ``files`` (best of two runs: the first warms the page cache)."""
    best: StageFigures | None = None
    for _ in range(2):
        con = duck.connect(memory_limit=memory_limit, s3=False)
        try:
            con.execute("SET enable_progress_bar = false")
            with stage("scan floor") as figures:
                ((rows, groups),) = con.execute(
                    f"SELECT sum(line_items), count(*) FROM ({FLOOR_SQL})", {"files": files}
                ).fetchall()
                figures.rows = int(rows)
                figures.notes["groups"] = int(groups)
        finally:
            con.close()
        if best is None or figures.seconds < best.seconds:
            best = figures
    return best


def copy_floor(files: list[str], *, memory_limit: str = "4GB", runs: int = 2) -> StageFigures:
    """DuckDB copying the export, every column unchanged, to zstd Parquet: the least any
    ingestion that keeps every line item (read once, write once) can cost. Best of ``runs``."""
    import shutil
    import tempfile

    best: StageFigures | None = None
    for _ in range(runs):
        workdir = tempfile.mkdtemp(prefix="curlake-copy-floor-")
        con = duck.connect(memory_limit=memory_limit, temp_directory=f"{workdir}/spill", s3=False)
        try:
            with stage("copy floor") as figures:
                ((rows,),) = con.execute(
                    "COPY (SELECT * FROM read_parquet($files)) TO $target (FORMAT parquet, COMPRESSION zstd)",
                    {"files": files, "target": f"{workdir}/out"},
                ).fetchall()
                figures.rows = int(rows)
        finally:
            con.close()
            shutil.rmtree(workdir, ignore_errors=True)
        if best is None or figures.seconds < best.seconds:
            best = figures
    return best
